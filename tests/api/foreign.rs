//! Files written by other tools (pyarrow, DuckDB and polars, see
//! `tests/fixtures/foreign/make.py`): no page index, other row groups,
//! other integer widths, a `_searchable` that is not lowercased, gzip and
//! snappy, dictionary and struct columns, polars' large lists and large
//! strings, and a committed attempt without any data file.

use std::path::Path;

use axum::http::StatusCode;
use chrono::NaiveDate;
use dagtrail::artifacts::RunFolder;
use dagtrail::model::{Company, DagId, Phase, RunId, RunRef};
use serde_json::json;

use crate::both_backends;
use crate::support::{TestApp, call, embedded, token};

/// The `id` of every row of a page.
fn ids(page: &serde_json::Value) -> Vec<i64> {
    page["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect()
}

/// The type of every column of a page.
fn column_types(page: &serde_json::Value) -> Vec<&str> {
    page["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect()
}

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

    let meta = get(format!("{base}/phases/extract")).await.ok_json();
    assert_eq!(meta["rows"][0]["data_file_rows"], json!([120, 80]));

    let body = get(format!("{base}/phases/extract/data?page=11&limit=11"))
        .await
        .ok_json();
    let ids = ids(&body);
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
    let types = column_types(&body);
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

/// Copies a fixture folder into the app's store (a folder or the
/// S3-compatible server) as the extract attempt 1 of `run_id`.
async fn plant(app: &TestApp, fixture: &str, run_id: &str) -> String {
    let run = RunRef::new(
        app.dag,
        NaiveDate::from_ymd_opt(2026, 11, 27).unwrap(),
        RunId::new(run_id).unwrap(),
    );
    let folder = RunFolder::new(&app.company, &run)
        .unwrap()
        .attempt(Phase::Extract, 1)
        .unwrap();
    let store = app.recorder.store().object_store();
    for entry in std::fs::read_dir(Path::new("tests/fixtures/foreign").join(fixture)).unwrap() {
        let entry = entry.unwrap();
        let key = object_store::path::Path::parse(format!(
            "{}{}",
            folder.folder(),
            entry.file_name().to_str().unwrap()
        ))
        .unwrap();
        let bytes = std::fs::read(entry.path()).unwrap();
        object_store::ObjectStoreExt::put(store.as_ref(), &key, bytes.into())
            .await
            .unwrap();
    }
    format!(
        "/api/v1/dags/{}/runs/2026-11-27/{run_id}/phases/extract",
        app.dag
    )
}

/// An attempt written entirely by polars: `large_list` and `large_string`
/// everywhere, in every file of the contract.
async fn files_from_polars_are_served(app: TestApp) {
    let base = plant(&app, "attempt_polars", "manual__polars").await;
    let meta = app.get(&base).await.ok_json();
    assert_eq!(meta["rows"][0]["data_file_rows"], json!([60, 40]));

    let page = app
        .get(&format!("{base}/data?page=5&limit=11"))
        .await
        .json();
    let ids = ids(&page);
    assert_eq!(ids, (55..66).collect::<Vec<_>>(), "straddles the two files");
    let types = column_types(&page);
    assert_eq!(
        types,
        [
            "int64",
            "utf8",
            "float64",
            "date",
            "timestamp[us, tz=UTC]",
            "list<utf8>",
            "struct<x: int64, y: utf8>"
        ]
    );

    for keyword in ["ας", "ΑΣΤΡΟ"] {
        let found = app
            .get(&format!(
                "{base}/data?keyword={}",
                crate::support::encode(keyword)
            ))
            .await
            .json();
        assert_eq!(found["total"], 1, "{keyword}");
        assert_eq!(found["rows"][0]["name"], "ΑΣΤΡΟ 7");
    }
    let errors = app.get(&format!("{base}/errors")).await.json();
    assert_eq!(errors["total"], 5);
    let logs = app
        .get(&format!("{base}/logs?level=error,critical&limit=100"))
        .await
        .json();
    assert_eq!(logs["total"], 8);
    let logs = app
        .get(&format!(
            "{base}/logs?keyword={}",
            crate::support::encode("ας")
        ))
        .await
        .json();
    assert_eq!(logs["rows"][0]["message"], "ΑΣΤΡΟ loaded");
    let all = app
        .call(
            &format!("{base}/logs"),
            Some(&app.token()),
            &[("accept", "application/x-ndjson")],
        )
        .await;
    assert_eq!(String::from_utf8(all.body).unwrap().lines().count(), 20);
}

/// A committed attempt with no data at all: `data_files = 0`, no
/// `index.parquet`, no errors or logs files.
async fn an_attempt_without_data_files_is_empty_everywhere(app: TestApp) {
    let base = plant(&app, "attempt_empty", "manual__empty").await;
    assert_eq!(app.get(&base).await.json()["rows"][0]["data_files"], 0);
    for path in [
        "data",
        "data?keyword=x",
        "data?keyword=x&page=3",
        "data?page=2&limit=7",
        "errors",
        "errors?page=4",
        "logs",
        "logs?keyword=x&level=ERROR",
    ] {
        let reply = app.get(&format!("{base}/{path}")).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{path}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        let page = reply.json();
        assert_eq!(
            (&page["rows"], &page["total"], &page["has_more"]),
            (&json!([]), &json!(0), &json!(false)),
            "{path}"
        );
    }
    let all = app
        .call(
            &format!("{base}/logs"),
            Some(&app.token()),
            &[("accept", "application/x-ndjson")],
        )
        .await;
    assert_eq!((all.status, all.body.len()), (StatusCode::OK, 0));
}

both_backends!(
    files_from_polars_are_served,
    an_attempt_without_data_files_is_empty_everywhere
);
