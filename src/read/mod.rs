//! The read side (contract section 4): what the HTTP handlers call.
//!
//! - `service.rs`: [`ReadService`], the roof: run searches and summaries
//!   from the run index, events and attempts from the artifact store.
//! - `error.rs`: [`ReadError`] and [`Missing`], the ground every file stands on.
//! - One file per endpoint below a run: `event.rs` (3), `attempt.rs` (4,
//!   and the [`AttemptReader`] the others extend), `data.rs` (5, with the
//!   keyword search through `index.parquet`), `error_rows.rs` (6),
//!   `logs.rs` (7).
//! - What they share: `page.rs` (the page body and the one paging rule),
//!   `scan.rs` (row groups scanned as tasks), `cache.rs` (footers and
//!   metadata rows of committed attempts), `text.rs` (keyword matching in
//!   Arrow text). Footers, byte ranges and rows of one file come from
//!   [`crate::artifacts::file`] and [`crate::artifacts::rows`].

mod attempt;
mod cache;
pub mod cursor;
mod data;
mod error;
mod error_rows;
mod event;
mod logs;
mod page;
mod scan;
mod service;
mod text;

pub use attempt::AttemptReader;
pub use error::{Missing, ReadError};
pub use event::{EVENT_ROW_CAP, EventPages};
pub use logs::LogFilter;
pub use page::{ColumnInfo, ParquetPage, Rows};
pub use service::{NotReady, READY_PROBE, ReadService, RunsFound};
