//! The application `dagtrail serve` serves: the JSON API ([`crate::http`])
//! and the run explorer ([`crate::ui`]) over one state.

use axum::Router;

use crate::http::AppState;

/// Every route: `/api/v1`, `/docs`, `/healthz`, `/readyz`, `/metrics`,
/// and the run explorer's pages at `/`.
pub fn router(state: AppState) -> Router {
    crate::http::router(state.clone(), crate::ui::router(state))
}
