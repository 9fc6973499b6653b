//! API tests: the real router (`oneshot`) over real storage, on the
//! embedded default and on PostgreSQL + the S3-compatible server.

// Tests fail loudly on purpose: an unexpected error is the failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod bounds;
mod caching;
mod casefold;
mod cursor;
mod dags;
mod demo;
mod docs;
mod faults;
mod folding_store;
mod foreign;
mod isolation;
mod limits;
mod phases;
mod requests;
mod runs;
mod serve;
mod support;
mod types;
mod ui;
mod write;
