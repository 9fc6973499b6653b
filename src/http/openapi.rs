//! The OpenAPI 3.1 document, generated from the route declarations, and the
//! interactive docs page (Swagger UI, its assets compiled into the binary
//! from the `utoipa-swagger-ui-vendored` crate: nothing is loaded from a
//! CDN).

use axum::Router;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use super::AppState;
use super::{phases, runs};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A JWT whose `id_company` claim (configurable) names the company",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document's static part; paths come from [`api_router`].
#[derive(OpenApi)]
#[openapi(
    info(
        title = "dagtrail",
        description = "Search the runs of a DAG and drill into each phase (event, extract, transform, load) down to every data row, error and log line. Every endpoint acts for the company named by the bearer token.",
    ),
    servers((url = "/api/v1")),
    modifiers(&BearerAuth),
    tags(
        (name = "runs", description = "The run index: search runs, read one run"),
        (name = "phases", description = "A run's artifacts: event, metadata, data, errors, logs"),
    )
)]
pub struct ApiDoc;

/// Every API route, with the documentation its declaration carries.
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(runs::search_runs))
        .routes(routes!(runs::get_run))
        .routes(routes!(phases::event))
        .routes(routes!(phases::phase))
        .routes(routes!(phases::data))
        .routes(routes!(phases::errors))
        .routes(routes!(phases::logs))
}

/// The OpenAPI document as served.
pub fn document() -> utoipa::openapi::OpenApi {
    api_router().split_for_parts().1
}

/// `/api/v1/openapi.json` and the docs page at `/docs`.
pub fn docs(doc: utoipa::openapi::OpenApi) -> Router {
    Router::new().merge(SwaggerUi::new("/docs").url("/api/v1/openapi.json", doc))
}
