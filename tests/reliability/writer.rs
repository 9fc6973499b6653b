//! A writer killed mid-attempt (SIGKILL, before `metadata.parquet`) leaves
//! nothing readers can see, and the same ingest run again succeeds.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Server, Stores, get, token};
use dagtrail::model::Company;

const DAG: &str = "5b0c1f7e-3a52-4f6e-9d1b-0c2e4a6b8d10";

fn ingest(stores: &Stores, data: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dagtrail"));
    command
        .args(["ingest", "--company", "acme", "--dag-id", DAG])
        .args(["--date", "2026-11-27", "--run-id", "killed__1"])
        .args(["--phase", "load", "--rows-per-file", "1000"])
        .args(["--data", data, "--format", "ndjson"])
        .envs(stores.env());
    command
}

fn line(i: usize) -> String {
    format!(
        "{{\"id\": {i}, \"city\": \"Zürich\", \"amount\": {}.5}}\n",
        i * 3
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_writer_leaves_no_attempt_and_a_rerun_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let stores = Stores::embedded(dir.path());
    let attempt_dir = dir.path().join(format!(
        "artifacts/acme/{DAG}/2026-11-27/killed__1/load/attempt=1"
    ));

    // Feed rows through stdin until data files are on disk, then kill -9.
    let mut writer = ingest(&stores, "-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = writer.stdin.take().unwrap();
    let started = Instant::now();
    let mut i = 0;
    loop {
        let chunk: String = (i..i + 500).map(line).collect();
        stdin.write_all(chunk.as_bytes()).unwrap();
        i += 500;
        let files = std::fs::read_dir(&attempt_dir)
            .map(|d| d.count())
            .unwrap_or(0);
        if files >= 3 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the writer wrote no files"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    writer.kill().unwrap();
    writer.wait().unwrap();
    drop(stdin);
    assert!(
        !attempt_dir.join("metadata.parquet").exists(),
        "killed before its commit"
    );

    let server = Server::start(&stores.env());
    let client = reqwest::Client::new();
    let token = token(&Company::new("acme").unwrap());
    let run = format!("/api/v1/dags/{DAG}/runs/2026-11-27/killed__1");
    assert_eq!(get(&client, &server.url(&run), &token).await.0, 404);
    assert_eq!(
        get(&client, &server.url(&format!("{run}/phases/load")), &token)
            .await
            .0,
        404,
        "no metadata.parquet: no attempt"
    );

    // The same ingest again, with fewer rows than the killed one wrote.
    let input = dir.path().join("rows.ndjson");
    std::fs::write(&input, (0..1_500).map(line).collect::<String>()).unwrap();
    let out = ingest(&stores, input.to_str().unwrap()).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (status, body) = get(&client, &server.url(&format!("{run}/phases/load")), &token).await;
    assert_eq!(status, 200, "{body}");
    let phase: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(phase["rows"][0]["attempt"], 1);
    assert_eq!(phase["rows"][0]["data_rows"], 1500);
    let (status, body) = get(
        &client,
        &server.url(&format!("{run}/phases/load/data?page=0&limit=1000")),
        &token,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let page: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(page["total"], 1500);
    // The killed writer's extra files are gone: only the re-run's two data
    // files, its index and its metadata remain.
    let mut names: Vec<String> = std::fs::read_dir(&attempt_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "data_000.parquet",
            "data_001.parquet",
            "index.parquet",
            "metadata.parquet"
        ]
    );
}
