//! `/healthz` (the process answers) and `/readyz` (both stores answer
//! within a second, the store is dagtrail's, tokens can be verified).

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::{Value, json};

use super::AppState;
use crate::read::READY_PROBE;

/// `/healthz`, `/readyz` and `/metrics`: operations' routes, outside any
/// surface (no token, no company).
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(ready))
        .route("/metrics", get(super::metrics::render))
        .with_state(state)
}

async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    // Each probe is bounded by READY_PROBE; the outer bound is a net.
    let limit = READY_PROBE + READY_PROBE / 2;
    let keys = async {
        tokio::time::timeout(READY_PROBE, state.verifier.ready())
            .await
            .unwrap_or_else(|_| Err("the JWKS did not answer in time".to_owned()))
    };
    let probes = async { tokio::join!(state.reads.ready(), keys) };
    let failing = match tokio::time::timeout(limit, probes).await {
        Ok((Ok(()), Ok(()))) => return (StatusCode::OK, Json(json!({"status": "ready"}))),
        Ok((Err(store), _)) => {
            tracing::warn!(reason = %super::error::causes(&store), "not ready");
            store.store()
        }
        Ok((Ok(()), Err(keys))) => {
            tracing::warn!(reason = %keys, "not ready");
            "token keys"
        }
        Err(_) => "timeout",
    };
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"status": "unavailable", "failing": failing})),
    )
}
