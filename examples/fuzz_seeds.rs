//! Writes the fuzz targets' seed corpus (used by `scripts/fuzz`): for
//! `parquet_files`, each file of the fuzz attempt prefixed with the byte
//! that selects it; for `query_params`, a few real queries; for
//! `write_parts`, a valid part of each media type.
//!
//!     cargo run --example fuzz_seeds -- <corpus dir>

#![allow(clippy::expect_used, clippy::unwrap_used)]

// Only the seed files are used here; the checks run in the fuzz targets.
#[allow(dead_code)]
#[path = "../fuzz/src/checks.rs"]
mod checks;

fn main() {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).expect("usage: fuzz_seeds <dir>"));
    let parquet = dir.join("parquet_files");
    let queries = dir.join("query_params");
    std::fs::create_dir_all(&parquet).expect("corpus dir");
    std::fs::create_dir_all(&queries).expect("corpus dir");
    for (i, (key, bytes)) in checks::seed_files().into_iter().enumerate() {
        let mut input = vec![u8::try_from(i).expect("few files")];
        input.extend_from_slice(&bytes);
        let name = key.rsplit('/').next().unwrap_or("file").to_owned();
        std::fs::write(parquet.join(format!("{i:02}-{name}")), input).expect("write");
    }
    let parts = dir.join("write_parts");
    std::fs::create_dir_all(&parts).expect("corpus dir");
    for (name, input) in checks::write_part_seeds() {
        std::fs::write(parts.join(name), input).expect("write");
    }
    for (i, q) in [
        "x\ndate_from=2026-11-01&date_to=2026-11-30&extract_status=failed&extract_keyword=z%C3%BCrich&run_ids=a,b&page=1&limit=5",
        "manual__fuzz\npage=2&limit=10&attempt=1&keyword=row%209&level=ERROR,info",
        "..%2F..\nlimit=1001&page=-1&attempt=0",
    ]
    .iter()
    .enumerate()
    {
        std::fs::write(queries.join(format!("{i:02}")), q).expect("write");
    }
}
