#![no_main]
//! Any bytes in place of one file of a committed attempt, read through
//! every read path: rows or a typed error, no panic.

libfuzzer_sys::fuzz_target!(
    init: dagtrail_fuzz::report_panics_without_aborting(),
    |data: &[u8]| {
        dagtrail_fuzz::checks::parquet_files(data);
    }
);
