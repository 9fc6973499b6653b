//! The writer's files are ordinary Parquet: DuckDB and pyarrow read every
//! one of them (python3 with `duckdb` and `pyarrow`; `.ci/run` installs
//! them). Skips outside CI when they are missing.

use std::process::Command;

use chrono::NaiveDate;
use dagtrail::artifacts::ArtifactStore;
use dagtrail::artifacts::writer::WriterOptions;
use dagtrail::demo::{DemoOptions, generate};
use dagtrail::model::Phase;
use dagtrail::record::Recorder;
use indicatif::ProgressBar;

use crate::support::sqlite_index;

const CHECK: &str = r#"
import sys, glob, duckdb, pyarrow.parquet as pq
root = sys.argv[1]
files = sorted(glob.glob(root + "/**/*.parquet", recursive=True))
assert files, "no files"
for f in files:
    pq.read_table(f)
data = [f for f in files if "/data_" in f]
index = [f for f in files if f.endswith("index.parquet")]
meta = [f for f in files if f.endswith("metadata.parquet")]
con = duckdb.connect()
rows = con.execute(f"select count(*) from read_parquet({data!r}, hive_partitioning=false)").fetchone()[0]
indexed = con.execute(f"select count(*) from read_parquet({index!r}, hive_partitioning=false)").fetchone()[0]
counted = con.execute(f"select sum(data_rows) from read_parquet({meta!r}, hive_partitioning=false)").fetchone()[0]
logs = con.execute(f"select count(*) from read_parquet({[f for f in files if '/logs_' in f]!r}, hive_partitioning=false) where level in ('DEBUG','INFO','WARNING','ERROR','CRITICAL')").fetchone()[0]
logged = con.execute(f"select sum(log_count) from read_parquet({meta!r}, hive_partitioning=false)").fetchone()[0]
assert rows == indexed == counted, (rows, indexed, counted)
assert logs == logged, (logs, logged)
print(len(files), rows)
"#;

fn python_with_duckdb() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import duckdb, pyarrow"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "python3 with duckdb and pyarrow is required under CI=true"
        );
        eprintln!(
            "skipping: python3 with duckdb and pyarrow not found (pip install duckdb pyarrow)"
        );
    }
    ok
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duckdb_and_pyarrow_read_every_file() {
    if !python_with_duckdb() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let index = sqlite_index(&dir).await;
    let store = ArtifactStore::open(dir.path().join("artifacts").to_str().unwrap()).unwrap();
    let recorder = Recorder::new(
        index,
        store,
        WriterOptions {
            rows_per_file: 300,
            ..WriterOptions::default()
        },
    );
    let mut options = DemoOptions::small(NaiveDate::from_ymd_opt(2026, 11, 27).unwrap());
    options.companies = 1;
    options.dags = 1;
    options.runs = 4;
    options.rows_per_phase = 700;
    options.steps = vec![Phase::Extract, Phase::Transform];
    generate(&recorder, &options, &ProgressBar::hidden())
        .await
        .unwrap();
    let out = Command::new("python3")
        .args(["-c", CHECK, dir.path().join("artifacts").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
