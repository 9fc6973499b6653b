//! Replays the inputs in `fuzz/regressions/<target>/` (crashes the fuzzers
//! once found, and the seed corpus) through the fuzz targets' checks, on
//! the stable toolchain, in every test run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../fuzz/src/checks.rs"]
mod checks;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "no inputs in {}", dir.display());
    for input in inputs {
        eprintln!("replaying {}", input.display());
        check(&std::fs::read(&input).unwrap());
    }
}

#[test]
fn query_params_regressions() {
    replay("query_params", checks::query_params);
}

#[test]
fn write_parts_regressions() {
    replay("write_parts", checks::write_parts);
}

#[test]
fn parquet_files_regressions() {
    replay("parquet_files", checks::parquet_files);
}

/// A fixed, small mutation pass that runs on stable in every test run:
/// each file of the fuzz attempt cut short at several points and with
/// single bytes flipped (the fuzzer goes much further; this keeps the
/// harness and the most common corruptions covered without it).
#[test]
fn parquet_files_cut_and_flipped() {
    for (i, (key, bytes)) in checks::seed_files().into_iter().enumerate() {
        let pick = u8::try_from(i).unwrap();
        let mut variants: Vec<Vec<u8>> = [
            0,
            4,
            bytes.len() / 2,
            bytes.len().saturating_sub(9),
            bytes.len() - 1,
        ]
        .iter()
        .map(|&cut| bytes[..cut].to_vec())
        .collect();
        for n in 0..16 {
            let mut flipped = bytes.clone();
            let at = (n * 7919 + 13) % flipped.len();
            flipped[at] ^= 0x5a;
            variants.push(flipped);
        }
        eprintln!("{key}: {} variants", variants.len());
        for variant in variants {
            let mut input = vec![pick];
            input.extend_from_slice(&variant);
            checks::parquet_files(&input);
        }
    }
}

/// The decoder panic that fuzzing found is contained: the page is a decode
/// error naming the file (a 502 in the API), not a panic (a 500).
#[test]
fn a_decoder_panic_is_a_decode_error_naming_the_file() {
    let input = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/regressions/parquet_files/decoder-panic-page-size-past-chunk"),
    )
    .unwrap();
    let error = checks::first_data_page(&input).unwrap_err();
    assert!(error.contains("data_000.parquet"), "{error}");
    assert!(error.contains("the Parquet decoder failed"), "{error}");
}

/// The write target's seeds (written by code, beside the regressions
/// written by pyarrow) pass its check too.
#[test]
fn write_part_seeds_pass() {
    for (name, input) in checks::write_part_seeds() {
        eprintln!("write part seed {name}");
        checks::write_parts(&input);
    }
}
