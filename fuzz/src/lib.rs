//! Fuzz checks for dagtrail; the targets in `fuzz_targets/` call these.

#![allow(clippy::expect_used)]

#[path = "checks.rs"]
pub mod checks;

/// Replaces libfuzzer-sys's panic hook, which aborts on every panic, also
/// one the service catches on purpose (a Parquet decoder panic is contained
/// and answered 502, see src/read/rows.rs), with one that prints it. A
/// panic that escapes a check still reaches libfuzzer-sys's `catch_unwind`
/// and is reported as a crash. Both targets call this from their `init`.
pub fn report_panics_without_aborting() {
    std::panic::set_hook(Box::new(|info| eprintln!("{info}")));
}
