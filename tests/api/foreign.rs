//! Files written by other tools (pyarrow and DuckDB, see
//! `tests/fixtures/foreign/make.py`): no page index, other row groups,
//! other integer widths, a `_searchable` that is not lowercased, gzip and
//! snappy, dictionary and struct columns.

use std::path::Path;

use axum::http::StatusCode;
use chrono::NaiveDate;
use dagtrail::artifacts::RunFolder;
use dagtrail::model::{Company, DagId, Phase, RunId, RunRef};
use serde_json::json;

use crate::support::{call, embedded, token};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_from_pyarrow_and_duckdb_are_served() {
    let app = embedded().await;
    let crate::support::Backend::Embedded(dir) = &app._backend else {
        unreachable!()
    };
    let company = Company::new("foreign").unwrap();
    let dag: DagId = "5b1f0d3e-1c2a-4a7b-9d8e-0f1e2d3c4b5a".parse().unwrap();
    let run = RunRef::new(
        dag,
        NaiveDate::from_ymd_opt(2026, 11, 27).unwrap(),
        RunId::new("manual__other tool").unwrap(),
    );
    let folder = RunFolder::new(&company, &run).unwrap();
    let root = dir.path().join("artifacts");
    copy_dir(
        Path::new("tests/fixtures/foreign/attempt"),
        &root.join(folder.attempt(Phase::Extract, 1).unwrap().folder()),
    );
    copy_dir(
        Path::new("tests/fixtures/foreign/event"),
        &root.join(folder.event_folder()),
    );
    let tok = token("foreign");
    let base = format!("/api/v1/dags/{dag}/runs/2026-11-27/manual__other%20tool");
    let get = |path: String| {
        let router = app.router.clone();
        let tok = tok.clone();
        async move { call(&router, &path, Some(&tok), &[]).await }
    };

    let meta = get(format!("{base}/phases/extract")).await;
    assert_eq!(
        meta.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&meta.body)
    );
    assert_eq!(meta.json()["rows"][0]["data_file_rows"], json!([120, 80]));

    let page = get(format!("{base}/phases/extract/data?page=11&limit=11")).await;
    assert_eq!(
        page.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&page.body)
    );
    let body = page.json();
    let ids: Vec<i64> = body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        ids,
        (121..132).collect::<Vec<_>>(),
        "straddles DuckDB's and pyarrow's files"
    );
    let row = &body["rows"][0];
    assert_eq!(row["price"], "151.25");
    assert_eq!(row["day"], "2026-11-02");
    assert_eq!(row["at"], "2026-11-27T10:02:01Z");
    assert_eq!(row["pair"], json!([121, 122]));
    let types: Vec<&str> = body["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "int64",
            "utf8",
            "decimal(10, 2)",
            "date",
            "timestamp[us, tz=UTC]",
            "bool",
            "list<int64>"
        ]
    );

    let found = get(format!("{base}/phases/extract/data?keyword=m%C3%BCnchen"))
        .await
        .json();
    assert_eq!(
        found["total"], 1,
        "a _searchable that is not lowercased is folded at read time"
    );
    assert_eq!(found["rows"][0]["id"], 150);

    let errors = get(format!("{base}/phases/extract/errors?limit=3&page=2"))
        .await
        .json();
    assert_eq!(
        (
            errors["total"].as_u64(),
            errors["rows"][0]["error_detail"].as_str()
        ),
        (Some(7), Some("row 6 is bad"))
    );

    let logs = get(format!(
        "{base}/phases/extract/logs?level=critical,ERROR&limit=100"
    ))
    .await
    .json();
    assert_eq!(logs["total"], 16);
    let all = call(
        &app.router,
        &format!("{base}/phases/extract/logs"),
        Some(&tok),
        &[("accept", "application/x-ndjson")],
    )
    .await;
    assert_eq!(String::from_utf8(all.body).unwrap().lines().count(), 42);

    let event = get(format!("{base}/event")).await.json();
    assert_eq!(
        event["event"]["rows"][0],
        json!({"trigger": "manual", "detail": {"files": ["a.csv", "b.csv"], "size": 12}})
    );
    assert_eq!(event["queue_data"]["rows"][0]["message_id"], "m-1");
}
