//! The application `dagtrail serve` serves: the JSON API ([`crate::api`]),
//! the run explorer ([`crate::ui`]) and the operations routes
//! ([`crate::http::health`]) side by side over one state, under the one
//! middleware stack of the web core ([`crate::http`]). This is the one
//! place that knows every surface.

use axum::Router;
use axum::http::{HeaderValue, header};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::http::{AppState, body, conditional, health, metrics, observe};

/// Every route: `/api/v1`, `/docs`, `/healthz`, `/readyz`, `/metrics`, and
/// the run explorer's pages at `/`, under the same request log, panic
/// guard, deadlines, body rate, headers and compression. What no route
/// answers goes to the explorer's fallback (a page for a browser, else
/// the problem body of an unknown route): axum cannot merge two.
pub fn router(state: AppState) -> Router {
    metrics::install();
    let (deadlines, body_rate) = (state.limits.deadlines, state.limits.body_rate);
    Router::new()
        .merge(crate::api::router(state.clone()))
        .merge(health::router(state.clone()))
        .merge(crate::ui::router(state))
        // A bug that panics answers a problem body instead of dropping the
        // connection (and is logged); the layer sits inside `observe` so the
        // request is still logged with its status.
        .layer(CatchPanicLayer::custom(observe::panic_response))
        .layer(axum::middleware::from_fn_with_state(
            deadlines,
            observe::deadline,
        ))
        // Every body keeps to a minimum rate (a trickle holds nothing).
        .layer(axum::middleware::from_fn_with_state(
            body_rate,
            body::limit_rate,
        ))
        .layer(axum::middleware::from_fn(observe::observe))
        // No response is to be read as another type than it says.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(observe::request_id_layers())
        .layer(axum::middleware::map_request(
            observe::drop_unfit_request_id,
        ))
        // JSON, NDJSON (still streamed: each chunk is compressed as it
        // comes) and pages, as the client's `Accept-Encoding` allows;
        // outermost, so that it compresses the body `observe` finished (a
        // problem body gets its `instance` there). The fastest level:
        // answers are made per request, and at level 1 JSON already
        // shrinks several times over.
        .layer(CompressionLayer::new().quality(tower_http::CompressionLevel::Fastest))
        .layer(axum::middleware::map_response(conditional::tag_encoding))
        // `*` in Accept-Encoding allows any coding (RFC 9110 12.5.3).
        .layer(axum::middleware::map_request(
            conditional::expand_any_coding,
        ))
}
