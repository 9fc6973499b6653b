#![no_main]
//! Any query string and path segments, through the real router: no 5xx,
//! no panic.

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
        dagtrail_fuzz::checks::query_params(data);
    }
);
