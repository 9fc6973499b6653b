//! The `dagtrail` binary end to end on the embedded default: `ingest` and
//! `ingest-event` from files and stdin, bad input that leaves nothing
//! behind, `token`, and `demo`.

use std::path::Path;
use std::process::Command;

use dagtrail::model::{Company, Phase, RunId, RunRef};
use dagtrail::runindex::{self, IndexOptions};

use crate::support::{CLI_DAG, dagtrail, ingest_command};

const DAG: &str = CLI_DAG;

fn ingest_args<'a>(phase: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    ingest_command("manual__2026-11-27T10:31:02+00:00", phase, extra)
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

async fn phase_object(data_dir: &Path, phase: Phase) -> Option<serde_json::Value> {
    let url = format!("sqlite://{}", data_dir.join("dagtrail.db").display());
    let index = runindex::open(&url, &IndexOptions::default())
        .await
        .unwrap();
    let run = RunRef::new(
        DAG.parse().unwrap(),
        chrono::NaiveDate::from_ymd_opt(2026, 11, 27).unwrap(),
        RunId::new("manual__2026-11-27T10:31:02+00:00").unwrap(),
    );
    index
        .phase_object(&Company::new("acme").unwrap(), &run, phase)
        .await
        .unwrap()
        .map(|o| o.to_json())
}

fn attempt_dir(data_dir: &Path, phase: &str, attempt: u32) -> std::path::PathBuf {
    data_dir
        .join("artifacts/acme")
        .join(DAG)
        .join("2026-11-27/manual__2026-11-27T10:31:02+00:00")
        .join(phase)
        .join(format!("attempt={attempt}"))
}

#[tokio::test]
async fn ingest_records_a_phase_and_retries_as_the_next_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let errors = write(
        dir.path(),
        "errors.csv",
        "error_title,error_status,error_detail,occurred_at,record\nBad,422,negative amount,2026-11-27T10:31:05Z,\"{\"\"id\"\": 2}\"\n",
    );
    let logs = write(
        dir.path(),
        "logs.ndjson",
        "{\"ts\":\"2026-11-27T10:31:03Z\",\"level\":\"info\",\"logger\":\"etl\",\"message\":\"start\"}\n{\"ts\":\"2026-11-27T10:31:04Z\",\"level\":\"ERROR\",\"logger\":\"etl\",\"message\":\"bad row\"}\n",
    );
    let rows = "{\"id\":1,\"name\":\"Zoë\",\"tags\":[\"a\"]}\n{\"id\":2,\"name\":\"Ünïcödé\",\"tags\":[]}\n{\"id\":3,\"name\":null,\"tags\":null}\n";
    let out = dagtrail(
        &data,
        &ingest_args(
            "extract",
            &[
                "--data",
                "-",
                "--errors",
                &errors,
                "--logs",
                &logs,
                "--status",
                "failed",
                "--message",
                "boom",
            ],
        ),
        Some(rows),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("attempt 1"));
    let object = phase_object(&data, Phase::Extract).await.unwrap();
    assert_eq!(object["status"]["success"], false);
    assert_eq!(object["status"]["total"], 3);
    assert_eq!(object["data"][1]["name"], "Ünïcödé");
    assert!(
        attempt_dir(&data, "extract", 1)
            .join("metadata.parquet")
            .is_file()
    );

    let csv = write(
        dir.path(),
        "rows.csv",
        "id,amount,day\n4,1.5,2026-11-27\n5,2.25,2026-11-28\n",
    );
    let out = dagtrail(
        &data,
        &ingest_args("extract", &["--data", &csv, "--message", "ok"]),
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let object = phase_object(&data, Phase::Extract).await.unwrap();
    assert_eq!(object["attempt"], 2);
    assert_eq!(object["status"]["success"], true);
    assert_eq!(object["data"][0]["day"], "2026-11-27");

    let out = dagtrail(
        &data,
        &ingest_args("extract", &["--attempt", "2", "--data", &csv]),
        None,
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already exists"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn bad_input_names_the_file_and_line_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut rows = String::new();
    for i in 0..20_000 {
        rows.push_str(&format!("{{\"id\":{i},\"name\":\"n{i}\"}}\n"));
    }
    rows.push_str("{\"id\": 20000, \"name\": \n");
    let bad = write(dir.path(), "rows.ndjson", &rows);
    let out = dagtrail(&data, &ingest_args("transform", &["--data", &bad]), None);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("rows.ndjson: line 20001"), "{stderr}");
    let folder = attempt_dir(&data, "transform", 1);
    let left: Vec<_> = std::fs::read_dir(&folder)
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "files left behind: {left:?}");
    assert!(phase_object(&data, Phase::Transform).await.is_none());

    let not_parquet = write(dir.path(), "rows.parquet", "{\"id\": 1}\n");
    let out = dagtrail(
        &data,
        &ingest_args("transform", &["--data", &not_parquet]),
        None,
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("rows.parquet: not a readable Parquet file")
    );

    let logs = write(
        dir.path(),
        "logs.ndjson",
        "{\"ts\":\"2026-11-27T10:31:03Z\",\"level\":\"INFO\",\"message\":\"no logger\"}\n",
    );
    let good = write(dir.path(), "good.ndjson", "{\"id\": 1}\n");
    let out = dagtrail(
        &data,
        &ingest_args("transform", &["--data", &good, "--logs", &logs]),
        None,
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("logs.ndjson") && stderr.contains("missing column logger"),
        "{stderr}"
    );
    assert!(!folder.join("metadata.parquet").exists());
    assert!(
        !folder.join("data_000.parquet").exists(),
        "the data already written is removed"
    );
    assert!(phase_object(&data, Phase::Transform).await.is_none());

    let out = dagtrail(&data, &ingest_args("event", &["--data", &good]), None);
    assert!(!out.status.success(), "the event is not a step");
}

#[tokio::test]
async fn ingest_event_records_both_files() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let queue = write(
        dir.path(),
        "queue.ndjson",
        "{\"message_id\":\"m1\",\"body\":\"{\\\"a\\\":1}\"}\n",
    );
    let event = write(
        dir.path(),
        "event.ndjson",
        "{\"trigger\":\"manual\",\"files\":[\"a.csv\"]}\n",
    );
    let out = dagtrail(
        &data,
        &[
            "ingest-event",
            "--company",
            "acme",
            "--dag-id",
            DAG,
            "--date",
            "2026-11-27",
            "--run-id",
            "manual__2026-11-27T10:31:02+00:00",
            "--queue-data",
            &queue,
            "--event",
            &event,
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let object = phase_object(&data, Phase::Event).await.unwrap();
    assert_eq!(object["attempt"], 1);
    assert_eq!(object["data"][0]["trigger"], "manual");
    assert!(
        object["s3_data_path"]
            .as_str()
            .unwrap()
            .ends_with("/event/")
    );
    let run_dir = attempt_dir(&data, "x", 1)
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("event");
    assert!(
        run_dir.join("queue_data.parquet").is_file() && run_dir.join("event.parquet").is_file()
    );
}

#[test]
fn token_needs_a_secret_and_signs_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dagtrail"))
        .args(["token", "--company", "acme"])
        .env_remove("DAGTRAIL_JWT_SECRET")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("DAGTRAIL_JWT_SECRET"));
    let out = Command::new(env!("CARGO_BIN_EXE_dagtrail"))
        .args(["token", "--company", "acme", "--ttl", "2h"])
        .env("DAGTRAIL_JWT_SECRET", "s3cret")
        .output()
        .unwrap();
    assert!(out.status.success());
    let token = String::from_utf8(out.stdout).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_required_spec_claims(&["exp"]);
    let data = jsonwebtoken::decode::<serde_json::Value>(
        token.trim(),
        &jsonwebtoken::DecodingKey::from_secret(b"s3cret").unwrap(),
        &validation,
    )
    .unwrap();
    assert_eq!(data.claims["id_company"], "acme");
    assert!(data.claims.get("scope").is_none(), "a reading token");
    let exp = data.claims["exp"].as_i64().unwrap() - chrono::Utc::now().timestamp();
    assert!((7000..=7200).contains(&exp), "{exp}");
    // A writing token: the scopes space-separated in `scope`.
    let out = Command::new(env!("CARGO_BIN_EXE_dagtrail"))
        .args(["token", "--company", "acme", "--scope", "runs:write,extra"])
        .env("DAGTRAIL_JWT_SECRET", "s3cret")
        .output()
        .unwrap();
    assert!(out.status.success());
    let data = jsonwebtoken::decode::<serde_json::Value>(
        String::from_utf8(out.stdout).unwrap().trim(),
        &jsonwebtoken::DecodingKey::from_secret(b"s3cret").unwrap(),
        &validation,
    )
    .unwrap();
    assert_eq!(data.claims["scope"], "runs:write extra");
}

#[test]
fn demo_writes_and_then_skips_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "demo",
        "--companies",
        "1",
        "--dags",
        "1",
        "--runs",
        "3",
        "--rows-per-phase",
        "50",
        "--if-empty",
    ];
    let out = dagtrail(dir.path(), &args, None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("wrote 3 runs"));
    let out = dagtrail(dir.path(), &args, None);
    assert!(String::from_utf8_lossy(&out.stdout).contains("already present"));
}

/// Secrets from files (a mounted secret): the database URL and the JWT
/// secret, one trailing newline trimmed; an unreadable file or both forms
/// at once are refused naming the setting.
#[test]
fn secrets_are_read_from_files() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("elsewhere.db");
    let url_file = dir.path().join("database-url");
    std::fs::write(&url_file, format!("sqlite://{}\n", db.display())).unwrap();
    let url_arg = url_file.display().to_string();
    let out = dagtrail(
        dir.path(),
        &["migrate", "--database-url-file", &url_arg],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(db.is_file(), "the URL in the file was used");

    let secret_file = dir.path().join("jwt-secret");
    std::fs::write(&secret_file, "file-secret-with-enough-length-0123456789\n").unwrap();
    let secret_arg = secret_file.display().to_string();
    let out = dagtrail(
        dir.path(),
        &["token", "--company", "acme", "--secret-file", &secret_arg],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap();
    let key = jsonwebtoken::DecodingKey::from_secret(b"file-secret-with-enough-length-0123456789")
        .unwrap();
    let claims = jsonwebtoken::decode::<serde_json::Value>(
        token.trim(),
        &key,
        &jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256),
    )
    .unwrap();
    assert_eq!(claims.claims["id_company"], "acme");

    let missing = dir.path().join("absent").display().to_string();
    let out = dagtrail(
        dir.path(),
        &["migrate", "--database-url-file", &missing],
        None,
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("database-url-file") && stderr.contains("cannot read"),
        "{stderr}"
    );
    let out = dagtrail(
        dir.path(),
        &[
            "migrate",
            "--database-url",
            "sqlite://x.db",
            "--database-url-file",
            &url_arg,
        ],
        None,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be used with"));
}

/// `deploy/dagtrail.service` is a unit systemd accepts as it is (no
/// unknown key, no bad value), with the binary this build makes.
#[test]
fn the_systemd_unit_verifies() {
    let present = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok();
    if !present {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "systemd-analyze is required under CI=true"
        );
        eprintln!("skipping: systemd-analyze not found");
        return;
    }
    let unit = std::fs::read_to_string("deploy/dagtrail.service").unwrap();
    assert!(unit.contains("ExecStart=/usr/local/bin/dagtrail serve"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dagtrail.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/dagtrail", env!("CARGO_BIN_EXE_dagtrail")),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.trim().is_empty(), "systemd has remarks: {stderr}");
}

/// `ingest --dag-name ...` records the DAG's catalog entry (flags not
/// given keep what an earlier writer recorded), and `migrate
/// --rebuild-fleet` rebuilds the fleet tables from the runs to the same
/// state.
#[tokio::test]
async fn ingest_names_the_dag_and_migrate_rebuilds_the_fleet() {
    use dagtrail::runindex::fleet::DagQuery;

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let first = dagtrail(
        &data,
        &ingest_args(
            "extract",
            &[
                "--data",
                "-",
                "--dag-name",
                "orders_daily",
                "--dag-tags",
                "sales, daily",
                "--dag-owner",
                "data-eng",
                "--status",
                "failed",
                "--message",
                "timeout",
            ],
        ),
        Some("{\"id\":1}\n"),
    );
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let second = dagtrail(
        &data,
        &ingest_args(
            "load",
            &[
                "--data",
                "-",
                "--dag-description",
                "Orders into the warehouse",
            ],
        ),
        Some("{\"id\":1}\n"),
    );
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let url = format!("sqlite://{}", data.join("dagtrail.db").display());
    let fleet = || async {
        let index = runindex::open(&url, &IndexOptions::default())
            .await
            .unwrap();
        let query = DagQuery::since(chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap());
        index
            .list_dags(&Company::new("acme").unwrap(), &query)
            .await
            .unwrap()
    };
    let written = fleet().await;
    assert_eq!(written.len(), 1);
    let info = &written[0].info;
    assert_eq!(info.name.as_deref(), Some("orders_daily"));
    assert_eq!(info.tags, ["sales", "daily"]);
    assert_eq!(info.owner.as_deref(), Some("data-eng"));
    assert_eq!(
        info.description.as_deref(),
        Some("Orders into the warehouse")
    );
    assert_eq!(
        written[0]
            .state
            .last_failure
            .as_ref()
            .and_then(|f| f.message.as_deref()),
        Some("timeout")
    );
    let rebuilt = dagtrail(&data, &["migrate", "--rebuild-fleet"], None);
    assert!(
        rebuilt.status.success(),
        "{}",
        String::from_utf8_lossy(&rebuilt.stderr)
    );
    assert_eq!(fleet().await, written);
}
