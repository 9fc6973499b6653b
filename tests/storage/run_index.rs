//! One storage story, run against both run-index backends: record phases,
//! search with every filter of contract 4.1, read a run, record phases
//! concurrently.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use dagtrail::model::{Company, DagId, Phase, RunId, RunRef};
use dagtrail::runindex::{PhaseObject, RunIndex, RunSearch, StatusFilter, parse_run_ids};
use serde_json::{Value, json};

use dagtrail::runindex::IndexOptions;

use crate::support::{
    fresh_company, fresh_dag, postgres_index, postgres_index_with, sqlite_index, sqlite_index_with,
};

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
}

fn at(d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, d, h, 0, 0).unwrap()
}

fn run(dag: DagId, d: u32, id: &str) -> RunRef {
    RunRef::new(dag, day(d), RunId::new(id).unwrap())
}

fn object(success: Option<bool>, message: &str, data: Value) -> PhaseObject {
    let object = json!({
        "status": {"success": success, "message": message, "total": 3},
        "s3_data_path": "s3://bucket/x/",
        "attempt": 1,
        "started_at": "2026-11-01T00:00:00.000Z",
        "finished_at": null,
        "data": data,
    });
    PhaseObject::from_json(&object).unwrap()
}

async fn ids(
    index: &Arc<dyn RunIndex>,
    company: &Company,
    dag: DagId,
    search: &RunSearch,
) -> (Vec<String>, u64) {
    let page = index.search_runs(company, &[dag], search).await.unwrap();
    (
        page.items.into_iter().map(|r| r.run_id).collect(),
        page.total,
    )
}

fn range() -> RunSearch {
    RunSearch::new(day(1), day(3))
}

/// `keyword` in the extract phase over `range()`: page `page` of `limit`,
/// counting up to `cap`.
fn extract_search(keyword: &str, limit: u32, page: u32, cap: Option<u64>) -> RunSearch {
    let mut s = range();
    s.keywords = vec![(Phase::Extract, keyword.to_owned())];
    s.limit = limit;
    s.page = page;
    s.count_limit = cap;
    s
}

async fn story(index: Arc<dyn RunIndex>) {
    let a = fresh_company();
    let b = fresh_company();
    let dag = fresh_dag();
    let rec = |company: Company, r: RunRef, phase: Phase, o: PhaseObject, when: DateTime<Utc>| {
        let index = Arc::clone(&index);
        async move {
            index
                .record_phase(&company, &r, phase, &o, when)
                .await
                .unwrap()
        }
    };
    let r1 = run(dag, 1, "r1");
    rec(
        a.clone(),
        r1.clone(),
        Phase::Extract,
        object(
            Some(true),
            "extracted 50% of rows_x",
            json!([{"name": "Ünïcödé Corp", "n": 1}]),
        ),
        at(1, 10),
    )
    .await;
    rec(
        a.clone(),
        r1.clone(),
        Phase::Transform,
        object(Some(false), "boom", json!([])),
        at(1, 11),
    )
    .await;
    let r2 = run(dag, 2, "r2");
    rec(
        a.clone(),
        r2.clone(),
        Phase::Extract,
        object(Some(true), "extracted 500 of rowsAx", json!([])),
        at(2, 9),
    )
    .await;
    rec(
        a.clone(),
        r2.clone(),
        Phase::Transform,
        object(Some(true), "ok", json!([])),
        at(2, 9),
    )
    .await;
    rec(
        a.clone(),
        r2.clone(),
        Phase::Load,
        object(Some(true), r"wrote C:\path\to\file", json!([])),
        at(2, 9),
    )
    .await;
    let r3 = run(dag, 2, "r3");
    rec(
        a.clone(),
        r3.clone(),
        Phase::Extract,
        object(None, "running", json!([])),
        at(2, 11),
    )
    .await;
    let r4 = run(dag, 3, "r4");
    rec(
        a.clone(),
        r4.clone(),
        Phase::Event,
        object(Some(true), "event received", json!([{"trigger": "manual"}])),
        at(3, 1),
    )
    .await;
    rec(
        a.clone(),
        r4.clone(),
        Phase::Extract,
        object(Some(false), "timeout", json!([])),
        at(3, 2),
    )
    .await;
    let old = RunRef::new(
        dag,
        NaiveDate::from_ymd_opt(2026, 10, 1).unwrap(),
        RunId::new("old").unwrap(),
    );
    rec(
        a.clone(),
        old,
        Phase::Extract,
        object(Some(true), "old", json!([])),
        at(1, 1),
    )
    .await;
    rec(
        b.clone(),
        run(dag, 2, "b1"),
        Phase::Extract,
        object(Some(true), "secret-b", json!([])),
        at(2, 12),
    )
    .await;

    // Date range, newest first (date desc, created_at desc).
    assert_eq!(
        ids(&index, &a, dag, &range()).await,
        (vec!["r4".into(), "r3".into(), "r2".into(), "r1".into()], 4)
    );

    // Status filters.
    let with_status = |phase, filter| {
        let mut s = range();
        s.statuses = vec![(phase, filter)];
        s
    };
    assert_eq!(
        ids(
            &index,
            &a,
            dag,
            &with_status(Phase::Extract, StatusFilter::Success)
        )
        .await
        .0,
        ["r2", "r1"]
    );
    assert_eq!(
        ids(
            &index,
            &a,
            dag,
            &with_status(Phase::Extract, StatusFilter::Failed)
        )
        .await
        .0,
        ["r4"]
    );
    assert_eq!(
        ids(
            &index,
            &a,
            dag,
            &with_status(Phase::Extract, StatusFilter::Pending)
        )
        .await
        .0,
        ["r3"]
    );
    assert_eq!(
        ids(
            &index,
            &a,
            dag,
            &with_status(Phase::Transform, StatusFilter::Pending)
        )
        .await
        .0,
        ["r4", "r3"]
    );
    assert_eq!(
        ids(
            &index,
            &a,
            dag,
            &with_status(Phase::Load, StatusFilter::Success)
        )
        .await
        .0,
        ["r2"]
    );
    assert_eq!(
        ids(
            &index,
            &a,
            dag,
            &with_status(Phase::Load, StatusFilter::All)
        )
        .await
        .1,
        4
    );
    let mut both = with_status(Phase::Extract, StatusFilter::Success);
    both.statuses.push((Phase::Transform, StatusFilter::Failed));
    assert_eq!(ids(&index, &a, dag, &both).await.0, ["r1"]);

    // Keywords are literal and Unicode case-insensitive.
    let with_kw = |phase, kw: &str| {
        let mut s = range();
        s.keywords = vec![(phase, kw.to_owned())];
        s
    };
    assert_eq!(
        ids(&index, &a, dag, &with_kw(Phase::Extract, "50%"))
            .await
            .0,
        ["r1"],
        "% must be literal"
    );
    assert_eq!(
        ids(&index, &a, dag, &with_kw(Phase::Extract, "s_x"))
            .await
            .0,
        ["r1"],
        "_ must be literal"
    );
    // The text searched is the phase object's JSON, where `\` is written `\\`.
    assert_eq!(
        ids(&index, &a, dag, &with_kw(Phase::Load, r"path\\to"))
            .await
            .0,
        ["r2"],
        "\\ must be literal"
    );
    assert_eq!(
        ids(&index, &a, dag, &with_kw(Phase::Load, "\\")).await.0,
        ["r2"],
        "a lone \\ is literal too"
    );
    assert_eq!(
        ids(&index, &a, dag, &with_kw(Phase::Extract, "ünïcödé corp"))
            .await
            .0,
        ["r1"],
        "inline data, Unicode folding"
    );
    assert_eq!(
        ids(&index, &a, dag, &with_kw(Phase::Extract, "EXTRACTED"))
            .await
            .0,
        ["r2", "r1"]
    );
    assert_eq!(
        ids(&index, &a, dag, &with_kw(Phase::Event, "manual"))
            .await
            .0,
        ["r4"]
    );
    assert_eq!(
        ids(
            &index,
            &a,
            dag,
            &with_kw(Phase::Transform, "nothing-like-this")
        )
        .await
        .1,
        0
    );
    assert_eq!(
        ids(&index, &a, dag, &with_kw(Phase::Extract, "secret-b"))
            .await
            .1,
        0,
        "tenant isolation"
    );

    // run_ids allowlist.
    let mut allow = range();
    allow.run_ids = parse_run_ids(" r2, r1 ,r2,,zz");
    assert_eq!(
        ids(&index, &a, dag, &allow).await,
        (vec!["r2".into(), "r1".into()], 2)
    );

    // Pages.
    let mut page = range();
    page.limit = 1;
    page.page = 1;
    assert_eq!(ids(&index, &a, dag, &page).await, (vec!["r3".into()], 4));
    page.page = 10;
    assert_eq!(ids(&index, &a, dag, &page).await, (vec![], 4));

    // Tenant isolation: the same dag_id under another company.
    assert_eq!(ids(&index, &b, dag, &range()).await, (vec!["b1".into()], 1));
    assert!(index.get_run(&b, &r1).await.unwrap().is_none());

    // One run: phases without inline data; the full object keeps it.
    let summary = index.get_run(&a, &r1).await.unwrap().unwrap();
    assert_eq!(summary.run_id, "r1");
    assert_eq!(summary.created_at, at(1, 10));
    assert_eq!(summary.updated_at, at(1, 11));
    let extract = summary.phases.extract.unwrap().to_json();
    assert!(extract.get("data").is_none());
    assert_eq!(extract["status"]["message"], "extracted 50% of rows_x");
    assert!(summary.phases.load.is_none() && summary.phases.event.is_none());
    let full = index
        .phase_object(&a, &r1, Phase::Extract)
        .await
        .unwrap()
        .unwrap()
        .to_json();
    assert_eq!(full["data"][0]["name"], "Ünïcödé Corp");
    assert!(
        index
            .phase_object(&a, &r1, Phase::Load)
            .await
            .unwrap()
            .is_none()
    );

    // Re-recording a phase replaces it and keeps the others.
    rec(
        a.clone(),
        r1.clone(),
        Phase::Transform,
        object(Some(true), "retried", json!([])),
        at(1, 12),
    )
    .await;
    let summary = index.get_run(&a, &r1).await.unwrap().unwrap();
    assert_eq!(
        summary.phases.transform.unwrap().to_json()["status"]["success"],
        true
    );
    assert!(summary.phases.extract.is_some());
    assert_eq!(summary.created_at, at(1, 10), "created_at is kept");
}

/// Writers of different phases of the same run at the same time never
/// lose each other's phase.
async fn concurrent_phases(index: Arc<dyn RunIndex>) {
    let company = fresh_company();
    let dag = fresh_dag();
    let mut tasks = Vec::new();
    for i in 0..25 {
        for phase in Phase::ALL {
            let index = Arc::clone(&index);
            let company = company.clone();
            tasks.push(tokio::spawn(async move {
                let r = run(dag, 1, &format!("run-{i}"));
                let o = object(Some(true), phase.as_str(), json!([{"i": i}]));
                index
                    .record_phase(&company, &r, phase, &o, Utc::now())
                    .await
                    .unwrap();
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut search = RunSearch::new(day(1), day(1));
    search.limit = 100;
    let page = index.search_runs(&company, &[dag], &search).await.unwrap();
    assert_eq!(page.total, 25);
    for item in page.items {
        for phase in Phase::ALL {
            let o = item
                .phases
                .get(phase)
                .unwrap_or_else(|| panic!("{} lost {phase}", item.run_id))
                .to_json();
            assert_eq!(o["status"]["message"], phase.as_str());
        }
    }
    // The fleet tables counted each run once, whichever phase created it.
    let days = index.calendar(&company, dag, day(1), day(1)).await.unwrap();
    assert_eq!(
        days.iter()
            .map(|d| (d.runs, d.failed_runs))
            .collect::<Vec<_>>(),
        [(25, 0)]
    );
    let query = dagtrail::runindex::fleet::DagQuery::since(day(1));
    let fleet = index.list_dags(&company, &query).await.unwrap();
    assert_eq!(
        fleet
            .iter()
            .map(|e| (e.state.runs, e.runs_in_window))
            .collect::<Vec<_>>(),
        [(25, 25)]
    );
}

/// With a count limit, `total` is exact up to it and a lower bound above
/// it; `has_more` stays right on every page either way.
async fn count_limit(index: Arc<dyn RunIndex>) {
    let company = fresh_company();
    let dag = fresh_dag();
    for i in 0..25 {
        let r = run(dag, 1 + i % 3, &format!("run-{i:02}"));
        let o = object(
            Some(true),
            "extract",
            json!([{"ref": format!("match {i}")}]),
        );
        index
            .record_phase(&company, &r, Phase::Extract, &o, at(1, 0))
            .await
            .unwrap();
    }
    let search = |page: u32, cap: Option<u64>| extract_search("MATCH", 5, page, cap);
    let page = |p: u32, cap: Option<u64>| {
        let index = Arc::clone(&index);
        let company = company.clone();
        async move {
            index
                .search_runs(&company, &[dag], &search(p, cap))
                .await
                .unwrap()
        }
    };
    let exact = page(0, None).await;
    assert_eq!((exact.total, exact.total_exact), (25, true));
    for cap in [1, 10, 24, 25, 1000] {
        for p in 0..=5 {
            let uncapped = page(p, None).await;
            let capped = page(p, Some(cap)).await;
            // The same runs, in the same order, with the same has_more.
            assert_eq!(
                (&capped.items, capped.has_more),
                (&uncapped.items, uncapped.has_more)
            );
            if capped.total_exact {
                assert_eq!(capped.total, 25, "cap {cap}, page {p}");
            } else {
                // A lower bound: at least the cap and the runs shown so far.
                let seen = if capped.items.is_empty() {
                    0
                } else {
                    5 * u64::from(p) + capped.items.len() as u64
                };
                assert!(
                    cap < 25,
                    "cap {cap} is not exceeded, yet the count is not exact"
                );
                assert!(
                    capped.total >= cap.max(seen) && capped.total <= 25,
                    "cap {cap}, page {p}: {}",
                    capped.total
                );
            }
        }
    }
}

/// More matches than the search collects keys of (1,000 on PostgreSQL):
/// pages walk the newest-first index, and counts follow the count limit.
/// `narrow` is the same index through a one-connection pool: concurrent
/// searches that count exactly must still each get their answer.
async fn many_matches(index: Arc<dyn RunIndex>, narrow: Arc<dyn RunIndex>) {
    const RUNS: u32 = 1_050;
    let company = fresh_company();
    let dag = fresh_dag();
    for i in 0..RUNS {
        let r = run(dag, 1 + i % 3, &format!("run-{i:04}"));
        let o = object(
            Some(i % 2 == 0),
            "extract",
            json!([{"ref": format!(
                "hit {i}{}{}",
                if i % 3 == 0 { " third" } else { "" },
                if i % 100 == 0 { " hundredth" } else { "" }
            )}]),
        );
        let when = at(1, 0) + chrono::Duration::seconds(i64::from(i));
        index
            .record_phase(&company, &r, Phase::Extract, &o, when)
            .await
            .unwrap();
    }
    let search = |page: u32, cap: Option<u64>| extract_search("HIT", 20, page, cap);
    // Newest first: date desc (day 3 holds i % 3 == 2), then created_at desc.
    let mut expected: Vec<u32> = (0..RUNS).collect();
    expected.sort_by_key(|i| std::cmp::Reverse((i % 3, *i)));
    for (page, cap) in [
        (0, None),
        (0, Some(1000)),
        (17, Some(1000)),
        (52, Some(5000)),
        (52, None),
    ] {
        let got = index
            .search_runs(&company, &[dag], &search(page, cap))
            .await
            .unwrap();
        let want: Vec<String> = expected
            .iter()
            .skip(page as usize * 20)
            .take(20)
            .map(|i| format!("run-{i:04}"))
            .collect();
        let ids: Vec<String> = got.items.iter().map(|r| r.run_id.clone()).collect();
        assert_eq!(ids, want, "page {page}, cap {cap:?}");
        assert_eq!(got.has_more, page < 52, "page {page}");
        match cap {
            Some(1000) => assert!(!got.total_exact && got.total >= 1000 && got.total <= 1050),
            _ => assert_eq!((got.total, got.total_exact), (1050, true), "cap {cap:?}"),
        }
    }
    // One run in three (PostgreSQL pages it by walking: common among the
    // runs it probes first) and one in a hundred (collected from the
    // index): counted exactly below the count limit, pages in order.
    for (keyword, every) in [("THIRD", 3), ("hundredth", 100)] {
        let want: Vec<String> = expected
            .iter()
            .filter(|i| *i % every == 0)
            .map(|i| format!("run-{i:04}"))
            .collect();
        for page in [0, 1, 17] {
            let got = index
                .search_runs(
                    &company,
                    &[dag],
                    &extract_search(keyword, 20, page, Some(1000)),
                )
                .await
                .unwrap();
            let ids: Vec<String> = got.items.iter().map(|r| r.run_id.clone()).collect();
            let wanted: Vec<String> = want
                .iter()
                .skip(page as usize * 20)
                .take(20)
                .cloned()
                .collect();
            assert_eq!(ids, wanted, "{keyword}, page {page}");
            assert_eq!(
                (got.total, got.total_exact),
                (want.len() as u64, true),
                "{keyword}"
            );
        }
    }
    let exact = |page| {
        let (index, narrow, company) = (&index, &narrow, &company);
        async move {
            let s = search(page, None);
            let wide = index.search_runs(company, &[dag], &s).await.unwrap();
            (wide, narrow.search_runs(company, &[dag], &s).await)
        }
    };
    for (wide, narrow) in futures::future::join_all([0, 1, 17, 52].map(exact)).await {
        let narrow = narrow.expect("a one-connection pool answers concurrent searches");
        assert_eq!((narrow.total, narrow.has_more), (wide.total, wide.has_more));
        assert_eq!(narrow.items, wide.items);
    }
    // Status filters go through the same paths.
    let mut failed = search(0, Some(1000));
    failed.statuses = vec![(Phase::Extract, StatusFilter::Failed)];
    let got = index.search_runs(&company, &[dag], &failed).await.unwrap();
    assert_eq!(
        (got.total, got.total_exact, got.items.len()),
        (525, true, 20)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_many_matches() {
    let dir = tempfile::tempdir().unwrap();
    let narrow = sqlite_index_with(&dir, &one_connection()).await;
    many_matches(sqlite_index(&dir).await, narrow).await;
}

/// A pool of one connection that gives up waiting for it after 2 s.
fn one_connection() -> IndexOptions {
    IndexOptions {
        max_connections: 1,
        acquire_timeout: std::time::Duration::from_secs(2),
        ..IndexOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_many_matches() {
    let Some(index) = postgres_index().await else {
        return;
    };
    let Some(narrow) = postgres_index_with(&one_connection()).await else {
        return;
    };
    many_matches(index, narrow).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_count_limit() {
    let dir = tempfile::tempdir().unwrap();
    count_limit(sqlite_index(&dir).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_count_limit() {
    let Some(index) = postgres_index().await else {
        return;
    };
    count_limit(index).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_story() {
    let dir = tempfile::tempdir().unwrap();
    story(sqlite_index(&dir).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_concurrent_phases() {
    let dir = tempfile::tempdir().unwrap();
    concurrent_phases(sqlite_index(&dir).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_story() {
    let Some(index) = postgres_index().await else {
        return;
    };
    story(index).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_concurrent_phases() {
    let Some(index) = postgres_index().await else {
        return;
    };
    concurrent_phases(index).await;
}

/// A SQLite file written by another tool that follows the contract is
/// served as it is (no migration, text columns as the contract says).
#[tokio::test]
async fn sqlite_file_from_another_tool_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    let url = format!("sqlite://{}", path.display());
    let setup = sqlx::sqlite::SqlitePoolOptions::new()
        .connect_with(
            sqlx::sqlite::SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true),
        )
        .await
        .unwrap();
    sqlx::raw_sql(
        "CREATE TABLE etl_logs (id_company TEXT NOT NULL, dag_id TEXT NOT NULL, date TEXT NOT NULL, \
         run_id TEXT NOT NULL, log TEXT NOT NULL DEFAULT '{}', created_at TEXT NOT NULL, updated_at TEXT NOT NULL, \
         PRIMARY KEY (id_company, dag_id, date, run_id)); \
         INSERT INTO etl_logs VALUES ('acme', '9f0c4c2e-8b4b-4c59-9e0f-1b2b3c4d5e6f', '2026-11-27', \
         'scheduled__2026-11-27T00:00:00+00:00', \
         '{\"extract\": {\"status\": {\"success\": true, \"message\": \"ok \\u0391\\u03a3\\u03a4\\u03a1\\u039f Zo\\u00EB\", \"total\": 1}, \"data\": [{\"x\": 1}]}}', \
         '2026-11-27T00:00:01.123456Z', '2026-11-27T00:00:02.000000Z');",
    )
    .execute(&setup)
    .await
    .unwrap();
    setup.close().await;
    let options = dagtrail::runindex::IndexOptions {
        migrate: false,
        ..Default::default()
    };
    let index = dagtrail::runindex::open(&url, &options).await.unwrap();
    let company = Company::new("acme").unwrap();
    let dag: DagId = "9f0c4c2e-8b4b-4c59-9e0f-1b2b3c4d5e6f".parse().unwrap();
    let mut search = RunSearch::new(day(27), day(27));
    search.statuses = vec![(Phase::Extract, StatusFilter::Success)];
    let page = index.search_runs(&company, &[dag], &search).await.unwrap();
    assert_eq!(page.total, 1);
    assert_eq!(page.items[0].created_at.timestamp_subsec_micros(), 123_456);
    // Written as Python's json.dumps writes it (\u escapes): keywords find
    // the characters all the same.
    for keyword in ["ας", "ΑΣΤΡΟ", "zoë", "ZOË"] {
        let mut search = RunSearch::new(day(27), day(27));
        search.keywords = vec![(Phase::Extract, keyword.to_owned())];
        let page = index.search_runs(&company, &[dag], &search).await.unwrap();
        assert_eq!(page.total, 1, "{keyword}");
    }
    assert!(
        page.items[0]
            .phases
            .extract
            .as_ref()
            .unwrap()
            .to_json()
            .get("data")
            .is_none()
    );
}

/// A query that found no connection says why: a database that refuses
/// connections is "refused", not "pool timed out" (which it was, after
/// the whole wait).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_is_told_as_refused() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let options = IndexOptions {
        migrate: false,
        acquire_timeout: std::time::Duration::from_millis(300),
        ..IndexOptions::default()
    };
    let index = dagtrail::runindex::open(
        &format!("postgres://dagtrail@127.0.0.1:{port}/runs"),
        &options,
    )
    .await
    .unwrap();
    let failed = index
        .search_runs(&fresh_company(), &[fresh_dag()], &range())
        .await
        .unwrap_err();
    assert!(failed.to_string().contains("pool timed out"), "{failed}");
    let told = index.diagnose(failed).await;
    assert!(
        matches!(told, dagtrail::runindex::IndexError::Unreachable(_)),
        "{told}"
    );
    assert!(
        told.to_string().to_lowercase().contains("refused"),
        "{told}"
    );
}

/// A query that waited while every connection of the pool was in use is
/// told as "busy" (the database answers; the process is saturated).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saturated_pool_is_told_as_busy() {
    let Some(url) = crate::support::postgres_url() else {
        return;
    };
    let Some(index) = postgres_index_with(&IndexOptions {
        max_connections: 1,
        acquire_timeout: std::time::Duration::from_millis(300),
        ..IndexOptions::default()
    })
    .await
    else {
        return;
    };
    let company = fresh_company();
    let dag = fresh_dag();
    // The pool's one connection waits on a lock held elsewhere.
    let mut holder = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    sqlx::query("BEGIN").execute(&mut holder).await.unwrap();
    sqlx::query("LOCK TABLE etl.logs IN ACCESS EXCLUSIVE MODE")
        .execute(&mut holder)
        .await
        .unwrap();
    let waiting = {
        let index = Arc::clone(&index);
        let company = company.clone();
        tokio::spawn(async move { index.search_runs(&company, &[dag], &range()).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let failed = index.search_runs(&company, &[dag], &range()).await;
    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    let told = index.diagnose(failed.unwrap_err()).await;
    assert!(
        matches!(told, dagtrail::runindex::IndexError::Busy { max: 1 }),
        "{told}"
    );
    waiting.await.unwrap().unwrap();
}

/// The fleet as one company sees it: its DAGs and each DAG's days.
async fn fleet_of(
    index: &dyn RunIndex,
    company: &Company,
    dags: [DagId; 2],
) -> (
    Vec<dagtrail::runindex::fleet::DagEntry>,
    Vec<Vec<dagtrail::runindex::fleet::DayCount>>,
) {
    let query = dagtrail::runindex::fleet::DagQuery::since(day(1));
    let mut days = Vec::new();
    let listed = index.list_dags(company, &query).await.unwrap();
    for dag in dags {
        days.push(index.calendar(company, dag, day(1), day(30)).await.unwrap());
        // One DAG read by its key is the same entry as in the list.
        let one = dagtrail::runindex::fleet::DagQuery {
            dag: Some(dag),
            ..query.clone()
        };
        let alone = index.list_dags(company, &one).await.unwrap();
        let in_list: Vec<_> = listed.iter().filter(|e| e.dag_id == dag).cloned().collect();
        assert_eq!(alone, in_list);
    }
    (listed, days)
}

/// Writes a story of retries and failures over two DAGs and names one;
/// returns the company, the DAGs and the fleet the writes kept.
async fn fleet_story(
    index: &dyn RunIndex,
) -> (
    Company,
    [DagId; 2],
    (
        Vec<dagtrail::runindex::fleet::DagEntry>,
        Vec<Vec<dagtrail::runindex::fleet::DayCount>>,
    ),
) {
    use dagtrail::runindex::fleet::DagInfo;
    let company = fresh_company();
    let (a, b) = (fresh_dag(), fresh_dag());
    let writes = [
        (a, 1, "r1", Phase::Extract, Some(true), 1),
        (a, 1, "r1", Phase::Load, Some(false), 2),
        (a, 2, "r2", Phase::Extract, Some(false), 3),
        (a, 2, "r2", Phase::Extract, Some(true), 4),
        (a, 3, "r3", Phase::Transform, None, 5),
        (b, 2, "s1", Phase::Extract, Some(false), 6),
        (b, 1, "s0", Phase::Extract, Some(true), 7),
    ];
    for (dag, d, id, phase, success, hour) in writes {
        index
            .record_phase(
                &company,
                &run(dag, d, id),
                phase,
                &object(success, &format!("{id} {phase}"), json!([])),
                at(d, hour),
            )
            .await
            .unwrap();
    }
    let info = DagInfo {
        name: Some("a".into()),
        tags: vec!["t".into()],
        ..DagInfo::default()
    };
    index.record_dag(&company, a, &info).await.unwrap();
    let written = fleet_of(index, &company, [a, b]).await;
    assert_eq!(written.0.len(), 2);
    assert_eq!(written.0[0].info, info);
    assert_eq!(
        written.1[0]
            .iter()
            .map(|d| (d.runs, d.failed_runs))
            .collect::<Vec<_>>(),
        [(1, 1), (1, 0), (1, 0)]
    );
    (company, [a, b], written)
}

/// What writes keep in the fleet tables is what a rebuild from the runs
/// finds (the rule is one; the two paths must agree): a database brought
/// from version 1 shows the same fleet as one written with version 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_fleet_rebuilt_from_the_runs_matches_what_writes_kept() {
    use dagtrail::runindex::sqlite::SqliteIndex;

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("runs.db").display());
    let index = SqliteIndex::connect(&url, &IndexOptions::default())
        .await
        .unwrap();
    let (company, dags, written) = fleet_story(&index).await;
    let timed = timed_run(&index).await;
    sqlx::query("UPDATE etl_logs SET duration_ms = NULL")
        .execute(index.pool())
        .await
        .unwrap();
    sqlx::query("DELETE FROM dagtrail_schema")
        .execute(index.pool())
        .await
        .unwrap();
    index.migrate().await.unwrap();
    assert_eq!(
        fleet_of(&index, &company, dags).await,
        written,
        "the rebuild keeps the catalog and finds the same state"
    );
    assert_eq!(duration_of(&index, &timed).await, Some(90_000));
}

/// Records a run whose extract took 90 s, of a company of its own.
async fn timed_run(index: &dyn RunIndex) -> (Company, DagId) {
    let (company, dag) = (fresh_company(), fresh_dag());
    let object = json!({
        "status": {"success": true},
        "started_at": "2026-11-05T06:00:00Z",
        "finished_at": "2026-11-05T06:01:30+00:00",
    });
    index
        .record_phase(
            &company,
            &run(dag, 5, "timed"),
            Phase::Extract,
            &PhaseObject::from_json(&object).unwrap(),
            at(5, 6),
        )
        .await
        .unwrap();
    assert_eq!(
        duration_of(index, &(company.clone(), dag)).await,
        Some(90_000)
    );
    (company, dag)
}

/// The stored duration of the run of [`timed_run`].
async fn duration_of(index: &dyn RunIndex, (company, dag): &(Company, DagId)) -> Option<i64> {
    let page = index
        .search_runs(company, &[*dag], &RunSearch::new(day(5), day(5)))
        .await
        .unwrap();
    page.items[0].duration_ms
}

/// A database of its own on the test server, for tests that migrate (a
/// migration works on every company of its database).
struct OwnDatabase {
    admin: sqlx::PgPool,
    name: String,
    url: url::Url,
}

impl OwnDatabase {
    /// `None` (skip) outside CI without the test server.
    async fn create(prefix: &str) -> Option<Self> {
        let url = crate::support::postgres_url()?;
        let name = format!(
            "{prefix}_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..10]
        );
        let admin = sqlx::PgPool::connect(&url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .unwrap();
        let mut own = url::Url::parse(&url).unwrap();
        own.set_path(&format!("/{name}"));
        Some(Self {
            admin,
            name,
            url: own,
        })
    }

    async fn drop(self) {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE {} WITH (FORCE)",
            self.name
        )))
        .execute(&self.admin)
        .await
        .unwrap();
    }
}

/// The same on PostgreSQL, in a database of its own (a migration rebuilds
/// every company's fleet).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_fleet_rebuilt_from_the_runs_matches_what_writes_kept() {
    use dagtrail::runindex::postgres::PostgresIndex;

    let Some(database) = OwnDatabase::create("fleet").await else {
        return;
    };
    let own = database.url.clone();
    let index = PostgresIndex::connect(own.as_str(), &IndexOptions::default())
        .await
        .unwrap();
    let (company, dags, written) = fleet_story(&index).await;
    let timed = timed_run(&index).await;
    let blank = || sqlx::query("UPDATE etl.logs SET duration_ms = NULL").execute(index.pool());
    blank().await.unwrap();
    sqlx::query("DELETE FROM etl.dagtrail_schema")
        .execute(index.pool())
        .await
        .unwrap();
    index.migrate().await.unwrap();
    assert_eq!(
        fleet_of(&index, &company, dags).await,
        written,
        "the rebuild keeps the catalog and finds the same state"
    );
    assert_eq!(duration_of(&index, &timed).await, Some(90_000));
    // And on demand, as `migrate --rebuild-fleet` does.
    blank().await.unwrap();
    index.rebuild_fleet().await.unwrap();
    assert_eq!(fleet_of(&index, &company, dags).await, written);
    assert_eq!(duration_of(&index, &timed).await, Some(90_000));
    index.pool().close().await;
    database.drop().await;
}

/// Phases another tool wrote as JSON null, a scalar, or with a string
/// `success` are read leniently everywhere: searched, filtered by run
/// status, written over, and listed in the fleet (PostgreSQL's `jsonb -
/// text` used to fail on them with "cannot delete from scalar").
async fn odd_phases_written_by_another_tool(
    index: Arc<dyn RunIndex>,
    raw: RawSql,
    insert: &'static str,
) {
    let company = fresh_company();
    let dag = fresh_dag();
    raw(
        insert,
        vec![
            company.as_str().to_owned(),
            dag.to_string(),
            r#"{"event": null, "extract": "text", "transform": {"status": {"success": "false"}}}"#
                .to_owned(),
        ],
    )
    .await;
    let mut search = RunSearch::new(day(1), day(3));
    let page = index.search_runs(&company, &[dag], &search).await.unwrap();
    assert_eq!(page.total, 1);
    let status_of = |statuses: Vec<dagtrail::runindex::fleet::RunStatus>| {
        let mut s = search.clone();
        s.run_statuses = statuses;
        s
    };
    use dagtrail::runindex::fleet::RunStatus;
    // As RunStatus::of reads it: present phases without a boolean success
    // are running.
    let summary = &page.items[0];
    assert_eq!(RunStatus::of(&summary.phases), Some(RunStatus::Running));
    for (status, expected) in [
        (RunStatus::Running, 1),
        (RunStatus::Failed, 0),
        (RunStatus::Succeeded, 0),
    ] {
        let found = index
            .search_runs(&company, &[dag], &status_of(vec![status]))
            .await
            .unwrap();
        assert_eq!(found.total, expected, "{status:?}");
    }
    // Recording a phase of that run, and listing the fleet, work.
    index
        .record_phase(
            &company,
            &run(dag, 2, "odd"),
            Phase::Load,
            &object(Some(false), "boom", json!([])),
            at(2, 9),
        )
        .await
        .unwrap();
    search.run_statuses = vec![RunStatus::Failed];
    assert_eq!(
        index
            .search_runs(&company, &[dag], &search)
            .await
            .unwrap()
            .total,
        1
    );
    let query = dagtrail::runindex::fleet::DagQuery::since(day(1));
    let fleet = index.list_dags(&company, &query).await.unwrap();
    assert_eq!(fleet.len(), 1);
    assert_eq!(
        fleet[0].state.last_run.as_ref().map(|(_, s)| *s),
        Some(Some(RunStatus::Failed))
    );
}

/// Runs SQL straight against the run index, as another tool would: the
/// statement and its text parameters (`?1`.. / `$1`..; PostgreSQL casts
/// them in the SQL).
type RawSql = Box<dyn Fn(&'static str, Vec<String>) -> futures::future::BoxFuture<'static, ()>>;

fn sqlite_raw(dir: &tempfile::TempDir) -> RawSql {
    let url = format!("sqlite://{}", dir.path().join("runs.db").display());
    Box::new(move |sql, params| {
        let url = url.clone();
        Box::pin(async move {
            let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
            let mut query = sqlx::query(sql);
            for param in params {
                query = query.bind(param);
            }
            query.execute(&pool).await.unwrap();
        })
    })
}

fn postgres_raw(url: String) -> RawSql {
    Box::new(move |sql, params| {
        let url = url.clone();
        Box::pin(async move {
            let pool = sqlx::PgPool::connect(&url).await.unwrap();
            let mut query = sqlx::query(sql);
            for param in params {
                query = query.bind(param);
            }
            query.execute(&pool).await.unwrap();
        })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_odd_phases_written_by_another_tool() {
    let dir = tempfile::tempdir().unwrap();
    let index = sqlite_index(&dir).await;
    odd_phases_written_by_another_tool(
        index,
        sqlite_raw(&dir),
        "INSERT INTO etl_logs (id_company, dag_id, date, run_id, log, created_at, updated_at) \
         VALUES (?1, ?2, '2026-11-02', 'odd', ?3, '2026-11-02T00:00:00.000000Z', '2026-11-02T00:00:00.000000Z')",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_odd_phases_written_by_another_tool() {
    let Some(index) = postgres_index().await else {
        return;
    };
    let Some(url) = crate::support::postgres_url() else {
        return;
    };
    odd_phases_written_by_another_tool(
        index,
        postgres_raw(url),
        "INSERT INTO etl.logs (id_company, dag_id, date, run_id, log) \
         VALUES ($1, $2::uuid, '2026-11-02', 'odd', $3::jsonb)",
    )
    .await;
}

/// Keyword searches find what the text index was not told about: a run
/// another tool inserts, one it changes behind dagtrail's back, and one
/// dagtrail writes after that; a rebuild (when `rebuild`: on PostgreSQL
/// it would lock the shared test database) indexes what another tool
/// wrote, and the answers stay the same.
async fn keywords_find_what_other_tools_write(
    index: Arc<dyn RunIndex>,
    raw: RawSql,
    sql: [&'static str; 2],
    rebuild: bool,
) {
    let company = fresh_company();
    let dag = fresh_dag();
    for (id, needle) in [("ours", "Needle-Ours"), ("kept", "Needle-Kept")] {
        index
            .record_phase(
                &company,
                &run(dag, 2, id),
                Phase::Extract,
                &object(Some(true), "ok", json!([{ "name": needle }])),
                at(2, 6),
            )
            .await
            .unwrap();
    }
    let [insert, update] = sql;
    // Its SQL gets the company and the DAG.
    for sql in [insert, update] {
        raw(sql, vec![company.as_str().to_owned(), dag.to_string()]).await;
    }
    let found = |keyword: &'static str| {
        let (index, company) = (index.clone(), company.clone());
        async move {
            let mut search = RunSearch::new(day(1), day(3));
            search.keywords = vec![(Phase::Extract, keyword.to_owned())];
            let page = index.search_runs(&company, &[dag], &search).await.unwrap();
            let mut ids: Vec<String> = page.items.into_iter().map(|r| r.run_id).collect();
            ids.sort();
            ids
        }
    };
    let expect = [
        ("needle-ours", vec![]),
        ("changed-needle", vec!["ours"]),
        ("needle-kept", vec!["kept"]),
        ("needle-theirs", vec!["theirs"]),
        ("zoë needle", vec!["theirs"]),
        ("ZOË NEEDLE-THEIRS", vec!["theirs"]),
        ("needle", vec!["kept", "ours", "theirs"]),
        ("no such needle", vec![]),
    ];
    for (keyword, ids) in &expect {
        assert_eq!(found(keyword).await, *ids, "{keyword}");
    }
    // dagtrail writes a phase of the run another tool inserted.
    index
        .record_phase(
            &company,
            &run(dag, 2, "theirs"),
            Phase::Load,
            &object(Some(true), "loaded", json!([])),
            at(2, 8),
        )
        .await
        .unwrap();
    for (keyword, ids) in &expect {
        assert_eq!(found(keyword).await, *ids, "{keyword} after a write");
    }
    if rebuild {
        index.rebuild_fleet().await.unwrap();
        for (keyword, ids) in &expect {
            assert_eq!(found(keyword).await, *ids, "{keyword} after a rebuild");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_keywords_find_what_other_tools_write() {
    let dir = tempfile::tempdir().unwrap();
    let index = sqlite_index(&dir).await;
    let raw = sqlite_raw(&dir);
    // Python's json.dumps escapes ë as \u00eb.
    let sql = [
        "INSERT INTO etl_logs (id_company, dag_id, date, run_id, log, created_at, updated_at) \
         VALUES (?1, ?2, '2026-11-02', 'theirs', \
         '{\"extract\": {\"status\": {\"success\": true}, \"data\": [{\"name\": \"Zo\\u00eb Needle-Theirs\"}]}}', \
         '2026-11-02T00:00:00.000000Z', '2026-11-02T00:00:00.000000Z')",
        "UPDATE etl_logs SET log = json_set(log, '$.extract.data', json('[{\"name\": \"Changed-Needle\"}]')) \
         WHERE id_company = ?1 AND dag_id = ?2 AND run_id = 'ours'",
    ];
    keywords_find_what_other_tools_write(index.clone(), raw, sql, true).await;
    let pool = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        dir.path().join("runs.db").display()
    ))
    .await
    .unwrap();
    let unindexed: i64 = sqlx::query_scalar("SELECT count(*) FROM etl_logs WHERE text_id IS NULL")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(unindexed, 0, "the rebuild indexed every run");
    // The index holds the folded texts, escapes decoded: it is what
    // narrowed the searches above.
    for (query, runs) in [
        ("extract : (\"nee\" AND \"dle\")", 3),
        ("extract : (\"zoë\")", 1),
        ("extract : (\"cha\" AND \"-ne\")", 1),
        ("load : (\"loa\")", 1),
    ] {
        let found: i64 =
            sqlx::query_scalar("SELECT count(*) FROM etl_logs_text WHERE etl_logs_text MATCH ?1")
                .bind(query)
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(found, runs, "{query}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_keywords_find_what_other_tools_write() {
    let Some(index) = postgres_index().await else {
        return;
    };
    let Some(url) = crate::support::postgres_url() else {
        return;
    };
    let raw = postgres_raw(url);
    let sql = [
        "INSERT INTO etl.logs (id_company, dag_id, date, run_id, log) VALUES ($1, $2::uuid, '2026-11-02', 'theirs', \
         '{\"extract\": {\"status\": {\"success\": true}, \"data\": [{\"name\": \"Zo\\u00eb Needle-Theirs\"}]}}'::jsonb)",
        "UPDATE etl.logs SET log = jsonb_set(log, '{extract,data}', '[{\"name\": \"Changed-Needle\"}]') \
         WHERE id_company = $1 AND dag_id = $2::uuid AND run_id = 'ours'",
    ];
    keywords_find_what_other_tools_write(index, raw, sql, false).await;
}

/// The migration to version 4 on PostgreSQL blocks neither readers nor
/// writers: 20,000 runs written by a version 3 dagtrail (no phase texts)
/// are migrated while a reader and a writer go on with a lock timeout of
/// 100 ms (filling the texts and building the indexes take seconds: with
/// the fill under an exclusive lock, as `ALTER TABLE` held it before the
/// migration was split, a read times out). Afterwards the old runs' texts are searched
/// through the new index and the new runs are found too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_migration_to_the_text_index_lets_reads_and_writes_go_on() {
    use dagtrail::runindex::postgres::PostgresIndex;

    let Some(database) = OwnDatabase::create("migr").await else {
        return;
    };
    let own = database.url.clone();
    let index = PostgresIndex::connect(own.as_str(), &IndexOptions::default())
        .await
        .unwrap();
    let company = fresh_company();
    let dag = fresh_dag();
    // Version 3's table: no text columns, no trigger, the version recorded.
    sqlx::raw_sql(
        "DROP TRIGGER logs_phase_texts ON etl.logs; \
         ALTER TABLE etl.logs DROP COLUMN event_text, DROP COLUMN extract_text, \
           DROP COLUMN transform_text, DROP COLUMN load_text; \
         DELETE FROM etl.dagtrail_schema; INSERT INTO etl.dagtrail_schema VALUES (3)",
    )
    .execute(index.pool())
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO etl.logs (id_company, dag_id, date, run_id, log) \
         SELECT $1, $2, DATE '2026-11-01' + (i % 3), 'old__' || i, jsonb_build_object( \
           'extract', jsonb_build_object('status', jsonb_build_object('success', true, 'message', 'ok'), \
             'data', (SELECT jsonb_agg(jsonb_build_object('ref', 'needle<' || i || '>', 'k', k, \
                        'pad', repeat('x', 100))) FROM generate_series(1, 10) k))) \
         FROM generate_series(1, 20000) i",
    )
    .bind(company.as_str())
    .bind(dag.0)
    .execute(index.pool())
    .await
    .unwrap();
    let mut timed = own.clone();
    timed
        .query_pairs_mut()
        .append_pair("options", "-c lock_timeout=100");
    let options = IndexOptions {
        migrate: false,
        ..IndexOptions::default()
    };
    let user: Arc<dyn RunIndex> = Arc::new(
        PostgresIndex::connect(timed.as_str(), &options)
            .await
            .unwrap(),
    );
    let migrating = tokio::spawn({
        let index = index.clone();
        async move { index.migrate().await }
    });
    let (mut reads, mut writes) = (0, 0);
    while !migrating.is_finished() {
        let page = user.search_runs(&company, &[dag], &range()).await;
        assert!(page.is_ok(), "a read during the migration: {page:?}");
        reads += 1;
        let written = user
            .record_phase(
                &company,
                &run(dag, 2, &format!("new__{writes}")),
                Phase::Extract,
                &object(
                    Some(true),
                    "ok",
                    json!([{"ref": format!("fresh<{writes}>")}]),
                ),
                Utc::now(),
            )
            .await;
        assert!(written.is_ok(), "a write during the migration: {written:?}");
        writes += 1;
    }
    migrating.await.unwrap().unwrap();
    assert!(
        reads >= 3,
        "the migration was over before it could be read beside ({reads} reads)"
    );
    let version: i32 = sqlx::query_scalar("SELECT max(version) FROM etl.dagtrail_schema")
        .fetch_one(index.pool())
        .await
        .unwrap();
    assert_eq!(version, dagtrail::runindex::SCHEMA_VERSION);
    let invalid: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
         WHERE c.relname LIKE 'logs_%' AND NOT i.indisvalid",
    )
    .fetch_one(index.pool())
    .await
    .unwrap();
    assert_eq!(invalid, 0, "every index built is valid");
    // A fresh server reads the texts (version 4 recorded) through the index.
    let after: Arc<dyn RunIndex> = Arc::new(
        PostgresIndex::connect(own.as_str(), &options)
            .await
            .unwrap(),
    );
    let (found, total) = ids(
        &after,
        &company,
        dag,
        &extract_search("NEEDLE<1234>", 10, 0, None),
    )
    .await;
    assert_eq!((found, total), (vec!["old__1234".to_owned()], 1));
    let last = format!("fresh<{}>", writes - 1);
    let (found, _) = ids(&after, &company, dag, &extract_search(&last, 10, 0, None)).await;
    assert_eq!(found, vec![format!("new__{}", writes - 1)]);
    let plan: Vec<String> =
        sqlx::query_scalar("EXPLAIN SELECT 1 FROM etl.logs WHERE extract_text ~ '[Nn]eedle<1234>'")
            .fetch_all(index.pool())
            .await
            .unwrap();
    assert!(
        plan.iter()
            .any(|line| line.contains("logs_extract_text_trgm")),
        "the keyword is looked up in the trigram index: {plan:?}"
    );
    index.pool().close().await;
    drop((user, after));
    database.drop().await;
}
