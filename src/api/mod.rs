//! The JSON API (contract section 4): the read endpoints under `/api/v1`
//! ([`dags`], [`runs`], [`phases`]), the write routes beside them
//! ([`write`]) and the OpenAPI document that describes both
//! ([`openapi`]). Handlers are thin: extract with the web core's
//! extractors ([`crate::http`]), call the read service or the recorder,
//! map the result; failures become problem bodies in
//! [`crate::http::error`]. Nothing here knows the run explorer.

pub mod dags;
pub mod openapi;
pub mod phases;
pub mod runs;
pub mod write;

use axum::Router;

use crate::http::AppState;

/// `/api/v1/...` (every JSON route, with CORS when origins are allowed)
/// and `/docs` with the OpenAPI document, over `state`.
pub fn router(state: AppState) -> Router {
    let (api, doc) = openapi::api();
    let mut api = api.with_state(state.clone());
    if let Some(cors) = crate::http::cors::layer(&state.cors_origins) {
        api = api.layer(cors);
    }
    Router::new().nest("/api/v1", api).merge(openapi::docs(doc))
}
