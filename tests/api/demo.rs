//! The demo tells a true story (issue 25 C): every error's record is the
//! data row it links, and that row is visibly bad; log lines name rows
//! that exist and spread over their phase's time; the demo's DAGs differ in
//! schedule, size and failures.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate};
use dagtrail::demo::{DemoOptions, generate};
use serde_json::Value;

use crate::support::{embedded, token};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_demo_error_holds_the_row_it_links_and_the_row_is_bad() {
    let app = embedded().await;
    let end = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
    let options = DemoOptions {
        companies: 1,
        // More runs than days: a day holds two, as in the demo `serve`
        // writes (their ids must differ).
        runs: 12,
        days: 6,
        rows_per_phase: 150,
        log_rows_per_phase: 80,
        error_rows_per_phase: 6,
        ..DemoOptions::small(end)
    };
    let summary = generate(&app.recorder, &options, &indicatif::ProgressBar::hidden())
        .await
        .unwrap();
    assert_eq!(summary.dags.len(), 2);
    let token = token(summary.dags[0].0.as_str());
    let get = |uri: String| {
        let app = &app;
        let token = token.clone();
        async move {
            let reply = app.call(&uri, Some(&token), &[]).await;
            assert_eq!(reply.status, axum::http::StatusCode::OK, "{uri}");
            reply.json()
        }
    };
    let (mut checked_errors, mut checked_logs) = (0, 0);
    let mut run_ids: Vec<BTreeSet<String>> = Vec::new();
    let mut messages: Vec<BTreeSet<String>> = Vec::new();
    for (_, dag) in &summary.dags {
        let runs = get(format!(
            "/api/v1/dags/{dag}/runs?date_from=2026-11-01&date_to=2026-11-27&limit=100"
        ))
        .await;
        let items = runs["items"].as_array().unwrap();
        assert_eq!(items.len(), options.runs);
        run_ids.push(
            items
                .iter()
                .map(|r| r["run_id"].as_str().unwrap().to_owned())
                .collect(),
        );
        let mut said = BTreeSet::new();
        for run in items {
            let base = format!(
                "/api/v1/dags/{dag}/runs/{}/{}",
                run["date"].as_str().unwrap(),
                crate::support::encode(run["run_id"].as_str().unwrap())
            );
            for phase in ["extract", "transform", "load"] {
                let Some(newest) = run[phase]["attempt"].as_u64() else {
                    continue;
                };
                if let Some(m) = run[phase]["status"]["message"].as_str() {
                    said.insert(m.to_owned());
                }
                for attempt in 1..=newest {
                    let url = format!("{base}/phases/{phase}");
                    let reply = app
                        .call(&format!("{url}?attempt={attempt}"), Some(&token), &[])
                        .await;
                    if reply.status == axum::http::StatusCode::NOT_FOUND {
                        continue; // still running: not committed
                    }
                    let meta = &reply.json()["rows"][0];
                    let data_rows = meta["data_rows"].as_i64().unwrap();
                    let errors = get(format!("{url}/errors?attempt={attempt}&limit=1000")).await;
                    for error in errors["rows"].as_array().unwrap() {
                        let (Some(file), Some(row)) =
                            (error["_file"].as_i64(), error["_row"].as_i64())
                        else {
                            assert_eq!(error["error_title"], "Upstream timeout", "{error}");
                            continue;
                        };
                        assert_eq!(file, 0, "demo phases fit one data file");
                        let data =
                            get(format!("{url}/data?attempt={attempt}&page={row}&limit=1")).await;
                        let linked = &data["rows"][0];
                        let record: Value =
                            serde_json::from_str(error["record"].as_str().unwrap()).unwrap();
                        assert_eq!(&record, linked, "the record is the linked row: {error}");
                        let detail = error["error_detail"].as_str().unwrap();
                        let id = linked["order_id"].to_string();
                        assert!(detail.contains(&id), "{detail} names order {id}");
                        match error["error_title"].as_str().unwrap() {
                            "Invalid amount" => {
                                let amount = linked["amount"].as_str().unwrap();
                                assert!(
                                    amount.starts_with('-') && detail.contains(amount),
                                    "{detail}: {linked}"
                                );
                            }
                            "Missing ship date" => {
                                assert!(linked["ship_date"].is_null(), "{linked}")
                            }
                            "Duplicate key" => {
                                let before = get(format!(
                                    "{url}/data?attempt={attempt}&page={}&limit=1",
                                    row - 1
                                ))
                                .await;
                                assert_eq!(before["rows"][0]["order_id"], linked["order_id"]);
                            }
                            other => panic!("unexpected error {other}"),
                        }
                        checked_errors += 1;
                    }
                    let started =
                        DateTime::parse_from_rfc3339(meta["started_at"].as_str().unwrap()).unwrap();
                    let finished = meta["finished_at"]
                        .as_str()
                        .map(|t| DateTime::parse_from_rfc3339(t).unwrap());
                    let logs = get(format!("{url}/logs?attempt={attempt}&limit=1000")).await;
                    for line in logs["rows"].as_array().unwrap() {
                        let ts =
                            DateTime::parse_from_rfc3339(line["ts"].as_str().unwrap()).unwrap();
                        assert!(
                            ts >= started && finished.is_none_or(|f| ts <= f),
                            "{line} within the phase"
                        );
                        let message = line["message"].as_str().unwrap();
                        if let Some(rest) = message.strip_prefix("row ") {
                            let n: i64 = rest.split(' ').next().unwrap().parse().unwrap();
                            assert!(n < data_rows, "{message}: the phase has {data_rows} rows");
                            checked_logs += 1;
                        }
                    }
                    let first = logs["rows"][0]["ts"].as_str().unwrap().to_owned();
                    let last = logs["rows"].as_array().unwrap().last().unwrap()["ts"]
                        .as_str()
                        .unwrap()
                        .to_owned();
                    if let Some(f) = finished {
                        let spread = DateTime::parse_from_rfc3339(&last).unwrap()
                            - DateTime::parse_from_rfc3339(&first).unwrap();
                        assert!(
                            spread * 2 >= f - started,
                            "the lines spread over the phase: {first}..{last}"
                        );
                    }
                }
            }
        }
        messages.push(said);
    }
    assert!(checked_errors > 20, "{checked_errors} errors checked");
    assert!(checked_logs > 0, "some ERROR lines name rows");
    assert!(
        run_ids[0].is_disjoint(&run_ids[1]),
        "the DAGs' runs differ: {run_ids:?}"
    );
    assert!(
        messages[0].is_disjoint(&messages[1]),
        "their messages differ: {messages:?}"
    );
}
