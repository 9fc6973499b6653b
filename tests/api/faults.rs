//! Contract 4.3's server-side failures: 502 when the run index fails, when
//! a promised file is missing or cannot be decoded (naming its key), 504
//! when the store is too slow; other requests keep working.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use dagtrail::artifacts::{ArtifactStore, AttemptFolder, FileKind, RunFolder};
use dagtrail::http::Limits;
use dagtrail::model::Phase;
use object_store::throttle::{ThrottleConfig, ThrottledStore};

use crate::support::{artifacts_dir, embedded, embedded_with};

/// The embedded app, the folder of its run's extract attempt, and the
/// artifacts folder on disk (to break files in).
async fn extract_attempt() -> (crate::support::TestApp, AttemptFolder, std::path::PathBuf) {
    let app = embedded().await;
    let folder = RunFolder::new(&app.company, &app.run)
        .unwrap()
        .attempt(Phase::Extract, 1)
        .unwrap();
    let root = artifacts_dir(&app);
    (app, folder, root)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_and_corrupt_files_are_502_with_their_key() {
    let (app, folder, root) = extract_attempt().await;
    let data_1 = folder.numbered(FileKind::Data, 1);
    std::fs::remove_file(root.join(data_1.as_ref())).unwrap();
    let logs_0 = folder.numbered(FileKind::Logs, 0);
    std::fs::write(root.join(logs_0.as_ref()), b"PAR1 this is not parquet PAR1").unwrap();

    let missing = app
        .get(&format!(
            "{}/phases/extract/data?page=2&limit=50",
            app.run_url()
        ))
        .await;
    assert_eq!(missing.status, StatusCode::BAD_GATEWAY);
    assert_eq!(missing.header("content-type"), "application/problem+json");
    let detail = missing.json()["detail"].as_str().unwrap().to_owned();
    assert!(detail.contains(data_1.as_ref()), "{detail}");
    assert!(
        !detail.contains(root.to_str().unwrap()),
        "no server paths in the detail: {detail}"
    );

    let corrupt = app
        .get(&format!("{}/phases/extract/logs", app.run_url()))
        .await;
    assert_eq!(corrupt.status, StatusCode::BAD_GATEWAY);
    assert!(
        corrupt.json()["detail"]
            .as_str()
            .unwrap()
            .contains(logs_0.as_ref())
    );
    let corrupt_stream = app
        .call(
            &format!("{}/phases/extract/logs", app.run_url()),
            Some(&app.token()),
            &[("accept", "application/x-ndjson")],
        )
        .await;
    assert_eq!(
        corrupt_stream.status,
        StatusCode::BAD_GATEWAY,
        "footers are checked before the first byte"
    );

    // What does not touch the broken files keeps working.
    assert_eq!(
        app.get(&format!("{}/phases/extract/data?page=0", app.run_url()))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        app.get(&format!("{}/phases/extract/errors", app.run_url()))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(app.get(&app.run_url()).await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_store_is_504_within_the_limit() {
    let limits = Limits {
        timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let slow = |store: ArtifactStore| {
        let config = ThrottleConfig {
            wait_get_per_call: Duration::from_secs(5),
            ..ThrottleConfig::default()
        };
        let throttled = ThrottledStore::new(Arc::clone(store.object_store()), config);
        ArtifactStore::from_object_store(Arc::new(throttled), store.base_url())
    };
    let app = embedded_with(slow, None, limits).await;
    let started = std::time::Instant::now();
    let reply = app
        .get(&format!("{}/phases/extract/data", app.run_url()))
        .await;
    assert_eq!(reply.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(reply.json()["status"], 504);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "answered within the limit, not after the store"
    );
    assert_eq!(
        app.get(&app.run_url()).await.status,
        StatusCode::OK,
        "the run index still answers"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_run_index_is_502_run_lookup_failed() {
    // Nothing listens on port 9 of loopback: every query fails.
    let app = embedded_with(
        |s| s,
        Some("postgres://nobody@127.0.0.1:9/none"),
        Limits::default(),
    )
    .await;
    let reply = app
        .get(&format!(
            "/api/v1/dags/{}/runs?date_from=2026-11-01&date_to=2026-11-30",
            app.dag
        ))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    let body = reply.json();
    assert_eq!(body["title"], "Run lookup failed");
    assert_eq!(body["detail"], "the run index cannot be reached");
    assert!(
        !body["detail"].as_str().unwrap().contains("nobody"),
        "no connection details leak"
    );
    assert_eq!(
        app.get(&app.run_url()).await.status,
        StatusCode::BAD_GATEWAY
    );
    // The artifact endpoints do not need the run index.
    assert_eq!(
        app.get(&format!("{}/phases/extract", app.run_url()))
            .await
            .status,
        StatusCode::OK
    );
    let ready = app.call("/readyz", None, &[]).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.json()["failing"], "run index");
}

fn parquet_bytes(batch: &arrow_array::RecordBatch) -> Vec<u8> {
    let mut out = Vec::new();
    let mut writer = parquet::arrow::ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_data_and_wrongly_shaped_errors_and_logs_are_502_with_their_key() {
    use arrow_array::{ArrayRef, Int64Array, RecordBatch};
    let (app, folder, root) = extract_attempt().await;
    // A data file cut in half, as by a copy that did not finish.
    let data_0 = folder.numbered(FileKind::Data, 0);
    let path = root.join(data_0.as_ref());
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    // Errors and logs files that are Parquet, but not in their schemas.
    let wrong = parquet_bytes(
        &RecordBatch::try_from_iter([(
            "error_title",
            Arc::new(Int64Array::from(vec![1, 2, 3])) as ArrayRef,
        )])
        .unwrap(),
    );
    let errors_0 = folder.numbered(FileKind::Errors, 0);
    let logs_0 = folder.numbered(FileKind::Logs, 0);
    std::fs::write(root.join(errors_0.as_ref()), &wrong).unwrap();
    std::fs::write(root.join(logs_0.as_ref()), &wrong).unwrap();

    for (path, key) in [
        ("/phases/extract/data", data_0.as_ref()),
        ("/phases/extract/errors", errors_0.as_ref()),
        ("/phases/extract/logs", logs_0.as_ref()),
        (
            "/phases/extract/logs?level=ERROR&keyword=slow",
            logs_0.as_ref(),
        ),
    ] {
        let reply = app.get(&format!("{}{path}", app.run_url())).await;
        assert_eq!(reply.status, StatusCode::BAD_GATEWAY, "{path}");
        let detail = reply.json()["detail"].as_str().unwrap().to_owned();
        assert!(detail.contains(key), "{path}: {detail}");
    }
    let stream = app
        .call(
            &format!("{}/phases/extract/logs", app.run_url()),
            Some(&app.token()),
            &[("accept", "application/x-ndjson")],
        )
        .await;
    assert_eq!(stream.status, StatusCode::BAD_GATEWAY);
    // The second data file and everything else still answer.
    assert_eq!(
        app.get(&format!(
            "{}/phases/extract/data?page=2&limit=50",
            app.run_url()
        ))
        .await
        .status,
        StatusCode::OK
    );
    assert_eq!(app.get(&app.run_url()).await.status, StatusCode::OK);
}
