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
    // The contract's seven endpoints, the fleet's two, the search across
    // DAGs, and the write API's (a DAG's catalog entry, and the attempts:
    // open, one attempt, its parts, its commit; the event's is the read's).
    assert_eq!(paths.len(), 15, "{:?}", paths.keys().collect::<Vec<_>>());
    for op in paths.values().flat_map(|p| p.as_object().unwrap().values()) {
        let success = if op["responses"].get("204").is_some() {
            "204"
        } else {
            "200"
        };
        for code in [success, "401", "422"] {
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

/// utoipa's attributes take only literals: every bound the document
/// states must be the constant the parsers use, and every pattern must
/// accept exactly the values the parsers take.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documented_bounds_are_the_parsers_constants() {
    use dagtrail::artifacts::schemas::LOG_LEVELS;
    use dagtrail::http::params::*;
    use dagtrail::model::Phase;

    let app = embedded().await;
    let served: serde_json::Value = call(&app.router, "/api/v1/openapi.json", None, &[])
        .await
        .json();
    let as_u64 = |n: usize| serde_json::json!(n as u64);
    let mut checked = 0;
    for (path, item) in served["paths"].as_object().unwrap() {
        let runs_search = path.ends_with("/runs");
        let parameters = item
            .as_object()
            .unwrap()
            .values()
            .flat_map(|op| op["parameters"].as_array().cloned().unwrap_or_default());
        for param in parameters {
            let name = param["name"].as_str().unwrap();
            let schema = &param["schema"];
            let pattern = || regex::Regex::new(schema["pattern"].as_str().unwrap()).unwrap();
            let at = format!("{path} {name}");
            match name {
                "run_id" => {
                    assert_eq!(schema["maxLength"], as_u64(MAX_RUN_ID_BYTES), "{at}");
                    assert!(
                        pattern().is_match("manual__2026-11-27T00:00:00+00:00"),
                        "{at}"
                    );
                    assert!(!pattern().is_match("a\u{7}b"), "{at}");
                }
                "keyword" | "event_keyword" | "extract_keyword" | "transform_keyword"
                | "load_keyword" => {
                    assert_eq!(schema["maxLength"], as_u64(MAX_KEYWORD_CHARS), "{at}");
                    assert!(!pattern().is_match("a\0b"), "{at}");
                }
                "run_ids" => {
                    assert_eq!(schema["maxLength"], as_u64(MAX_RUN_IDS_CHARS), "{at}");
                    let doc = param["description"].as_str().unwrap();
                    assert!(
                        doc.contains(&format!("at most {MAX_RUN_IDS}")),
                        "{at}: {doc}"
                    );
                }
                "level" => {
                    assert_eq!(schema["maxLength"], as_u64(MAX_LEVELS_CHARS), "{at}");
                    let all = LOG_LEVELS.join(", ").to_lowercase();
                    for level in LOG_LEVELS.iter().copied().chain([all.as_str()]) {
                        assert!(pattern().is_match(level), "{at}: {level}");
                    }
                    assert!(!pattern().is_match("TRACE"), "{at}");
                }
                "page" if runs_search => {
                    assert_eq!(schema["maximum"], serde_json::json!(MAX_RUNS_PAGE), "{at}")
                }
                "limit" if runs_search => {
                    assert_eq!(
                        schema["maximum"],
                        serde_json::json!(MAX_RUNS_PER_PAGE),
                        "{at}"
                    );
                    assert_eq!(
                        schema["default"],
                        serde_json::json!(DEFAULT_RUNS_PER_PAGE),
                        "{at}"
                    );
                }
                "page" => assert_eq!(schema["maximum"], serde_json::json!(MAX_ROWS_PAGE), "{at}"),
                "limit" => {
                    assert_eq!(
                        schema["maximum"],
                        serde_json::json!(MAX_ROWS_PER_PAGE),
                        "{at}"
                    );
                    assert_eq!(
                        schema["default"],
                        serde_json::json!(DEFAULT_ROWS_PER_PAGE),
                        "{at}"
                    );
                }
                "phase" => {
                    for phase in Phase::ALL {
                        assert_eq!(pattern().is_match(phase.as_str()), phase.is_step(), "{at}");
                    }
                }
                "extract_status" | "transform_status" | "load_status" => {
                    for status in ["all", "success", "failed", "pending"] {
                        assert!(pattern().is_match(status), "{at}");
                        assert!(status.parse::<dagtrail::runindex::StatusFilter>().is_ok());
                    }
                    assert!(pattern().is_match("failed,pending"), "{at}");
                    assert!(!pattern().is_match("failed,"), "{at}");
                }
                "status" => {
                    for status in ["failed", "running", "succeeded"] {
                        assert!(pattern().is_match(status), "{at}");
                        assert!(dagtrail::runindex::fleet::RunStatus::parse(status).is_some());
                    }
                    assert!(pattern().is_match("failed,running"), "{at}");
                    assert!(!pattern().is_match("success"), "{at}");
                }
                "cursor" => {
                    let max = dagtrail::read::cursor::MAX_CURSOR_CHARS;
                    assert_eq!(schema["maxLength"], as_u64(max), "{at}");
                    // base64url, a dot, base64url.
                    assert!(pattern().is_match("eyJxIjoiYSJ9.Zm9v-_"), "{at}");
                    assert!(!pattern().is_match("a b"), "{at}");
                }
                "dag_id" if param["in"] == "query" => {
                    assert_eq!(schema["maxLength"], as_u64(MAX_DAG_IDS * 37), "{at}");
                    let two =
                        "9f0c4c2e-8b4b-4c59-9e0f-1b2b3c4d5e6f,9F0C4C2E-8B4B-4C59-9E0F-1B2B3C4D5E60";
                    assert!(pattern().is_match(two), "{at}");
                    assert!(!pattern().is_match("orders daily"), "{at}");
                }
                "sort" if runs_search => {
                    for (sort, _) in dagtrail::runindex::RunOrder::ALL {
                        assert!(pattern().is_match(sort), "{at}");
                        assert!(dagtrail::runindex::RunOrder::parse(sort).is_some());
                    }
                    assert!(!pattern().is_match("-name"), "{at}");
                }
                "sort" => {
                    for sort in ["name", "-last_run", "-failures"] {
                        assert!(pattern().is_match(sort), "{at}");
                    }
                    assert!(!pattern().is_match("last_run"), "{at}");
                }
                _ => continue,
            }
            checked += 1;
        }
    }
    // run_id ×13 (six reads, the event's write, six attempt writes),
    // keywords 4 ×2 (both run searches) + data + logs, run_ids ×2, level,
    // page and limit ×5, phase ×10 (four reads, six writes), statuses 3 ×2,
    // run status ×3 (both run searches, dags), sort ×3, cursor ×2, dag_id
    // (GET /runs).
    assert_eq!(checked, 13 + 10 + 2 + 1 + 10 + 10 + 6 + 3 + 3 + 2 + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docs_page_works_offline() {
    let app = embedded().await;
    let page = call(&app.router, "/docs/", None, &[]).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.header("content-security-policy")
            .contains("script-src 'self'"),
        "{:?}",
        page.headers
    );
    assert_eq!(page.header("x-content-type-options"), "nosniff");
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
    // An id that could forge log fields, or too long, is replaced.
    let long = "a".repeat(129);
    for unfit in ["abc company=globex", "a\tb", long.as_str()] {
        let replaced = call(&app.router, "/healthz", None, &[("x-request-id", unfit)]).await;
        assert_eq!(replaced.header("x-request-id").len(), 36, "{unfit:?}");
    }
    let longest = "b".repeat(128);
    let kept = call(&app.router, "/healthz", None, &[("x-request-id", &longest)]).await;
    assert_eq!(kept.header("x-request-id"), longest);
    let unknown = call(&app.router, "/nope", None, &[]).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.header("content-type"), "application/problem+json");
    assert_eq!(unknown.json()["instance"], "/nope");
}
