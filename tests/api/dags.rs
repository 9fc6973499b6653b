//! The fleet view through the router, on both backends: `GET /dags` (the
//! catalog, newest run, window counts, last failure, filters, order) and
//! `GET /dags/{dag_id}/calendar`, with tenancy and validation.

use axum::http::StatusCode;

use dagtrail::model::{DagId, Phase};
use dagtrail::runindex::fleet::DagInfo;
use serde_json::Value;
use uuid::Uuid;

use crate::both_backends;
use crate::support::{TestApp, record_outcome as record};

fn entry(body: &Value, dag: DagId) -> &Value {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["dag_id"] == dag.to_string())
        .unwrap_or_else(|| panic!("{dag} missing from {body}"))
}

fn listed(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["dag_id"].as_str().unwrap().to_owned())
        .collect()
}

struct Fleet {
    orders: DagId,
    customers: DagId,
    planned: DagId,
}

/// Orders: a load failure on the 22nd, a success on the 25th, an extract
/// failure on the 26th, a run still extracting on the 27th. Customers: one success on the 20th.
/// Planned: a catalog entry, no runs.
async fn fleet(app: &TestApp) -> Fleet {
    let fresh = || DagId(Uuid::new_v4());
    let (orders, customers, planned) = (fresh(), fresh(), fresh());
    record(app, orders, 22, Phase::Load, 1, Some(false), "disk full").await;
    record(app, orders, 25, Phase::Extract, 1, Some(true), "ok").await;
    record(
        app,
        orders,
        26,
        Phase::Extract,
        1,
        Some(false),
        "timeout calling the shop API",
    )
    .await;
    record(app, orders, 27, Phase::Extract, 1, None, "extracting").await;
    record(app, customers, 20, Phase::Load, 1, Some(true), "loaded").await;
    let info = |name: &str, tags: &[&str]| DagInfo {
        name: Some(name.to_owned()),
        description: Some(format!("the {name} pipeline")),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        owner: Some("data-eng".to_owned()),
    };
    for (dag, name, tags) in [
        (orders, "orders_daily", &["sales", "daily"][..]),
        (customers, "customers_sync", &["crm"][..]),
        (planned, "zz_planned", &[][..]),
    ] {
        app.recorder
            .describe_dag(&app.company, dag, &info(name, tags))
            .await
            .unwrap();
    }
    Fleet {
        orders,
        customers,
        planned,
    }
}

async fn the_fleet_shows_each_dag_with_its_newest_run_counts_and_last_failure(app: TestApp) {
    let f = fleet(&app).await;
    let reply = app.get("/api/v1/dags?since=2026-11-24").await;
    let body = reply.ok_json();
    assert_eq!(body["since"], "2026-11-24");
    let orders = entry(&body, f.orders);
    assert_eq!(orders["name"], "orders_daily");
    assert_eq!(orders["tags"], serde_json::json!(["sales", "daily"]));
    assert_eq!(orders["owner"], "data-eng");
    assert_eq!(orders["runs"], 4);
    assert_eq!(
        (
            orders["runs_in_window"].as_i64(),
            orders["failed_in_window"].as_i64()
        ),
        (Some(3), Some(1))
    );
    let last = &orders["last_run"];
    assert_eq!(last["date"], "2026-11-27");
    assert_eq!(last["run_id"], "scheduled__2026-11-27");
    assert_eq!(last["status"], "running");
    assert_eq!(last["extract"]["status"]["message"], "extracting");
    assert!(last["extract"]["status"]["success"].is_null());
    assert!(last["load"].is_null());
    let failure = &orders["last_failure"];
    assert_eq!(failure["date"], "2026-11-26");
    assert_eq!(failure["phase"], "extract");
    assert_eq!(failure["message"], "timeout calling the shop API");

    let customers = entry(&body, f.customers);
    assert_eq!(
        (
            customers["runs"].as_i64(),
            customers["runs_in_window"].as_i64()
        ),
        (Some(1), Some(0))
    );
    assert_eq!(customers["last_run"]["status"], "succeeded");
    assert!(customers["last_failure"].is_null());

    let planned = entry(&body, f.planned);
    assert_eq!(planned["runs"], 0);
    assert!(planned["last_run"].is_null());
    // The seed's DAG has runs but no catalog entry: listed, unnamed.
    assert!(entry(&body, app.dag)["name"].is_null());
    assert_eq!(body["total"], 4);

    // A retry that succeeds takes the failure off the window's count, and
    // the last failed run is the one before it, outside the window.
    record(
        &app,
        f.orders,
        26,
        Phase::Extract,
        2,
        Some(true),
        "ok on retry",
    )
    .await;
    let body = app.get("/api/v1/dags?since=2026-11-24").await.ok_json();
    let orders = entry(&body, f.orders);
    assert_eq!(
        (orders["runs"].as_i64(), orders["failed_in_window"].as_i64()),
        (Some(4), Some(0))
    );
    let failure = &orders["last_failure"];
    assert_eq!(
        (&failure["date"], &failure["phase"], &failure["message"]),
        (&"2026-11-22".into(), &"load".into(), &"disk full".into())
    );
}

async fn the_fleet_filters_and_orders(app: TestApp) {
    let f = fleet(&app).await;
    let ids = |q: &str| {
        let app = &app;
        let q = q.to_owned();
        async move {
            listed(
                &app.get(&format!("/api/v1/dags?since=2026-11-24&{q}"))
                    .await
                    .ok_json(),
            )
        }
    };
    assert_eq!(ids("name=ORDERS").await, [f.orders.to_string()]);
    assert_eq!(ids("tag=crm").await, [f.customers.to_string()]);
    // The seed's newest run is still transforming too.
    assert_eq!(
        ids("status=running").await,
        [f.orders.to_string(), app.dag.to_string()]
    );
    assert_eq!(
        ids("status=failed,succeeded").await.first(),
        Some(&f.customers.to_string())
    );
    // By name, unnamed DAGs (the seed's) last.
    assert_eq!(
        ids("").await,
        [
            f.customers.to_string(),
            f.orders.to_string(),
            f.planned.to_string(),
            app.dag.to_string()
        ]
    );
    assert_eq!(
        ids("sort=-failures").await.first(),
        Some(&f.orders.to_string())
    );
    let newest_first = ids("sort=-last_run").await;
    assert_eq!(
        newest_first.last(),
        Some(&f.planned.to_string()),
        "no runs: last"
    );
    for bad in ["status=broken", "sort=size", "since=yesterday"] {
        let reply = app.get(&format!("/api/v1/dags?{bad}")).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
}

async fn the_calendar_counts_runs_and_failures_per_day(app: TestApp) {
    let f = fleet(&app).await;
    let url = |dag: DagId, q: &str| format!("/api/v1/dags/{dag}/calendar?{q}");
    let body = app
        .get(&url(f.orders, "date_from=2026-11-01&date_to=2026-11-30"))
        .await
        .ok_json();
    assert_eq!(body["dag_known"], true);
    assert_eq!(
        body["days"],
        serde_json::json!([
            {"date": "2026-11-22", "runs": 1, "failed_runs": 1},
            {"date": "2026-11-25", "runs": 1, "failed_runs": 0},
            {"date": "2026-11-26", "runs": 1, "failed_runs": 1},
            {"date": "2026-11-27", "runs": 1, "failed_runs": 0},
        ])
    );
    let narrow = app
        .get(&url(f.orders, "date_from=2026-11-26&date_to=2026-11-26"))
        .await
        .ok_json();
    assert_eq!(narrow["days"].as_array().unwrap().len(), 1);
    // A catalog entry without runs is known, with no days; an unknown DAG
    // answers the same shape, unknown.
    let planned = app.get(&url(f.planned, "")).await.ok_json();
    assert_eq!(
        (
            planned["dag_known"].as_bool(),
            planned["days"].as_array().map(Vec::len)
        ),
        (Some(true), Some(0))
    );
    let unknown = app.get(&url(DagId(Uuid::new_v4()), "")).await.ok_json();
    assert_eq!(unknown["dag_known"], false);
    let too_wide = app
        .get(&url(f.orders, "date_from=2025-01-01&date_to=2026-11-30"))
        .await;
    assert_eq!(too_wide.status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// Another company sees none of it: not in its list, not even as a count,
/// and the DAG is unknown to its calendar. With a run of its own in the
/// same DAG id, it sees exactly that run, and A does not see it.
async fn the_fleet_is_the_tokens_companys_only(app: TestApp) {
    let f = fleet(&app).await;
    let theirs = app
        .call(
            "/api/v1/dags?since=2026-01-01",
            Some(&app.other_token()),
            &[],
        )
        .await
        .ok_json();
    for dag in [f.orders, f.customers, f.planned] {
        assert!(!listed(&theirs).contains(&dag.to_string()), "{dag} leaked");
    }
    assert!(!theirs.to_string().contains("orders_daily"));
    let calendar = |token: String| {
        let app = &app;
        let url = format!(
            "/api/v1/dags/{}/calendar?date_from=2026-11-01&date_to=2026-11-30",
            f.orders
        );
        async move { app.call(&url, Some(&token), &[]).await.ok_json() }
    };
    let before = calendar(app.other_token()).await;
    assert_eq!(before["dag_known"], false);
    assert_eq!(before["days"], serde_json::json!([]));

    // B records a run of its own under the same DAG id.
    let run = dagtrail::model::RunRef::new(
        f.orders,
        chrono::NaiveDate::from_ymd_opt(2026, 11, 28).unwrap(),
        dagtrail::model::RunId::new("theirs").unwrap(),
    );
    crate::support::commit_rows(
        &app.recorder,
        &app.other,
        &run,
        (Phase::Extract, 1),
        &crate::support::id_name_batch(0, 1, |i| format!("b {i}")),
        9,
    )
    .await;
    let theirs = calendar(app.other_token()).await;
    assert_eq!(theirs["dag_known"], true);
    assert_eq!(
        theirs["days"],
        serde_json::json!([{"date": "2026-11-28", "runs": 1, "failed_runs": 0}])
    );
    let ours = calendar(app.token()).await;
    assert_eq!(ours["days"].as_array().map(Vec::len), Some(4), "{ours}");
    let their_fleet = app
        .call(
            "/api/v1/dags?since=2026-11-01",
            Some(&app.other_token()),
            &[],
        )
        .await
        .ok_json();
    let entry = entry(&their_fleet, f.orders);
    assert_eq!(
        (entry["runs"].as_i64(), entry["name"].is_null()),
        (Some(1), true)
    );
    assert!(entry["last_failure"].is_null(), "A's failures stay A's");
    assert_eq!(
        app.call("/api/v1/dags", None, &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
}

both_backends!(
    the_fleet_shows_each_dag_with_its_newest_run_counts_and_last_failure,
    the_fleet_filters_and_orders,
    the_calendar_counts_runs_and_failures_per_day,
    the_fleet_is_the_tokens_companys_only
);
