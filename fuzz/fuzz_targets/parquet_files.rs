#![no_main]
//! Any bytes in place of one file of a committed attempt, read through
//! every read path: rows or a typed error, no panic.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    dagtrail_fuzz::checks::parquet_files(data);
});
