// Tests fail loudly on purpose: an unexpected error is the failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Storage tests: the run index on SQLite and PostgreSQL, artifacts on a
//! local folder and an S3-compatible server, the writer's files read by
//! other tools, and the `dagtrail` CLI.

mod artifacts;
mod cli;
mod ingest;
mod interop;
mod run_index;
mod support;
