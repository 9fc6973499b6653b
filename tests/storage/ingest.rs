//! `dagtrail ingest` keeps every value exactly and says what it needs: the
//! binary end to end on the embedded default, read back through the read
//! service as the API would.

use std::path::Path;
use std::process::{Command, Output};

use dagtrail::artifacts::ArtifactStore;
use dagtrail::model::{Company, Phase, RunId, RunRef};
use dagtrail::read::{ParquetPage, ReadError, ReadService};
use dagtrail::runindex::{self, IndexOptions, PhaseObject};
use serde_json::{Value, json};

use crate::support::{CLI_DAG, dagtrail, ingest_command, plant_data_file};

const DAG: &str = CLI_DAG;

fn ingest<'a>(run_id: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    ingest_command(run_id, "extract", extra)
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn refused(out: &Output) -> String {
    assert!(!out.status.success(), "expected a refusal");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

async fn reads(data_dir: &Path) -> ReadService {
    let url = format!("sqlite://{}", data_dir.join("dagtrail.db").display());
    let index = runindex::open(&url, &IndexOptions::default())
        .await
        .unwrap();
    let store = ArtifactStore::open(data_dir.join("artifacts").to_str().unwrap()).unwrap();
    ReadService::new(index, store, 1 << 20)
}

fn run(run_id: &str) -> RunRef {
    RunRef::new(
        DAG.parse().unwrap(),
        chrono::NaiveDate::from_ymd_opt(2026, 11, 27).unwrap(),
        RunId::new(run_id).unwrap(),
    )
}

async fn page(data_dir: &Path, run_id: &str, keyword: Option<&str>) -> ParquetPage {
    let reader = reads(data_dir)
        .await
        .attempt(
            &Company::new("acme").unwrap(),
            &run(run_id),
            Phase::Extract,
            1,
        )
        .await
        .unwrap();
    match keyword {
        Some(k) => reader.search_data(k, 0, 100).await.unwrap(),
        None => reader.data_page(0, 100).await.unwrap(),
    }
}

fn column(page: &ParquetPage, name: &str) -> Vec<String> {
    page.rows
        .to_json()
        .iter()
        .map(|r| r[name].to_string())
        .collect()
}

fn types(page: &ParquetPage) -> Vec<(String, String)> {
    page.columns
        .iter()
        .map(|c| (c.name.clone(), c.data_type.clone()))
        .collect()
}

/// The issue's example: integers past int64 were stored as float64.
#[tokio::test]
async fn integers_past_int64_are_stored_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let lines = "{\"n\":1,\"span_id\":18446744073709551615}\n{\"n\":2,\"span_id\":9223372036854775808}\n{\"n\":3,\"span_id\":12345678901234567890}\n{\"n\":4,\"span_id\":17}\n";
    ok(&dagtrail(
        dir.path(),
        &ingest("r1", &["--data", "-"]),
        Some(lines),
    ));
    let page = page(dir.path(), "r1", None).await;
    assert_eq!(types(&page)[1], ("span_id".into(), "uint64".into()));
    assert_eq!(
        column(&page, "span_id"),
        [
            "18446744073709551615",
            "9223372036854775808",
            "12345678901234567890",
            "17"
        ]
    );
    let found = self::page(dir.path(), "r1", Some("12345678901234567890")).await;
    assert_eq!(
        (found.total, found.rows.to_json()[0]["n"].clone()),
        (1, json!(3))
    );
}

/// The same values written as CSV and as NDJSON get the same types and
/// read back the same, whatever a float64 could not have held.
#[tokio::test]
async fn csv_and_ndjson_infer_the_same_types_without_loss() {
    let dir = tempfile::tempdir().unwrap();
    let csv = "id,big,signed_big,exact,many_digits,mixed,at,naive,day,zoned,flag,zip,note\n\
        1,18446744073709551615,-9223372036854775809,0.1,0.12345678901234567890,1,2026-11-20T02:52:00Z,2026-11-20T02:52:00,2026-11-20,2026-11-20T02:52:00+02:00,true,007,a\n\
        2,17,5,2.5,1.5,12345678901234567890.5,2026-11-20T03:00:00.250Z,2026-11-20T03:00:00.5,2026-11-21,2026-11-20T02:52:00Z,FALSE,010,\n";
    let ndjson = "{\"id\":1,\"big\":18446744073709551615,\"signed_big\":-9223372036854775809,\"exact\":0.1,\"many_digits\":0.12345678901234567890,\"mixed\":1,\"at\":\"2026-11-20T02:52:00Z\",\"naive\":\"2026-11-20T02:52:00\",\"day\":\"2026-11-20\",\"zoned\":\"2026-11-20T02:52:00+02:00\",\"flag\":true,\"zip\":\"007\",\"note\":\"a\"}\n\
        {\"id\":2,\"big\":17,\"signed_big\":5,\"exact\":2.5,\"many_digits\":1.5,\"mixed\":12345678901234567890.5,\"at\":\"2026-11-20T03:00:00.250Z\",\"naive\":\"2026-11-20T03:00:00.5\",\"day\":\"2026-11-21\",\"zoned\":\"2026-11-20T02:52:00Z\",\"flag\":false,\"zip\":\"010\",\"note\":null}\n";
    let csv_file = dir.path().join("rows.csv");
    std::fs::write(&csv_file, csv).unwrap();
    ok(&dagtrail(
        dir.path(),
        &ingest("csv", &["--data", csv_file.to_str().unwrap()]),
        None,
    ));
    ok(&dagtrail(
        dir.path(),
        &ingest("ndjson", &["--data", "-"]),
        Some(ndjson),
    ));
    let from_csv = page(dir.path(), "csv", None).await;
    let from_json = page(dir.path(), "ndjson", None).await;
    assert_eq!(
        types(&from_csv)
            .iter()
            .map(|(_, t)| t.as_str())
            .collect::<Vec<_>>(),
        [
            "int64",
            "uint64",
            "decimal(38, 0)",
            "float64",
            "decimal(38, 20)",
            "decimal(38, 1)",
            "timestamp[us, tz=UTC]",
            "timestamp[us]",
            "date",
            "utf8",
            "bool",
            "utf8",
            "utf8"
        ]
    );
    assert_eq!(types(&from_csv), types(&from_json));
    assert_eq!(from_csv.rows.to_json(), from_json.rows.to_json());
    let row = Value::Object(from_csv.rows.to_json()[0].clone());
    assert_eq!(row["many_digits"], "0.12345678901234567890");
    assert_eq!(row["signed_big"], "-9223372036854775809");
    assert_eq!(row["at"], "2026-11-20T02:52:00Z", "the Z is kept");
    assert_eq!(
        row["zoned"], "2026-11-20T02:52:00+02:00",
        "another offset keeps its text"
    );
    assert_eq!(row["zip"], "007");
    assert_eq!(
        from_csv.rows.to_json()[1]["mixed"],
        "12345678901234567890.5"
    );
}

/// A value past the inference window that its column's type cannot hold
/// exactly is refused, naming its line (blank lines counted).
#[tokio::test]
async fn a_later_value_that_does_not_fit_is_refused_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = String::from("\n");
    for i in 0..1500 {
        lines.push_str(&format!("{{\"x\":{i}.5}}\n"));
    }
    lines.push_str("{\"x\":0.1234567890123456789}\n");
    let stderr = refused(&dagtrail(
        dir.path(),
        &ingest("r", &["--data", "-"]),
        Some(&lines),
    ));
    assert!(stderr.contains("-: line 1502: column x: "), "{stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("Backtrace"),
        "{stderr}"
    );
}

/// A local folder's `file://` URL is shown to tenants as the key inside
/// the store, unless the operator asks for URLs.
#[tokio::test]
async fn local_paths_are_not_shown_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    ok(&dagtrail(
        dir.path(),
        &ingest("r", &["--data", "-"]),
        Some("{\"a\":1}\n"),
    ));
    let company = Company::new("acme").unwrap();
    let path = |run: dagtrail::runindex::RunSummary| {
        run.phases.extract.unwrap().to_json()["s3_data_path"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let shown = path(
        reads(dir.path())
            .await
            .get_run(&company, &run("r"))
            .await
            .unwrap(),
    );
    assert_eq!(shown, format!("acme/{DAG}/2026-11-27/r/extract/attempt=1/"));
    let opted_in = reads(dir.path()).await.with_file_urls_shown(true);
    let url = path(opted_in.get_run(&company, &run("r")).await.unwrap());
    assert!(
        url.starts_with("file:///") && url.ends_with(&shown),
        "{url}"
    );
    // Written by another server, whose folder also holds the company's
    // name: the attempt's folder is shown, nothing of the path before it;
    // a URL of no folder of this run is not shown at all.
    let index = reads(dir.path()).await.run_index().clone();
    for (run_id, url, expected) in [
        (
            "elsewhere",
            format!(
                "file:///srv/acme/artifacts/acme/{DAG}/2026-11-27/elsewhere/extract/attempt=1/"
            ),
            json!(format!(
                "acme/{DAG}/2026-11-27/elsewhere/extract/attempt=1/"
            )),
        ),
        ("odd", "file:///srv/acme/x/".to_owned(), Value::Null),
    ] {
        let object = json!({"status": {"success": true, "message": "", "total": 0},
                            "s3_data_path": url, "attempt": 1});
        index
            .record_phase(
                &company,
                &run(run_id),
                Phase::Extract,
                &PhaseObject::from_json(&object).unwrap(),
                chrono::Utc::now(),
            )
            .await
            .unwrap();
        let summary = reads(dir.path())
            .await
            .get_run(&company, &run(run_id))
            .await
            .unwrap();
        assert_eq!(
            summary.phases.extract.unwrap().to_json()["s3_data_path"],
            expected,
            "{run_id}"
        );
    }
}

/// Writes `file` as the only data file of a committed attempt of `run_id`,
/// as another tool would.
fn plant(data_dir: &Path, run_id: &str, file: &Path) {
    let folder = dagtrail::artifacts::RunFolder::new(&Company::new("acme").unwrap(), &run(run_id))
        .unwrap()
        .attempt(Phase::Extract, 1)
        .unwrap();
    plant_data_file(&data_dir.join("artifacts").join(folder.folder()), file);
}

/// Every Parquet type, ingested: read back, each value is the one the
/// file itself reads as (an INTERVAL, which the Parquet writer cannot
/// write as Arrow's month-day-nano interval, is stored as the text shown
/// for it).
#[tokio::test]
async fn parquet_inputs_of_every_type_read_back_as_they_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut files: Vec<_> = std::fs::read_dir("tests/fixtures/types")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    files.sort();
    assert!(files.len() >= 8);
    for file in files {
        let stem = file.file_stem().unwrap().to_str().unwrap().to_owned();
        let (ingested, planted) = (format!("ingested_{stem}"), format!("planted_{stem}"));
        ok(&dagtrail(
            dir.path(),
            &ingest(&ingested, &["--data", file.to_str().unwrap()]),
            None,
        ));
        plant(dir.path(), &planted, &file);
        let (a, b) = (
            page(dir.path(), &ingested, None).await,
            page(dir.path(), &planted, None).await,
        );
        assert_eq!(a.total, b.total, "{stem}");
        for (row, (x, y)) in a.rows.to_json().iter().zip(&b.rows.to_json()).enumerate() {
            assert_eq!(x, y, "{stem} row {row}");
        }
    }
}

/// The issue's example: a run id the API accepts, whose encoded folder
/// name passes 255 bytes, is stored and read back; an absent one is a 404.
#[tokio::test]
async fn long_run_ids_are_stored_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let long = format!("manual__{}X", "東京倉庫の再実行".repeat(10));
    assert_eq!(long.len(), 249);
    ok(&dagtrail(
        dir.path(),
        &ingest(&long, &["--data", "-"]),
        Some("{\"a\":1}\n"),
    ));
    assert_eq!(
        page(dir.path(), &long, None).await.rows.to_json()[0]["a"],
        1
    );
    let absent = format!("manual__{}Y", "東京倉庫の再実行".repeat(10));
    let missing = reads(dir.path())
        .await
        .attempt(
            &Company::new("acme").unwrap(),
            &run(&absent),
            Phase::Extract,
            1,
        )
        .await;
    assert!(
        matches!(missing, Err(ReadError::NotFound(_))),
        "{missing:?}"
    );
}

/// The errors and logs inputs: the examples work, refusals list every
/// problem at once with 1-based lines of the input, and common spellings
/// are taken.
#[tokio::test]
async fn errors_and_logs_say_what_they_need() {
    let dir = tempfile::tempdir().unwrap();
    let out = dagtrail(
        dir.path(),
        &ingest(
            "examples",
            &[
                "--data",
                "examples/ingest/data.ndjson",
                "--errors",
                "examples/ingest/errors.csv",
                "--logs",
                "examples/ingest/logs.ndjson",
                "--status",
                "failed",
            ],
        ),
        None,
    );
    ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("3 data rows"));

    let logs = dir.path().join("logs.ndjson");
    std::fs::write(
        &logs,
        "{\"ts\":\"2026-11-27T10:31:03Z\"}\n\n{\"ts\":\"later\"}\n",
    )
    .unwrap();
    let stderr = refused(&dagtrail(
        dir.path(),
        &ingest("bad", &["--logs", logs.to_str().unwrap()]),
        None,
    ));
    assert!(
        stderr.contains("missing columns level, logger, message")
            && stderr.contains("column ts must be an RFC 3339 timestamp, line 3 holds \"later\""),
        "{stderr}"
    );

    let logs = dir.path().join("python.ndjson");
    std::fs::write(
        &logs,
        "{\"timestamp\":\"2026-11-27T10:31:03Z\",\"levelname\":\"warn\",\"name\":\"etl\",\"msg\":\"a\"}\n{\"timestamp\":\"2026-11-27T10:31:04Z\",\"levelname\":\"LOUD\",\"name\":\"etl\",\"msg\":\"b\"}\n",
    )
    .unwrap();
    let stderr = refused(&dagtrail(
        dir.path(),
        &ingest("bad", &["--logs", logs.to_str().unwrap()]),
        None,
    ));
    assert!(stderr.contains("level \"LOUD\" (line 2)"), "{stderr}");

    let errors = "error_title,error_status,error_detail,occurred_at\nA,422,x,2026-11-27T10:31:05Z\nB,oops,y,2026-11-27T10:31:06Z\n";
    let stderr = refused(&dagtrail(
        dir.path(),
        &ingest("bad", &["--errors", "-", "--format", "csv"]),
        Some(errors),
    ));
    assert!(
        stderr.contains("-: column error_status must be an integer, line 3 holds \"oops\""),
        "{stderr}"
    );

    let good = errors.replace("oops", "500");
    ok(&dagtrail(
        dir.path(),
        &ingest("csv-stdin", &["--errors", "-", "--format", "csv"]),
        Some(&good),
    ));
    let stderr = refused(&dagtrail(
        dir.path(),
        &ingest("csv-guess", &["--errors", "-"]),
        Some(&good),
    ));
    assert!(stderr.contains("--format csv"), "{stderr}");

    let out = dagtrail(dir.path(), &ingest("empty", &[]), None);
    ok(&out);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("warning: no --data, --errors or --logs"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A user error is one line, even with RUST_BACKTRACE set.
    let out = Command::new(env!("CARGO_BIN_EXE_dagtrail"))
        .args(ingest("bad", &["--logs", logs.to_str().unwrap()]))
        .env("DAGTRAIL_DATA_DIR", dir.path())
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.starts_with("error: ") && stderr.trim_end().lines().count() == 1,
        "{stderr}"
    );

    let help = dagtrail(dir.path(), &["ingest", "--help"], None);
    let help = String::from_utf8_lossy(&help.stdout);
    for needle in [
        "error_status",
        "occurred_at",
        "levelname",
        "examples/ingest/logs.ndjson",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}");
    }
}
