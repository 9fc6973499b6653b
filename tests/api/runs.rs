//! Endpoints 1 and 2 (contract 4.1): filters, pages, tenancy, validation.

use axum::http::StatusCode;
use serde_json::Value;

use crate::both_backends;
use crate::support::TestApp;

fn ids(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["run_id"].as_str().unwrap().to_owned())
        .collect()
}

async fn search_filters_and_pages(app: TestApp) {
    let base = format!(
        "/api/v1/dags/{}/runs?date_from=2026-11-01&date_to=2026-11-30",
        app.dag
    );
    let all = app.get(&base).await;
    assert_eq!(all.status, StatusCode::OK);
    let body = all.json();
    assert_eq!(body["total"], 2);
    assert_eq!(
        (
            body["page"].as_u64(),
            body["limit"].as_u64(),
            body["has_more"].as_bool()
        ),
        (Some(0), Some(20), Some(false))
    );
    let first = &body["items"][0];
    for key in [
        "dag_id",
        "date",
        "run_id",
        "created_at",
        "updated_at",
        "event",
        "extract",
        "transform",
        "load",
    ] {
        assert!(first.get(key).is_some(), "{key} missing from {first}");
    }
    let run = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["run_id"] == app.run.run_id.as_str())
        .unwrap();
    assert_eq!(run["extract"]["status"]["success"], true);
    assert_eq!(run["extract"]["attempt"], 1);
    assert!(
        run["extract"].get("data").is_none(),
        "inline rows are not returned"
    );
    assert_eq!(run["transform"]["status"]["success"], Value::Null);
    assert_eq!(run["load"], Value::Null);
    assert!(run["created_at"].as_str().unwrap().ends_with('Z'));

    let q = |extra: &str| format!("{base}&{extra}");
    assert_eq!(
        ids(&app.get(&q("transform_status=pending")).await.json()).len(),
        2
    );
    assert_eq!(
        ids(&app.get(&q("transform_status=success")).await.json()).len(),
        0
    );
    assert_eq!(
        ids(&app
            .get(&q("extract_status=success&load_status=pending"))
            .await
            .json())
        .len(),
        2
    );
    assert_eq!(
        ids(&app.get(&q("extract_status=failed")).await.json()).len(),
        0
    );
    // Keywords search the phase object's JSON, inline rows included; literal and Unicode-aware.
    assert_eq!(
        ids(&app
            .get(&q(
                "extract_keyword=%C3%9CN%C3%8FC%C3%96D%C3%89%2050%25_off"
            ))
            .await
            .json()),
        [app.run.run_id.as_str()]
    );
    assert_eq!(
        ids(&app.get(&q("extract_keyword=50%25")).await.json()),
        [app.run.run_id.as_str()]
    );
    assert_eq!(
        ids(&app.get(&q("extract_keyword=0%25_o")).await.json()).len(),
        1,
        "% and _ are literal"
    );
    assert_eq!(
        ids(&app.get(&q("extract_keyword=5__%20off")).await.json()).len(),
        0,
        "_ does not match any character"
    );
    assert_eq!(
        ids(&app.get(&q("event_keyword=manual")).await.json()),
        [app.run.run_id.as_str()]
    );
    assert_eq!(
        ids(&app.get(&q("run_ids=%20a/b%20,,a/b,zzz")).await.json()),
        ["a/b"]
    );
    let page = app.get(&q("limit=1&page=1")).await.json();
    assert_eq!(
        (
            ids(&page).len(),
            page["total"].as_u64(),
            page["has_more"].as_bool()
        ),
        (1, Some(2), Some(false))
    );
    let page = app.get(&q("limit=1&page=0")).await.json();
    assert_eq!(page["has_more"], true);
    let past = app.get(&q("limit=1&page=50")).await.json();
    assert_eq!(
        (
            ids(&past).len(),
            past["total"].as_u64(),
            past["has_more"].as_bool()
        ),
        (0, Some(2), Some(false))
    );
    let outside = app
        .get(&format!(
            "/api/v1/dags/{}/runs?date_from=2026-12-01&date_to=2026-12-31",
            app.dag
        ))
        .await
        .json();
    assert_eq!(outside["total"], 0);
}

async fn tenants_never_see_each_other(app: TestApp) {
    let base = format!(
        "/api/v1/dags/{}/runs?date_from=2026-11-01&date_to=2026-11-30",
        app.dag
    );
    let other = app.call(&base, Some(&app.other_token()), &[]).await.json();
    assert_eq!(
        other["total"], 1,
        "same dag_id, other company: only its own run"
    );
    assert_eq!(other["items"][0]["run_id"], app.run.run_id.as_str());
    let slash = format!("/api/v1/dags/{}/runs/2026-11-27/a%2Fb", app.dag);
    assert_eq!(app.get(&slash).await.status, StatusCode::OK);
    assert_eq!(
        app.call(&slash, Some(&app.other_token()), &[]).await.status,
        StatusCode::NOT_FOUND
    );
    // Same run id under both companies: each sees its own phase.
    let mine = app
        .get(&format!("{}/phases/extract", app.run_url()))
        .await
        .json();
    let theirs = app
        .call(
            &format!("{}/phases/extract", app.run_url()),
            Some(&app.other_token()),
            &[],
        )
        .await
        .json();
    assert_eq!(mine["rows"][0]["data_rows"], 250);
    assert_eq!(theirs["rows"][0]["data_rows"], 3);
    let theirs = app
        .call(
            &format!("{}/phases/extract/errors", app.run_url()),
            Some(&app.other_token()),
            &[],
        )
        .await
        .json();
    assert_eq!(
        theirs["total"], 0,
        "the other company's attempt has no errors; ours has 7"
    );
    for path in ["/event", "/phases/transform"] {
        let reply = app
            .call(
                &format!("{}{path}", app.run_url()),
                Some(&app.other_token()),
                &[],
            )
            .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
    }
}

async fn run_summary_and_not_found(app: TestApp) {
    let reply = app.get(&app.run_url()).await;
    assert_eq!(reply.status, StatusCode::OK);
    let body = reply.json();
    assert_eq!(body["run_id"], app.run.run_id.as_str());
    assert_eq!(body["date"], "2026-11-27");
    assert_eq!(body["event"]["attempt"], 1);
    let path = body["extract"]["s3_data_path"].as_str().unwrap();
    assert!(path.ends_with("/extract/attempt=1/"), "{path}");
    // S3 URLs as the contract writes them; a local folder's as the key in
    // the store, never a path of the server.
    match app._backend {
        crate::support::Backend::Embedded(_) => {
            assert!(path.starts_with(&format!("{}/", app.company)), "{path}");
        }
        crate::support::Backend::Services => assert!(path.starts_with("s3://"), "{path}"),
    }
    let missing = app
        .get(&format!("/api/v1/dags/{}/runs/2026-11-27/nope", app.dag))
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.header("content-type"), "application/problem+json");
    let problem = missing.json();
    assert_eq!(problem["status"], 404);
    assert_eq!(problem["title"], "Run not found");
    assert_eq!(
        problem["detail"], "no such run for this company",
        "no table named"
    );
    assert_eq!(
        problem["instance"],
        format!("/api/v1/dags/{}/runs/2026-11-27/nope", app.dag)
    );
}

async fn bad_parameters_are_422(app: TestApp) {
    let base = format!("/api/v1/dags/{}/runs", app.dag);
    let cases = [
        ("?date_to=2026-11-30", "date_from", "missing"),
        (
            "?date_from=2026-11-01&date_to=2026-11-31",
            "date_to",
            "date_parsing",
        ),
        (
            "?date_from=2026-11-01&date_to=2026-11-30&limit=0",
            "limit",
            "greater_than_equal",
        ),
        (
            "?date_from=2026-11-01&date_to=2026-11-30&limit=101",
            "limit",
            "less_than_equal",
        ),
        (
            "?date_from=2026-11-01&date_to=2026-11-30&limit=ten",
            "limit",
            "int_parsing",
        ),
        (
            "?date_from=2026-11-01&date_to=2026-11-30&page=-1",
            "page",
            "greater_than_equal",
        ),
        (
            "?date_from=2026-11-01&date_to=2026-11-30&extract_status=done",
            "extract_status",
            "literal_error",
        ),
    ];
    for (query, name, kind) in cases {
        let reply = app.get(&format!("{base}{query}")).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        let body = reply.json();
        let issue = &body["detail"][0];
        assert_eq!(
            issue["loc"],
            serde_json::json!(["query", name]),
            "{query}: {body}"
        );
        assert_eq!(issue["type"], kind, "{query}: {body}");
    }
    let many: Vec<String> = (0..101).map(|i| format!("r{i}")).collect();
    let reply = app
        .get(&format!(
            "{base}?date_from=2026-11-01&date_to=2026-11-30&run_ids={}",
            many.join(",")
        ))
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    let long = "k".repeat(300);
    let reply = app
        .get(&format!(
            "{base}?date_from=2026-11-01&date_to=2026-11-30&load_keyword={long}"
        ))
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    // Bad date ranges are ErrorResponse, not HTTPValidationError.
    for query in [
        "?date_from=2026-11-30&date_to=2026-11-01",
        "?date_from=2020-01-01&date_to=2026-11-30",
    ] {
        let reply = app.get(&format!("{base}{query}")).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert_eq!(reply.header("content-type"), "application/problem+json");
        assert_eq!(reply.json()["status"], 422);
    }
    let reply = app
        .get("/api/v1/dags/not-a-uuid/runs?date_from=2026-11-01&date_to=2026-11-30")
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        reply.json()["detail"][0]["loc"],
        serde_json::json!(["path", "dag_id"])
    );
}

/// The additive search parameters: several statuses of one phase, the
/// run's status, creation and update times, and `dag_known`.
async fn several_statuses_run_status_times_and_dag_known(app: TestApp) {
    use dagtrail::model::{DagId, Phase};

    use crate::support::record_outcome as record;

    let dag = DagId(uuid::Uuid::new_v4());
    record(&app, dag, 20, Phase::Extract, 1, Some(true), "ok").await;
    record(&app, dag, 21, Phase::Extract, 1, Some(false), "boom").await;
    record(&app, dag, 22, Phase::Extract, 1, None, "running").await;
    record(&app, dag, 23, Phase::Extract, 1, Some(true), "ok").await;
    record(&app, dag, 23, Phase::Load, 1, Some(false), "disk full").await;
    record(&app, dag, 24, Phase::Transform, 1, Some(true), "ok").await;
    let search = |q: &str| {
        let url = format!("/api/v1/dags/{dag}/runs?date_from=2026-11-01&date_to=2026-11-30&{q}");
        let app = &app;
        async move { app.get(&url).await }
    };
    let days = |body: &Value| -> Vec<String> {
        ids(body)
            .iter()
            .map(|id| id.trim_start_matches("scheduled__2026-11-").to_owned())
            .collect()
    };
    let found = |q: &'static str| {
        let search = &search;
        async move { days(&search(q).await.ok_json()) }
    };
    // Pending is also "no extract at all" (the 24th), as the contract says.
    assert_eq!(
        found("extract_status=failed,pending").await,
        ["24", "22", "21"]
    );
    assert_eq!(found("extract_status=all,failed").await.len(), 5);
    assert_eq!(found("status=failed").await, ["23", "21"]);
    assert_eq!(found("status=running").await, ["22"]);
    assert_eq!(found("status=succeeded").await, ["24", "20"]);
    assert_eq!(found("status=running,succeeded").await, ["24", "22", "20"]);
    assert_eq!(found("status=failed&extract_status=success").await, ["23"]);
    assert_eq!(
        found("created_from=2026-11-22T00:00:00Z").await,
        ["24", "23", "22"]
    );
    assert_eq!(
        found("created_to=2026-11-21T23:59:59%2B00:00").await,
        ["21", "20"]
    );
    // Each run's phases were recorded at 06:01 of its own day.
    assert_eq!(
        found("updated_since=2026-11-23T00:00:00Z").await,
        ["24", "23"]
    );
    // The orders: run date (the default, and ascending), and creation
    // time, which here follows the run dates but for a run recorded late.
    assert_eq!(found("sort=-date").await, found("").await);
    assert_eq!(found("sort=date").await, ["20", "21", "22", "23", "24"]);
    // A backfill: the run of the 19th, first recorded on the 25th.
    let backfill = dagtrail::model::RunRef::new(
        dag,
        chrono::NaiveDate::from_ymd_opt(2026, 11, 19).unwrap(),
        dagtrail::model::RunId::new("scheduled__2026-11-19").unwrap(),
    );
    crate::support::record_attempt(
        &app.recorder,
        &app.company,
        &backfill,
        (Phase::Extract, 1),
        &crate::support::id_name_batch(0, 1, |i| format!("r {i}")),
        &dagtrail::artifacts::writer::PhaseOutcome {
            success: Some(true),
            ..Default::default()
        },
        chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 11, 25, 7, 0, 0).unwrap(),
    )
    .await;
    assert_eq!(found("").await, ["24", "23", "22", "21", "20", "19"]);
    assert_eq!(
        found("sort=-created_at").await,
        ["19", "24", "23", "22", "21", "20"]
    );
    assert_eq!(
        found("sort=created_at").await,
        ["20", "21", "22", "23", "24", "19"]
    );
    assert_eq!(found("sort=-created_at&limit=2&page=1").await, ["23", "22"]);
    // dag_known: true for a known DAG even when nothing matches; false for
    // a DAG the company does not have.
    let none = search("status=failed&extract_status=pending")
        .await
        .ok_json();
    assert_eq!(
        (none["total"].as_u64(), none["dag_known"].as_bool()),
        (Some(0), Some(true))
    );
    let unknown = app
        .get(&format!(
            "/api/v1/dags/{}/runs?date_from=2026-11-01&date_to=2026-11-30",
            DagId(uuid::Uuid::new_v4())
        ))
        .await
        .ok_json();
    assert_eq!(unknown["dag_known"], false);
    let theirs = app
        .call(
            &format!("/api/v1/dags/{dag}/runs?date_from=2026-11-01&date_to=2026-11-30"),
            Some(&app.other_token()),
            &[],
        )
        .await
        .ok_json();
    assert_eq!(
        theirs["dag_known"], false,
        "another company's DAG is unknown"
    );
    for bad in [
        "status=broken",
        "extract_status=failed,broken",
        "extract_status=failed,",
        "created_from=yesterday",
        "created_from=2026-11-22T00:00:00Z&created_to=2026-11-21T00:00:00Z",
        "sort=-name",
    ] {
        assert_eq!(
            search(bad).await.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}"
        );
    }
}

both_backends!(
    several_statuses_run_status_times_and_dag_known,
    search_filters_and_pages,
    tenants_never_see_each_other,
    run_summary_and_not_found,
    bad_parameters_are_422
);
