//! dagtrail: see into ETL pipelines. Search the runs of a DAG, open one run
//! and drill into each phase down to every data row, error and log line.
//!
//! The crate is the whole product; the `dagtrail` binary only parses its
//! command line. See `docs/ARCHITECTURE.md` for how the modules fit.

pub mod api;
pub mod app;
pub mod artifacts;
pub mod auth;
pub mod casefold;
pub mod demo;
pub mod http;
pub mod ingest;
pub mod model;
pub mod read;
pub mod reconcile;
pub mod record;
pub mod runindex;
pub mod settings;
pub mod ui;
