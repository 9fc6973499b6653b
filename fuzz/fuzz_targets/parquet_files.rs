#![no_main]
//! Any bytes in place of one file of a committed attempt, read through
//! every read path: rows or a typed error, no panic.

libfuzzer_sys::fuzz_target!(
    init: {
        // libfuzzer-sys's hook aborts on every panic, also one the service
        // catches on purpose (a Parquet decoder panic is contained and
        // answered 502, see src/read/rows.rs). Print panics instead; one
        // that escapes the check still reaches libfuzzer-sys's catch_unwind
        // and is reported as a crash.
        std::panic::set_hook(Box::new(|info| eprintln!("{info}")));
    },
    |data: &[u8]| {
        dagtrail_fuzz::checks::parquet_files(data);
    }
);
