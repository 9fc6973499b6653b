//! The write API through the real router on both backends: scope and
//! tenant checks, bodies refused the API's way, and what is written read
//! back through the read API.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::support::{TestApp, embedded, token_with_scopes};

const JSON: (&str, &str) = ("content-type", "application/json");

both_backends!(
    a_catalog_entry_names_the_dag_for_its_company_only,
    writing_needs_the_scope,
    an_event_is_read_back_as_written
);

async fn an_event_is_read_back_as_written(app: TestApp) {
    let run = format!(
        "/api/v1/dags/{}/runs/2026-11-28/manual__2026-11-28",
        app.dag
    );
    let uri = format!("{run}/event");
    let written = app
        .send(
            Method::PUT,
            &uri,
            Some(&app.write_token()),
            &[JSON],
            json!({
                "queue_data": {"message_id": "m-9", "body": {"orders": 3}},
                "event": [{"trigger": "manual", "user": "Zoë"}, {"trigger": "retry", "user": null}],
                "message": "received",
                "started_at": "2026-11-28T10:00:00Z"
            })
            .to_string(),
        )
        .await
        .ok_json();
    assert_eq!(written, json!({"queue_data_rows": 1, "event_rows": 2}));
    let event = app.get(&uri).await.ok_json();
    assert_eq!(event["queue_data"]["rows"][0]["body"]["orders"], 3);
    assert_eq!(event["event"]["rows"][1]["trigger"], "retry");
    let summary = app.get(&run).await.ok_json();
    assert_eq!(summary["event"]["status"]["success"], true);
    assert_eq!(summary["event"]["status"]["message"], "received");
    assert_eq!(summary["event"]["status"]["total"], 2, "{summary}");
    // The other company has no such run.
    let theirs = app.call(&uri, Some(&app.other_token()), &[]).await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);

    for (body, loc) in [
        (
            json!({"event": [{"a": 1}, 2]}),
            json!(["body", "event", "1"]),
        ),
        (json!({"event": "text"}), json!(["body", "event"])),
        (
            json!({"status": "done", "event": {}}),
            json!(["body", "status"]),
        ),
        (json!({"message": "nothing"}), Value::Null),
    ] {
        let reply = app
            .send(
                Method::PUT,
                &uri,
                Some(&app.write_token()),
                &[JSON],
                body.to_string(),
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        if !loc.is_null() {
            assert_eq!(
                reply.json()["detail"][0]["loc"],
                loc,
                "{body}: {}",
                reply.json()
            );
        }
    }
}

async fn a_catalog_entry_names_the_dag_for_its_company_only(app: TestApp) {
    let uri = format!("/api/v1/dags/{}", app.dag);
    let written = app
        .send(
            Method::PATCH,
            &uri,
            Some(&app.write_token()),
            &[JSON],
            json!({"name": "orders_daily", "tags": ["sales", "daily"], "owner": "data-eng"})
                .to_string(),
        )
        .await;
    let dag = written.ok_json();
    assert_eq!(dag["name"], "orders_daily");
    assert_eq!(dag["tags"], json!(["sales", "daily"]));
    // Fields left out are kept.
    let renamed = app
        .send(
            Method::PATCH,
            &uri,
            Some(&app.write_token()),
            &[JSON],
            json!({"description": "Orders of the day"}).to_string(),
        )
        .await
        .ok_json();
    assert_eq!(renamed["name"], "orders_daily");
    assert_eq!(renamed["description"], "Orders of the day");
    assert_eq!(renamed["owner"], "data-eng");
    let listed = app.get("/api/v1/dags?name=orders").await.ok_json();
    assert_eq!(listed["items"][0]["dag_id"], app.dag.to_string());

    // Another company's write token names its own DAG of that id: the
    // first company's entry is untouched, and neither sees the other's.
    let other = token_with_scopes(app.other.as_str(), &[dagtrail::auth::RUNS_WRITE]);
    app.send(
        Method::PATCH,
        &uri,
        Some(&other),
        &[JSON],
        json!({"name": "theirs"}).to_string(),
    )
    .await
    .ok_json();
    let ours = app.get("/api/v1/dags").await.ok_json();
    assert_eq!(ours["items"][0]["name"], "orders_daily");
    assert!(!ours.to_string().contains("theirs"));
    let theirs = app
        .call("/api/v1/dags", Some(&app.other_token()), &[])
        .await
        .ok_json();
    assert!(!theirs.to_string().contains("orders_daily"));

    // Bodies refused the API's way, naming where.
    for (body, headers, status, expected) in [
        (
            json!({"tags": ["ok", ""]}).to_string(),
            &[JSON][..],
            StatusCode::UNPROCESSABLE_ENTITY,
            json!(["body", "tags", "1"]),
        ),
        (
            json!({"nmae": "typo"}).to_string(),
            &[JSON][..],
            StatusCode::UNPROCESSABLE_ENTITY,
            json!(["body", "nmae"]),
        ),
        (
            json!({"tags": "one"}).to_string(),
            &[JSON][..],
            StatusCode::UNPROCESSABLE_ENTITY,
            json!(["body", "tags"]),
        ),
        (
            "{\"name\": \"x\",\n \"owner\": }".to_owned(),
            &[JSON][..],
            StatusCode::UNPROCESSABLE_ENTITY,
            json!(["body", "owner"]),
        ),
    ] {
        let reply = app
            .send(
                Method::PATCH,
                &uri,
                Some(&app.write_token()),
                headers,
                body.clone(),
            )
            .await;
        assert_eq!(reply.status, status, "{body}");
        assert_eq!(
            reply.json()["detail"][0]["loc"],
            expected,
            "{body}: {}",
            reply.json()
        );
    }
    let syntax = app
        .send(
            Method::PATCH,
            &uri,
            Some(&app.write_token()),
            &[JSON],
            "{\"name\": \"x\",\n \"owner\": }",
        )
        .await
        .json();
    assert!(
        syntax["detail"][0]["msg"]
            .as_str()
            .unwrap()
            .contains("line 2"),
        "{syntax}"
    );
    let form = app
        .send(
            Method::PATCH,
            &uri,
            Some(&app.write_token()),
            &[("content-type", "text/plain")],
            "name=x",
        )
        .await;
    assert_eq!(form.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(form.header("content-type"), "application/problem+json");
    let huge = app
        .send(
            Method::PATCH,
            &uri,
            Some(&app.write_token()),
            &[JSON],
            format!("{{\"name\": \"{}\"}}", "x".repeat(2 * 1024 * 1024)),
        )
        .await;
    assert_eq!(huge.status, StatusCode::PAYLOAD_TOO_LARGE);
}

async fn writing_needs_the_scope(app: TestApp) {
    let uri = format!("/api/v1/dags/{}", app.dag);
    let body = json!({"name": "x"}).to_string();
    let none = app
        .send(Method::PATCH, &uri, None, &[JSON], body.clone())
        .await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    // A reading token (today's tokens) may not write; it says which scope
    // is missing, as RFC 6750 section 3.1 has it.
    for token in [
        app.token(),
        token_with_scopes(app.company.as_str(), &["runs:read", "runs:writer"]),
    ] {
        let refused = app
            .send(Method::PATCH, &uri, Some(&token), &[JSON], body.clone())
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        assert_eq!(
            refused.header("www-authenticate"),
            r#"Bearer error="insufficient_scope", scope="runs:write""#
        );
        assert_eq!(refused.header("content-type"), "application/problem+json");
    }
    // Nothing was written.
    let dags = app.get("/api/v1/dags").await.ok_json();
    assert!(!dags.to_string().contains("\"name\":\"x\""), "{dags}");
    // A writing token still reads.
    app.call("/api/v1/dags", Some(&app.write_token()), &[])
        .await
        .ok_json();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_entry_needs_no_runs() {
    let app = embedded().await;
    let dag = uuid::Uuid::new_v4();
    let entry = app
        .send(
            Method::PATCH,
            &format!("/api/v1/dags/{dag}"),
            Some(&app.write_token()),
            &[JSON],
            json!({"name": "not yet run"}).to_string(),
        )
        .await
        .ok_json();
    assert_eq!(entry["runs"], 0);
    assert!(entry["last_run"].is_null());
}
