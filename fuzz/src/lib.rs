//! Fuzz checks for dagtrail; the targets in `fuzz_targets/` call these.

#![allow(clippy::expect_used)]

#[path = "checks.rs"]
pub mod checks;
