//! Endpoints 3-7 (contract 4.2): event, metadata, data pages (straddling
//! files, past the end, keyword search), errors, logs (filters, NDJSON),
//! and hostile run ids.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::support::{LOG_ROWS, TestApp};

fn column(body: &Value, name: &str) -> Vec<Value> {
    body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[name].clone())
        .collect()
}

async fn event_and_metadata(app: TestApp) {
    let event = app.get(&format!("{}/event", app.run_url())).await;
    assert_eq!(event.status, StatusCode::OK);
    let body = event.json();
    assert_eq!(body["queue_data"]["rows"][0]["message_id"], "m-1");
    assert_eq!(body["event"]["rows"][0]["trigger"], "manual");
    assert_eq!(
        body["event"]["columns"][0],
        json!({"name": "trigger", "type": "utf8"})
    );
    let no_event = app
        .get(&format!(
            "/api/v1/dags/{}/runs/2026-11-27/a%2Fb/event",
            app.dag
        ))
        .await;
    assert_eq!(no_event.status, StatusCode::NOT_FOUND);

    let meta = app.get(&format!("{}/phases/extract", app.run_url())).await;
    assert_eq!(meta.status, StatusCode::OK);
    let body = meta.json();
    let row = &body["rows"][0];
    assert_eq!(
        (row["data_files"].as_i64(), row["data_rows"].as_i64()),
        (Some(3), Some(250))
    );
    assert_eq!(row["data_file_rows"], json!([100, 100, 50]));
    assert_eq!(
        (row["log_count"].as_i64(), row["error_log_count"].as_i64()),
        (Some(LOG_ROWS as i64), Some(500))
    );
    assert_eq!(row["error_count"], 7);
    assert_eq!(body["total"], 1);
    let running = app
        .get(&format!("{}/phases/transform", app.run_url()))
        .await
        .json();
    assert_eq!(running["rows"][0]["success"], Value::Null);
    for (path, status) in [
        ("/phases/load", StatusCode::NOT_FOUND),
        ("/phases/extract?attempt=2", StatusCode::NOT_FOUND),
        (
            "/phases/extract?attempt=0",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("/phases/event", StatusCode::UNPROCESSABLE_ENTITY),
        ("/phases/bogus/data", StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        assert_eq!(
            app.get(&format!("{}{path}", app.run_url())).await.status,
            status,
            "{path}"
        );
    }
}

async fn data_pages(app: TestApp) {
    let url = |q: &str| format!("{}/phases/extract/data?{q}", app.run_url());
    let first = app.get(&url("")).await.json();
    assert_eq!(
        first["columns"],
        json!([{"name": "id", "type": "int64"}, {"name": "name", "type": "utf8"}])
    );
    assert_eq!(
        (
            first["limit"].as_u64(),
            first["total"].as_u64(),
            first["has_more"].as_bool()
        ),
        (Some(50), Some(250), Some(true))
    );
    assert_eq!(
        column(&first, "id"),
        (0..50).map(|i| json!(i)).collect::<Vec<_>>()
    );
    // Files hold 100 rows: page 9 of 11 rows straddles data_000 and data_001.
    let straddle = app.get(&url("page=9&limit=11")).await.json();
    assert_eq!(
        column(&straddle, "id"),
        (99..110).map(|i| json!(i)).collect::<Vec<_>>()
    );
    let across_all = app.get(&url("page=0&limit=1000")).await.json();
    assert_eq!(
        column(&across_all, "id"),
        (0..250).map(|i| json!(i)).collect::<Vec<_>>()
    );
    assert_eq!(across_all["has_more"], false);
    let last = app.get(&url("page=4&limit=50")).await.json();
    assert_eq!(
        (column(&last, "id").len(), last["has_more"].as_bool()),
        (50, Some(false))
    );
    let past = app.get(&url("page=5&limit=50")).await.json();
    assert_eq!(
        (
            column(&past, "id").len(),
            past["total"].as_u64(),
            past["has_more"].as_bool()
        ),
        (0, Some(250), Some(false))
    );
    assert_eq!(past["columns"][0]["name"], "id");
    for bad in ["limit=0", "limit=1001", "page=x", "attempt=-1"] {
        let reply = app.get(&url(bad)).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert!(reply.json()["detail"].is_array());
    }
}

async fn data_keyword_search(app: TestApp) {
    let url = |q: &str| format!("{}/phases/extract/data?{q}", app.run_url());
    let hits = app
        .get(&url("keyword=%C3%BCN%C3%8Fc%C3%B6d%C3%A9"))
        .await
        .json();
    assert_eq!(column(&hits, "id"), [json!(42)]);
    assert_eq!(hits["total"], 1);
    let literal = app.get(&url("keyword=50%25_")).await.json();
    assert_eq!(column(&literal, "id"), [json!(42)], "% and _ are literal");
    assert_eq!(app.get(&url("keyword=5__%20off")).await.json()["total"], 0);
    // `_searchable` holds "5\u{1f}row 5": no keyword matches across two
    // of a row's values.
    assert_eq!(
        app.get(&url("keyword=5%1Frow%205")).await.json()["total"],
        0
    );
    // "row 1", "row 1x", "row 1xx": 1 + 10 + 100 rows; pages in (_file, _row) order.
    let many = app
        .get(&url("keyword=ROW%201&limit=20&page=5"))
        .await
        .json();
    assert_eq!(many["total"], 111);
    let ids: Vec<i64> = column(&many, "id")
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    let mut expected: Vec<i64> = (0..250)
        .filter(|i| format!("row {i}").contains("row 1") && *i != 42 && *i != 77)
        .collect();
    expected = expected.into_iter().skip(100).take(20).collect();
    assert_eq!(ids, expected);
    assert_eq!(many["has_more"], false);
    let none = app.get(&url("keyword=nothing-matches")).await.json();
    assert_eq!(
        (
            none["total"].as_u64(),
            none["rows"].as_array().map(Vec::len)
        ),
        (Some(0), Some(0))
    );
}

async fn errors_and_logs(app: TestApp) {
    let errors = app
        .get(&format!("{}/phases/extract/errors?limit=5", app.run_url()))
        .await
        .json();
    assert_eq!(
        (errors["total"].as_u64(), errors["has_more"].as_bool()),
        (Some(7), Some(true))
    );
    assert_eq!(errors["rows"][0]["error_type"], "about:blank");
    assert_eq!(errors["rows"][0]["occurred_at"], "2026-11-27T10:00:05Z");
    let logs = |q: &str| format!("{}/phases/extract/logs?{q}", app.run_url());
    let page = app.get(&logs("limit=10&page=2")).await.json();
    assert_eq!(page["total"], LOG_ROWS);
    assert_eq!(page["rows"][0]["message"], "Slow Source 20");
    let errors_only = app.get(&logs("level=error&limit=1000")).await.json();
    assert_eq!(errors_only["total"], 500);
    assert!(column(&errors_only, "level").iter().all(|l| l == "ERROR"));
    let two = app.get(&logs("level=ERROR,%20debug")).await.json();
    assert_eq!(two["total"], 1000);
    let kw = app
        .get(&logs("keyword=slow%20SOURCE&level=INFO&limit=5&page=1"))
        .await
        .json();
    // Every 10th row has the keyword; INFO is every 3rd: rows 0, 30, 60, ...
    assert_eq!(kw["total"], 50);
    assert_eq!(column(&kw, "message")[0], "Slow Source 150");
    let kw_only = app
        .get(&logs("keyword=SLOW%20source&limit=3&page=1"))
        .await
        .json();
    assert_eq!(kw_only["total"], LOG_ROWS / 10);
    assert_eq!(column(&kw_only, "message")[0], "Slow Source 30");
    let bad = app.get(&logs("level=LOUD")).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.json()["detail"][0]["loc"], json!(["query", "level"]));
}

async fn ndjson_streams_every_row(app: TestApp) {
    let url = format!("{}/phases/extract/logs?limit=1", app.run_url());
    let reply = app
        .call(
            &url,
            Some(&app.token()),
            &[("accept", "application/x-ndjson")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("content-type"), "application/x-ndjson");
    // The body depends on Accept: caches must keep the two answers apart.
    let varies_by_accept = |vary: &str| {
        vary.split(',')
            .any(|h| h.trim().eq_ignore_ascii_case("accept"))
    };
    assert!(
        varies_by_accept(reply.header("vary")),
        "{:?}",
        reply.headers
    );
    let page = app.call(&url, Some(&app.token()), &[]).await;
    assert_eq!(page.header("content-type"), "application/json");
    assert!(varies_by_accept(page.header("vary")), "{:?}", page.headers);
    let text = String::from_utf8(reply.body.clone()).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines.len(),
        LOG_ROWS,
        "one line per row of the logs files, no pagination"
    );
    assert_eq!(lines[0]["message"], "Slow Source 0");
    assert_eq!(
        lines[LOG_ROWS - 1]["message"],
        format!("line {}", LOG_ROWS - 1)
    );
    let filtered = app
        .call(
            &format!("{url}&level=CRITICAL,error&keyword=slow"),
            Some(&app.token()),
            &[("accept", "text/html, application/x-ndjson;q=0.9")],
        )
        .await;
    let count = String::from_utf8(filtered.body).unwrap().lines().count();
    assert_eq!(
        count, 50,
        "ERROR rows (every 3rd from 1) with the keyword (every 10th)"
    );
}

async fn hostile_run_ids(app: TestApp) {
    let base = format!("/api/v1/dags/{}/runs/2026-11-27", app.dag);
    let long = "x".repeat(300);
    for (run_id, status) in [
        ("..", StatusCode::UNPROCESSABLE_ENTITY),
        ("%2e%2e", StatusCode::UNPROCESSABLE_ENTITY),
        (".", StatusCode::UNPROCESSABLE_ENTITY),
        ("%2E", StatusCode::UNPROCESSABLE_ENTITY),
        (long.as_str(), StatusCode::UNPROCESSABLE_ENTITY),
        ("%FF%FE", StatusCode::UNPROCESSABLE_ENTITY),
        ("a%00b", StatusCode::UNPROCESSABLE_ENTITY),
        ("..%2F..%2Fetc", StatusCode::NOT_FOUND),
        ("a%2Fb", StatusCode::OK),
    ] {
        for suffix in [
            "",
            "/event",
            "/phases/extract",
            "/phases/extract/data",
            "/phases/extract/logs",
        ] {
            let reply = app.get(&format!("{base}/{run_id}{suffix}")).await;
            let expected = match (run_id, suffix) {
                ("a%2Fb", "/event") => StatusCode::NOT_FOUND,
                _ => status,
            };
            assert_eq!(
                reply.status,
                expected,
                "{run_id}{suffix}: {}",
                String::from_utf8_lossy(&reply.body)
            );
            assert!(reply.status != StatusCode::INTERNAL_SERVER_ERROR);
        }
    }
    let slash = app
        .get(&format!("{base}/a%2Fb/phases/extract/data"))
        .await
        .json();
    assert_eq!(slash["total"], 5);
    for bad_date in ["2026-13-01", "..", "2026-11-27T00:00:00"] {
        assert_eq!(
            app.get(&format!("/api/v1/dags/{}/runs/{bad_date}/x", app.dag))
                .await
                .status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }
}

both_backends!(
    event_and_metadata,
    data_pages,
    data_keyword_search,
    errors_and_logs,
    ndjson_streams_every_row,
    hostile_run_ids
);
