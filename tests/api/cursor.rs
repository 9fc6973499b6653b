//! Keyset pages (`cursor`/`next_cursor`), the duration order and the run
//! search across DAGs (`GET /api/v1/runs`), on both backends.

use std::collections::HashMap;

use axum::http::StatusCode;
use chrono::{Duration, NaiveDate, TimeZone, Utc};
use dagtrail::model::{Company, DagId, Phase, RunId, RunRef};
use dagtrail::runindex::{PhaseObject, RunIndex};
use serde_json::{Value, json};

use crate::both_backends;
use crate::support::{TestApp, encode};

/// Records one phase straight into the run index (no artifacts: these
/// tests are about the index), finished `minutes` after 06:00 of its day.
async fn record(
    index: &dyn RunIndex,
    company: &Company,
    dag: DagId,
    date: NaiveDate,
    run_id: &str,
    minutes: Option<i64>,
) {
    let start = Utc.from_utc_datetime(&date.and_hms_opt(6, 0, 0).unwrap());
    let mut object = json!({"status": {"success": true, "message": "ok"}, "attempt": 1});
    if let Some(m) = minutes {
        object["started_at"] = start.to_rfc3339().into();
        object["finished_at"] = (start + Duration::minutes(m)).to_rfc3339().into();
    }
    let run = RunRef::new(dag, date, RunId::new(run_id.to_owned()).unwrap());
    index
        .record_phase(
            company,
            &run,
            Phase::Extract,
            &PhaseObject::from_json(&object).unwrap(),
            start,
        )
        .await
        .unwrap();
}

fn day(n: i64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 1, 1).unwrap() + Duration::days(n)
}

fn run_ids(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap().to_owned())
        .collect()
}

/// Walks a 5,000-run search to its end with the cursor while another
/// task records new runs into it: every run there at the start is seen
/// exactly once, no run twice, and the page numbers follow each other.
async fn the_cursor_walks_every_run_once_while_runs_arrive(app: TestApp) {
    let index = app.recorder.run_index().clone();
    let dag = DagId(uuid::Uuid::new_v4());
    const RUNS: i64 = 5_000;
    for i in 0..RUNS {
        record(
            &*index,
            &app.company,
            dag,
            day(i % 300),
            &format!("old__{i:05}"),
            None,
        )
        .await;
    }
    let arriving = {
        let (index, company) = (index.clone(), app.company.clone());
        tokio::spawn(async move {
            for i in 0..300 {
                record(
                    &*index,
                    &company,
                    dag,
                    day(i % 300),
                    &format!("new__{i:05}"),
                    None,
                )
                .await;
            }
        })
    };
    let base = format!("/api/v1/dags/{dag}/runs?date_from=2025-01-01&date_to=2025-12-31&limit=100");
    let mut seen: HashMap<String, u32> = HashMap::new();
    let mut url = base.clone();
    let mut pages = 0;
    loop {
        let body = app.get(&url).await.ok_json();
        assert_eq!(body["page"], pages, "{url}");
        for id in run_ids(&body) {
            *seen.entry(id).or_default() += 1;
        }
        pages += 1;
        match body["next_cursor"].as_str() {
            Some(cursor) => {
                assert_eq!(body["has_more"], true);
                url = format!("{base}&cursor={}", encode(cursor));
            }
            None => {
                assert_eq!(body["has_more"], false);
                break;
            }
        }
    }
    arriving.await.unwrap();
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "seen twice: {twice:?}");
    for i in 0..RUNS {
        assert!(
            seen.contains_key(&format!("old__{i:05}")),
            "old__{i:05} missed"
        );
    }
    assert!(pages >= 50, "{pages} pages");
    // Runs that arrived may or may not be seen (behind the walk or ahead).
    assert!(seen.len() <= RUNS as usize + 300, "{}", seen.len());

    // The cursor pages are the offset pages, run for run.
    let first = app.get(&base).await.ok_json();
    let cursor = first["next_cursor"].as_str().unwrap();
    let by_cursor = app
        .get(&format!("{base}&cursor={}", encode(cursor)))
        .await
        .ok_json();
    let by_offset = app.get(&format!("{base}&page=1")).await.ok_json();
    assert_eq!(run_ids(&by_cursor), run_ids(&by_offset));
    assert_eq!(by_cursor["total"], by_offset["total"]);
}

/// A cursor continues only the search it came from, for the company it
/// came from, unchanged; and it excludes `page`.
async fn a_cursor_is_tied_to_its_search(app: TestApp) {
    let index = app.recorder.run_index().clone();
    let dag = DagId(uuid::Uuid::new_v4());
    for i in 0..5 {
        record(
            &*index,
            &app.company,
            dag,
            day(i),
            &format!("run__{i}"),
            Some(i),
        )
        .await;
    }
    let base = format!("/api/v1/dags/{dag}/runs?date_from=2025-01-01&date_to=2025-01-31&limit=2");
    let first = app.get(&base).await.ok_json();
    assert_eq!(run_ids(&first), ["run__4", "run__3"]);
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let next = app
        .get(&format!("{base}&cursor={}", encode(&cursor)))
        .await
        .ok_json();
    assert_eq!(run_ids(&next), ["run__2", "run__1"]);
    assert_eq!(next["page"], 1);
    let last = app
        .get(&format!(
            "{base}&cursor={}",
            encode(next["next_cursor"].as_str().unwrap())
        ))
        .await
        .ok_json();
    assert_eq!(run_ids(&last), ["run__0"]);
    assert_eq!(
        (last["page"].as_u64(), last["has_more"].as_bool()),
        (Some(2), Some(false))
    );
    assert!(last["next_cursor"].is_null());

    let refused = |reply: crate::support::Reply, why: &str| {
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{why}");
        let body: Value = reply.json();
        assert_eq!(body["detail"][0]["loc"][1], "cursor", "{why}: {body}");
    };
    // Another search: another filter, order, page size, DAG.
    for other in [
        format!("{base}&extract_status=success"),
        format!("{base}&sort=date"),
        base.replace("limit=2", "limit=3"),
        base.replace("2025-01-31", "2025-01-30"),
        base.replace(&dag.to_string(), &uuid::Uuid::new_v4().to_string()),
    ] {
        let reply = app
            .get(&format!("{other}&cursor={}", encode(&cursor)))
            .await;
        refused(reply, &other);
    }
    // Another company, with the same parameters.
    let theirs = app
        .call(
            &format!("{base}&cursor={}", encode(&cursor)),
            Some(&app.other_token()),
            &[],
        )
        .await;
    refused(theirs, "another company");
    // Changed: any character of it, or made up.
    let (payload, signature) = cursor.split_once('.').unwrap();
    let mut forged = base64_decode(payload);
    let at = forged.iter().position(|b| *b == b'1').unwrap();
    forged[at] = b'0';
    let forged = format!("{}.{signature}", base64_encode(&forged));
    for bad in [
        forged.as_str(),
        &cursor[..cursor.len() - 2],
        "eyJ9.AAAA",
        "x",
    ] {
        let reply = app.get(&format!("{base}&cursor={}", encode(bad))).await;
        refused(reply, bad);
    }
    let both = app
        .get(&format!("{base}&page=1&cursor={}", encode(&cursor)))
        .await;
    assert_eq!(both.status, StatusCode::UNPROCESSABLE_ENTITY);
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .unwrap()
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `sort=-duration`/`duration` (runs without a duration last either way,
/// pages by cursor too) and `GET /runs` over several DAGs, all of them,
/// never another company's.
async fn durations_and_runs_across_dags(app: TestApp) {
    let index = app.recorder.run_index().clone();
    let (a, b) = (DagId(uuid::Uuid::new_v4()), DagId(uuid::Uuid::new_v4()));
    record(&*index, &app.company, a, day(400), "a_short", Some(5)).await;
    record(&*index, &app.company, a, day(401), "a_long", Some(90)).await;
    record(&*index, &app.company, a, day(402), "a_untimed", None).await;
    record(&*index, &app.company, b, day(400), "b_mid", Some(30)).await;
    record(&*index, &app.other, b, day(401), "theirs", Some(60)).await;
    let range = "date_from=2026-02-01&date_to=2026-02-28";
    let found = |q: String| {
        let app = &app;
        async move { run_ids(&app.get(&q).await.ok_json()) }
    };
    assert_eq!(
        found(format!("/api/v1/dags/{a}/runs?{range}&sort=-duration")).await,
        ["a_long", "a_short", "a_untimed"]
    );
    assert_eq!(
        found(format!("/api/v1/dags/{a}/runs?{range}&sort=duration")).await,
        ["a_short", "a_long", "a_untimed"]
    );
    // Page by page with the cursor, in the duration order.
    let mut walked = Vec::new();
    let mut url = format!("/api/v1/dags/{a}/runs?{range}&sort=duration&limit=1");
    loop {
        let body = app.get(&url).await.ok_json();
        walked.extend(run_ids(&body));
        let Some(cursor) = body["next_cursor"].as_str() else {
            break;
        };
        url = format!(
            "/api/v1/dags/{a}/runs?{range}&sort=duration&limit=1&cursor={}",
            encode(cursor)
        );
    }
    assert_eq!(walked, ["a_short", "a_long", "a_untimed"]);
    // Across DAGs: both of this company's, newest run date first; the two
    // runs of one date and time go by dag_id, descending.
    let every = found(format!("/api/v1/runs?{range}")).await;
    let same_day = if a.0 > b.0 {
        ["a_short", "b_mid"]
    } else {
        ["b_mid", "a_short"]
    };
    assert_eq!(every, ["a_untimed", "a_long", same_day[0], same_day[1]]);
    assert_eq!(
        found(format!("/api/v1/runs?{range}&dag_id={b}")).await,
        ["b_mid"]
    );
    assert_eq!(
        found(format!(
            "/api/v1/runs?{range}&dag_id={a},{b}&sort=-duration"
        ))
        .await,
        ["a_long", "b_mid", "a_short", "a_untimed"]
    );
    // The other company sees its own run only, and not even a count of ours.
    let theirs = app
        .call(
            &format!("/api/v1/runs?{range}&dag_id={a},{b}"),
            Some(&app.other_token()),
            &[],
        )
        .await
        .ok_json();
    assert_eq!(run_ids(&theirs), ["theirs"]);
    assert_eq!(
        (theirs["total"].as_u64(), theirs["dag_known"].as_bool()),
        (Some(1), Some(false))
    );
    // dag_known: false when a DAG named is not the company's.
    let typo = app
        .get(&format!(
            "/api/v1/runs?{range}&dag_id={a},{}",
            uuid::Uuid::new_v4()
        ))
        .await
        .ok_json();
    assert_eq!(typo["dag_known"], false);
    let known = app
        .get(&format!("/api/v1/runs?{range}&dag_id={a},{b}"))
        .await
        .ok_json();
    assert_eq!(
        (known["total"].as_u64(), known["dag_known"].as_bool()),
        (Some(4), Some(true))
    );
    for bad in ["dag_id=orders_daily", "sort=-length", "dag_id=,,x"] {
        let reply = app.get(&format!("/api/v1/runs?{range}&{bad}")).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
}

both_backends!(
    the_cursor_walks_every_run_once_while_runs_arrive,
    a_cursor_is_tied_to_its_search,
    durations_and_runs_across_dags
);
