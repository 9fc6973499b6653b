#![no_main]
//! Any query string and path segments, through the real router: no 5xx,
//! no panic.

libfuzzer_sys::fuzz_target!(
    init: dagtrail_fuzz::report_panics_without_aborting(),
    |data: &[u8]| {
        dagtrail_fuzz::checks::query_params(data);
    }
);
