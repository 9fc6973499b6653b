//! Artifacts: the Parquet files of each run in an object store (contract
//! section 3). [`key`] builds every key, [`store`] opens the store,
//! [`schemas`] holds the fixed file schemas, [`json_values`] maps Arrow
//! values to JSON, [`writer`] writes a phase attempt, [`file`] and
//! [`rows`] read a file back (footers, byte ranges, row groups, chosen
//! rows), failing with a [`FileError`].

pub mod file;
mod file_error;
pub mod instrumented;
pub mod json_lines;
pub mod json_values;
pub mod key;
pub mod ngram;
pub mod parquet_types;
pub mod rows;
pub mod schemas;
pub mod store;
pub mod temporal;
pub mod type_names;
pub mod writer;

pub use file_error::FileError;
pub use key::{AttemptFolder, EventFile, FileKind, KeyError, RunFolder};
pub use store::{ArtifactStore, OpenStoreError};
