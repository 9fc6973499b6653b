//! Reliability tests: real `dagtrail serve` processes against stores that
//! fail, slow down, stop and come back; signals mid-work; a writer killed
//! mid-attempt; two servers over one PostgreSQL and one bucket.

// Tests fail loudly on purpose: an unexpected error is the failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod commit_window;
mod connections;
mod faults;
mod first_hour;
mod memory;
mod metrics;
mod readiness;
mod roles;
mod rotation;
mod scale_out;
mod shutdown;
mod slow_clients;
mod support;
mod tls;
mod write_api;
mod writer;
