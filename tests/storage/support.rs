//! Shared helpers: the real backends the tests run against.
//!
//! PostgreSQL and S3 come from the environment (`scripts/test` starts both
//! and sets these): `DAGTRAIL_TEST_DATABASE_URL`, `DAGTRAIL_TEST_S3_URL`
//! (with the `AWS_*` variables) and `DAGTRAIL_TEST_S3_ROOT` (the S3
//! server's data folder). Without them a test skips with a notice, except
//! under `CI=true`, where a missing service fails the test.

use std::sync::Arc;

use dagtrail::artifacts::ArtifactStore;
use dagtrail::model::{Company, DagId};
use dagtrail::runindex::{self, IndexOptions, RunIndex};
use uuid::Uuid;

#[path = "../common/services.rs"]
mod services;
use services::required;

#[path = "../common/plant.rs"]
mod plant;

#[path = "../common/batches.rs"]
mod batches;
pub use batches::{id_name_batch, text_batch};
pub use plant::plant_data_file;

/// The DAG the CLI tests record into.
pub const CLI_DAG: &str = "9f0c4c2e-8b4b-4c59-9e0f-1b2b3c4d5e6f";

/// `dagtrail ingest` of `phase` of `run_id` (company `acme`, [`CLI_DAG`],
/// 2026-11-27), then `extra`.
pub fn ingest_command<'a>(run_id: &'a str, phase: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "ingest",
        "--company",
        "acme",
        "--dag-id",
        CLI_DAG,
        "--date",
        "2026-11-27",
        "--run-id",
        run_id,
        "--phase",
        phase,
    ];
    args.extend_from_slice(extra);
    args
}

/// Runs the `dagtrail` binary with `DAGTRAIL_DATA_DIR` (the embedded
/// default there; no store settings or backtrace setting inherited),
/// `stdin` written to it.
pub fn dagtrail(
    data_dir: &std::path::Path,
    args: &[&str],
    stdin: Option<&str>,
) -> std::process::Output {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_dagtrail"))
        .args(args)
        .env("DAGTRAIL_DATA_DIR", data_dir)
        .env_remove("DAGTRAIL_DATABASE_URL")
        .env_remove("DAGTRAIL_STORE_URL")
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        pipe.write_all(text.as_bytes()).unwrap();
    }
    drop(pipe);
    child.wait_with_output().unwrap()
}

/// The PostgreSQL URL, or `None` (skip) outside CI.
pub fn postgres_url() -> Option<String> {
    required("DAGTRAIL_TEST_DATABASE_URL")
}

/// The S3 store URL and the server's data folder, or `None` (skip) outside CI.
pub fn s3() -> Option<(String, Option<std::path::PathBuf>)> {
    let url = required("DAGTRAIL_TEST_S3_URL")?;
    let root = std::env::var_os("DAGTRAIL_TEST_S3_ROOT").map(std::path::PathBuf::from);
    Some((url, root))
}

/// A company no other test uses, so tests can share one database.
pub fn fresh_company() -> Company {
    // Short: s3s-fs keeps each object's metadata in a file named after the
    // base64 of its key, so keys past ~150 bytes fail there with ENAMETOOLONG
    // (real S3 takes 1024 bytes).
    Company::new(format!("c{}", &Uuid::new_v4().simple().to_string()[..12])).unwrap()
}

/// A random DAG id.
pub fn fresh_dag() -> DagId {
    DagId(Uuid::new_v4())
}

/// A SQLite run index in a temp folder.
pub async fn sqlite_index(dir: &tempfile::TempDir) -> Arc<dyn RunIndex> {
    sqlite_index_with(dir, &IndexOptions::default()).await
}

/// The SQLite run index in a temp folder, opened with `options`.
pub async fn sqlite_index_with(
    dir: &tempfile::TempDir,
    options: &IndexOptions,
) -> Arc<dyn RunIndex> {
    let url = format!("sqlite://{}", dir.path().join("runs.db").display());
    runindex::open(&url, options).await.unwrap()
}

/// The PostgreSQL run index, or `None` (skip) outside CI.
pub async fn postgres_index() -> Option<Arc<dyn RunIndex>> {
    postgres_index_with(&IndexOptions::default()).await
}

/// The PostgreSQL run index opened with `options`, or `None` (skip) outside CI.
pub async fn postgres_index_with(options: &IndexOptions) -> Option<Arc<dyn RunIndex>> {
    let url = postgres_url()?;
    Some(runindex::open(&url, options).await.unwrap())
}

/// An S3 store under a fresh prefix, or `None` (skip) outside CI.
pub fn s3_store() -> Option<(ArtifactStore, Option<std::path::PathBuf>, String)> {
    let (url, root) = s3()?;
    let prefix = format!("t{}", &Uuid::new_v4().simple().to_string()[..8]);
    let store = ArtifactStore::open(&format!("{}/{prefix}", url.trim_end_matches('/'))).unwrap();
    Some((store, root, prefix))
}
