//! OpenAPI document (snapshot-tested), the offline docs page, health
//! endpoints, request ids and unknown routes.

use axum::http::StatusCode;

use crate::support::{call, embedded};

const SNAPSHOT: &str = "tests/api/snapshots/openapi.json";

/// The served document must equal the committed snapshot, so an API change
/// shows in review. `UPDATE_SNAPSHOTS=1 cargo test --test api` rewrites it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_matches_the_snapshot() {
    let app = embedded().await;
    let reply = call(&app.router, "/api/v1/openapi.json", None, &[]).await;
    assert_eq!(reply.status, StatusCode::OK);
    let served: serde_json::Value = reply.json();
    assert!(served["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = served["paths"].as_object().unwrap();
    assert_eq!(paths.len(), 7, "{:?}", paths.keys().collect::<Vec<_>>());
    for op in paths.values().flat_map(|p| p.as_object().unwrap().values()) {
        for code in ["200", "401", "422"] {
            assert!(
                op["responses"].get(code).is_some(),
                "{} lacks {code}",
                op["operationId"]
            );
        }
    }
    let pretty = serde_json::to_string_pretty(&served).unwrap() + "\n";
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all("tests/api/snapshots").unwrap();
        std::fs::write(SNAPSHOT, &pretty).unwrap();
    }
    let committed = std::fs::read_to_string(SNAPSHOT).unwrap_or_default();
    assert!(
        committed == pretty,
        "the OpenAPI document changed: review it, then run UPDATE_SNAPSHOTS=1 cargo test --test api openapi"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docs_page_works_offline() {
    let app = embedded().await;
    let page = call(&app.router, "/docs/", None, &[]).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = String::from_utf8(page.body).unwrap();
    assert!(html.contains("swagger"), "{html}");
    for asset in [
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-initializer.js",
    ] {
        assert!(html.contains(asset), "{asset} not referenced");
        let reply = call(&app.router, &format!("/docs/{asset}"), None, &[]).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{asset} is served by the binary"
        );
        assert!(reply.body.len() > 100);
    }
    assert!(
        !html.contains("://cdn") && !html.contains("unpkg.com"),
        "nothing is loaded from a CDN"
    );
    let init = String::from_utf8(
        call(&app.router, "/docs/swagger-initializer.js", None, &[])
            .await
            .body,
    )
    .unwrap();
    assert!(init.contains("/api/v1/openapi.json"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_request_ids_and_unknown_routes() {
    let app = embedded().await;
    assert_eq!(
        call(&app.router, "/healthz", None, &[]).await.status,
        StatusCode::OK
    );
    let ready = call(&app.router, "/readyz", None, &[]).await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.json()["status"], "ready");
    let echoed = call(
        &app.router,
        "/healthz",
        None,
        &[("x-request-id", "abc-123")],
    )
    .await;
    assert_eq!(echoed.header("x-request-id"), "abc-123");
    let made = call(&app.router, "/healthz", None, &[]).await;
    assert_eq!(
        made.header("x-request-id").len(),
        36,
        "a UUID is made up when none is given"
    );
    let unknown = call(&app.router, "/nope", None, &[]).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.header("content-type"), "application/problem+json");
    assert_eq!(unknown.json()["instance"], "/nope");
}
