//! Limits: oversized and hostile parameters are 422 before any work, and
//! concurrent NDJSON streams past the configured number are 503.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use dagtrail::http::Limits;
use tower::ServiceExt;

use crate::support::{TestApp, embedded, embedded_with};

/// `GET uri` asking for NDJSON with `token`, through the router; the body
/// is left unread.
async fn open_stream(app: &TestApp, uri: &str, token: &str) -> axum::response::Response {
    let request = Request::get(uri)
        .header("authorization", format!("Bearer {token}"))
        .header("accept", "application/x-ndjson")
        .body(Body::empty())
        .unwrap();
    app.router.clone().oneshot(request).await.unwrap()
}

async fn status(app: &TestApp, uri: &str) -> StatusCode {
    app.get(uri).await.status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_hostile_parameters_are_422() {
    let app = embedded().await;
    let search = format!(
        "/api/v1/dags/{}/runs?date_from=2026-11-01&date_to=2026-11-30",
        app.dag
    );
    let run = app.run_url();
    let long = "k".repeat(257);
    let ids_101: Vec<String> = (0..101).map(|i| format!("r{i}")).collect();
    let ids_101 = ids_101.join(",");
    let huge_list = "x,".repeat(20_000);
    for uri in [
        format!("{search}&limit=101"),
        format!("{search}&limit=0"),
        format!("{search}&limit=99999999999999999999"),
        format!("{search}&page=-1"),
        format!("{search}&extract_keyword={long}"),
        format!("{search}&load_keyword=%00"),
        format!("{search}&run_ids={ids_101}"),
        format!("{search}&run_ids={huge_list}"),
        format!("{search}&run_ids=a%00b"),
        "/api/v1/dags/00000000-0000-0000-0000-000000000000/runs?date_from=1900-01-01&date_to=2100-01-01".into(),
        format!("{run}/phases/extract/data?limit=1001"),
        format!("{run}/phases/extract/data?attempt=0"),
        format!("{run}/phases/extract/data?attempt=99999999999"),
        format!("{run}/phases/extract/data?page=1000000001"),
        format!("{run}/phases/extract/data?keyword={long}"),
        format!("{run}/phases/extract/data?keyword=%00"),
        format!("{run}/phases/extract/logs?keyword={long}"),
        format!("{run}/phases/extract/logs?level=INFO&level={long}"),
        format!("{run}/phases/nonsense"),
    ] {
        let reply = app.get(&uri).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}: {}",
            &uri[..uri.len().min(160)],
            String::from_utf8_lossy(&reply.body)
        );
        // FastAPI's shape, or the contract's problem body for a date range.
        let body = reply.json();
        assert!(body["detail"].is_array() || body["status"] == 422, "{body}");
    }
    // Far past the end is an empty page, not an error or an overflow.
    let far = app
        .get(&format!(
            "{run}/phases/extract/data?page=1000000000&limit=1000"
        ))
        .await;
    assert_eq!(far.status, StatusCode::OK);
    assert_eq!(far.json()["rows"], serde_json::json!([]));
    assert_eq!(
        status(&app, &format!("{search}&limit=100")).await,
        StatusCode::OK
    );
}

/// A route's query groups are parsed together: one 422 lists every bad
/// parameter of every group, and bad path segments are all named too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_422_lists_every_bad_parameter() {
    let app = embedded().await;
    let run = app.run_url();
    let long = "k".repeat(257);
    let locs = |uri: String| {
        let app = &app;
        async move {
            let reply = app.get(&uri).await;
            assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{uri}");
            reply.json()["detail"]
                .as_array()
                .unwrap()
                .iter()
                .map(|issue| issue["loc"].clone())
                .collect::<Vec<_>>()
        }
    };
    let loc = |place: &str, name: &str| serde_json::json!([place, name]);
    assert_eq!(
        locs(format!(
            "{run}/phases/extract/data?attempt=0&limit=0&keyword={long}"
        ))
        .await,
        [
            loc("query", "attempt"),
            loc("query", "limit"),
            loc("query", "keyword")
        ]
    );
    assert_eq!(
        locs(format!(
            "{run}/phases/extract/logs?page=x&level=LOUD&keyword=%00"
        ))
        .await,
        [
            loc("query", "page"),
            loc("query", "level"),
            loc("query", "keyword")
        ]
    );
    assert_eq!(
        locs("/api/v1/dags/not-a-uuid/runs/2026-13-01/.%2e/phases/event/data".into()).await,
        [
            loc("path", "dag_id"),
            loc("path", "date"),
            loc("path", "run_id"),
            loc("path", "phase")
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_past_the_limit_are_503_and_free_their_slot_when_done() {
    let limits = Limits {
        max_streams: 2,
        ..Limits::default()
    };
    let app = embedded_with(|s| s, None, limits).await;
    let uri = format!("{}/phases/extract/logs", app.run_url());
    let token = app.token();
    let open = || open_stream(&app, &uri, &token);
    // Two streams open, their bodies not read yet: they hold both slots.
    let first = open().await;
    let second = open().await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(second.status(), StatusCode::OK);
    let third = open().await;
    assert_eq!(third.status(), StatusCode::SERVICE_UNAVAILABLE);
    // Pages are not streams: they still answer.
    assert_eq!(status(&app, &uri).await, StatusCode::OK);
    drop(first);
    drop(second);
    // The slot is released when the stream ends.
    let mut fourth = None;
    for _ in 0..50 {
        let reply = open().await;
        if reply.status() == StatusCode::OK {
            fourth = Some(reply);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(fourth.is_some(), "a finished stream gives its slot back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_counts_up_to_the_count_limit() {
    let limits = Limits {
        search_count_limit: Some(1),
        ..Limits::default()
    };
    let app = embedded_with(|s| s, None, limits).await;
    let search = |app: &TestApp, q: &str| {
        format!(
            "/api/v1/dags/{}/runs?date_from=2026-11-01&date_to=2026-11-30&{q}",
            app.dag
        )
    };
    let shape = |v: &serde_json::Value| {
        (
            v["items"].as_array().map(Vec::len),
            v["total"].as_u64(),
            v["total_exact"].as_bool(),
            v["has_more"].as_bool(),
        )
    };
    // Two runs match; one is counted, so the total is a lower bound.
    let first = app.get(&search(&app, "limit=1")).await.json();
    assert_eq!(shape(&first), (Some(1), Some(1), Some(false), Some(true)));
    let second = app.get(&search(&app, "limit=1&page=1")).await.json();
    assert_eq!(shape(&second), (Some(1), Some(2), Some(false), Some(false)));
    let unlimited = embedded().await;
    let exact = unlimited.get(&search(&unlimited, "limit=1")).await.json();
    assert_eq!(shape(&exact), (Some(1), Some(2), Some(true), Some(true)));
}

/// No company takes every NDJSON slot: one company holds at most its share
/// (16 streams of one company made every other company's NDJSON 503); a
/// 503 says when to retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_company_holds_at_most_its_share_of_streams() {
    let limits = Limits {
        max_streams: 4,
        max_streams_per_company: 2,
        ..Limits::default()
    };
    let app = embedded_with(|s| s, None, limits).await;
    let uri = format!("{}/phases/extract/logs", app.run_url());
    let first = open_stream(&app, &uri, &app.token()).await;
    let second = open_stream(&app, &uri, &app.token()).await;
    assert_eq!(
        (first.status(), second.status()),
        (StatusCode::OK, StatusCode::OK)
    );
    let third = open_stream(&app, &uri, &app.token()).await;
    assert_eq!(third.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(third.headers()["retry-after"], "1");
    // Another company still gets a slot.
    let other = open_stream(&app, &uri, &app.other_token()).await;
    assert_ne!(other.status(), StatusCode::SERVICE_UNAVAILABLE);
    drop((first, second));
}

/// A client that stops reading an NDJSON stream loses it after the stall
/// time, and its slot is free again (it kept both forever).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_stream_frees_its_slot() {
    use http_body_util::BodyExt as _;
    let limits = Limits {
        max_streams: 1,
        max_streams_per_company: 1,
        stream_stall: std::time::Duration::from_millis(300),
        ..Limits::default()
    };
    let app = embedded_with(|s| s, None, limits).await;
    let uri = format!("{}/phases/extract/logs", app.run_url());
    let token = app.token();
    let open = || open_stream(&app, &uri, &token);
    let stalled = open().await;
    assert_eq!(stalled.status(), StatusCode::OK);
    let mut body = stalled.into_body();
    // One chunk taken, then the client reads no more.
    assert!(body.frame().await.is_some());
    assert_eq!(open().await.status(), StatusCode::SERVICE_UNAVAILABLE);
    tokio::time::sleep(std::time::Duration::from_millis(900)).await;
    assert_eq!(
        open().await.status(),
        StatusCode::OK,
        "the stalled stream's slot is free"
    );
    drop(body);
}

/// Deep searches are bounded per company: while one company's search runs
/// on a slow store, its next one is a 503 with Retry-After, and another
/// company's still runs (48 parallel deep searches of one tenant slowed
/// another's small request from 3 ms to 397 ms).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_company_runs_at_most_its_share_of_searches() {
    use object_store::throttle::{ThrottleConfig, ThrottledStore};
    // Every read waits past the request's limit: a search holds its slot
    // until it times out (then 504).
    let limits = Limits {
        max_searches: 2,
        max_searches_per_company: 1,
        timeout: std::time::Duration::from_millis(700),
        ..Limits::default()
    };
    let slow = |store: dagtrail::artifacts::ArtifactStore| {
        let config = ThrottleConfig {
            wait_get_per_call: std::time::Duration::from_secs(5),
            ..ThrottleConfig::default()
        };
        let throttled = ThrottledStore::new(std::sync::Arc::clone(store.object_store()), config);
        dagtrail::artifacts::ArtifactStore::from_object_store(
            std::sync::Arc::new(throttled),
            store.base_url(),
        )
    };
    let app = std::sync::Arc::new(embedded_with(slow, None, limits).await);
    let search = format!("{}/phases/extract/data?keyword=row", app.run_url());
    let first = {
        let (app, search) = (std::sync::Arc::clone(&app), search.clone());
        tokio::spawn(async move { app.get(&search).await.status })
    };
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    let second = app.get(&search).await;
    assert_eq!(second.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(second.header("retry-after"), "1");
    let logs = format!("{}/phases/extract/logs?keyword=slow", app.run_url());
    assert_eq!(app.get(&logs).await.status, StatusCode::SERVICE_UNAVAILABLE);
    // Another company's search is admitted (here it times out like the
    // first, the store being slow: not a 503).
    let other = app.call(&search, Some(&app.other_token()), &[]).await;
    assert_ne!(other.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(first.await.unwrap(), StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(
        app.get(&search).await.status,
        StatusCode::GATEWAY_TIMEOUT,
        "the slot is free again: not a 503"
    );
}

/// A deep search stops with its request: when the request is dropped (the
/// client left, or a proxy timed it out), the row-group scans it started
/// are aborted and ask the store for nothing more (they ran on, reading a
/// phase's every row group for nobody).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_search_stops_reading_the_store() {
    use std::sync::Arc;
    use std::time::Duration;

    use futures::TryStreamExt;
    use object_store::memory::InMemory;
    use object_store::{ObjectStore, ObjectStoreExt};

    use dagtrail::artifacts::ArtifactStore;
    use dagtrail::artifacts::instrumented::InstrumentedStore;
    use dagtrail::artifacts::writer::WriterOptions;
    use dagtrail::model::Phase;
    use dagtrail::record::Recorder;
    use dagtrail::runindex::{self, IndexOptions};
    use object_store::throttle::{ThrottleConfig, ThrottledStore};

    use crate::support::{artifacts_dir, commit_rows, id_name_batch};

    // The app reads from memory (a copy of its folder, made below), each
    // GET taking 200 ms, counted where the request is made: a scan of many
    // row groups takes seconds.
    let memory = Arc::new(InMemory::new());
    let counting = InstrumentedStore::new(Arc::new(ThrottledStore::new(
        Arc::clone(&memory) as Arc<dyn ObjectStore>,
        ThrottleConfig {
            wait_get_per_call: Duration::from_millis(200),
            ..ThrottleConfig::default()
        },
    )));
    let reads = counting.clone();
    let wrap = move |store: ArtifactStore| {
        ArtifactStore::from_object_store(Arc::new(reads), store.base_url())
    };
    // One search at a time for the company: a slot the dropped search
    // kept would make the next one a 503.
    let limits = Limits {
        max_searches_per_company: 1,
        ..Limits::default()
    };
    let app = embedded_with(wrap, None, limits).await;

    // A transform attempt (the seed wrote the first) of 6,000 rows in 60
    // row groups.
    let dir = artifacts_dir(&app);
    let index = runindex::open(
        &format!("sqlite://{}", dir.with_file_name("runs.db").display()),
        &IndexOptions::default(),
    )
    .await
    .unwrap();
    let store = ArtifactStore::open(dir.to_str().unwrap()).unwrap();
    let options = WriterOptions {
        row_group_rows: 100,
        ..WriterOptions::default()
    };
    let recorder = Recorder::new(index, store, options);
    commit_rows(
        &recorder,
        &app.company,
        &app.run,
        (Phase::Transform, 2),
        &id_name_batch(0, 6_000, |i| format!("row {i}")),
        11,
    )
    .await;
    let folder = ArtifactStore::open(dir.to_str().unwrap()).unwrap();
    let files: Vec<_> = folder
        .object_store()
        .list(None)
        .try_collect()
        .await
        .unwrap();
    for file in files {
        let bytes = folder
            .object_store()
            .get(&file.location)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        memory.put(&file.location, bytes.into()).await.unwrap();
    }

    let search = format!(
        // In every row: the skipping index rules out no row group.
        "{}/phases/transform/data?attempt=2&keyword=row",
        app.run_url()
    );
    counting.reset();
    // The client gives up after 1.5 s, well before the scan's end.
    let gave_up = tokio::time::timeout(Duration::from_millis(1500), app.get(&search)).await;
    assert!(
        gave_up.is_err(),
        "the search finished before it was dropped"
    );
    let at_drop = counting.counts().gets;
    // metadata.parquet and index.parquet's footer, then row groups.
    assert!(
        at_drop >= 6,
        "the row-group scan had started: {at_drop} GETs"
    );
    // Requests already sent finish; no new one starts.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let settled = counting.counts().gets;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        counting.counts().gets,
        settled,
        "the store is still being read for a dropped request"
    );
    // The company's one search slot was given back with it: the same
    // search runs again, to its end.
    assert_eq!(app.get(&search).await.status, StatusCode::OK);
}
