//! `dagtrail serve` as a process: it refuses to start without a way to
//! verify tokens, serves on a real socket, and exits 0 on SIGTERM after
//! finishing what is in flight.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn serve_refuses_to_start_without_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dagtrail"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("DAGTRAIL_DATA_DIR", dir.path())
        .env_remove("DAGTRAIL_JWT_SECRET")
        .env_remove("DAGTRAIL_JWT_PUBLIC_KEY")
        .env_remove("DAGTRAIL_JWKS_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr
        .lines()
        .find(|l| l.contains("Error"))
        .unwrap_or_default();
    assert!(line.contains("DAGTRAIL_JWT_SECRET"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_answers_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_dagtrail"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("DAGTRAIL_DATA_DIR", dir.path())
        .env("DAGTRAIL_JWT_SECRET", crate::support::SECRET)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let addr = first
        .split("http://")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let client = reqwest::Client::new();
    let health = client
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let token = crate::support::token("acme");
    let runs = client
        .get(format!("http://{addr}/api/v1/dags/9f0c4c2e-8b4b-4c59-9e0f-1b2b3c4d5e6f/runs?date_from=2026-11-01&date_to=2026-11-30"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(runs.status(), 200);
    let request_id = runs
        .headers()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(!request_id.is_empty());
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut waited = Duration::ZERO;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            waited < Duration::from_secs(15),
            "serve did not stop after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += Duration::from_millis(100);
    };
    assert!(status.success(), "exit status {status}");
}
