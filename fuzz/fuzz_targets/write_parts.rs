#![no_main]
//! Any bytes uploaded as a part of an open attempt (each media type, each
//! kind) through the router: staged or refused with a 4xx, no 5xx, no
//! panic.

libfuzzer_sys::fuzz_target!(
    init: dagtrail_fuzz::report_panics_without_aborting(),
    |data: &[u8]| {
        dagtrail_fuzz::checks::write_parts(data);
    }
);
