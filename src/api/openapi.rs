//! The OpenAPI 3.1 document, generated from the route declarations, and the
//! interactive docs page (Swagger UI, its assets compiled into the binary
//! from the `utoipa-swagger-ui-vendored` crate: nothing is loaded from a
//! CDN).

use axum::Router;
use axum::http::{HeaderValue, header};
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, Response, ResponseBuilder};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use super::{dags, phases, runs, write};
use crate::http::AppState;
use crate::http::error::{ErrorResponse, HTTPValidationError};

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

/// The document's static part; paths come from [`api`].
#[derive(OpenApi)]
#[openapi(
    info(
        title = "dagtrail",
        description = "Search the runs of a DAG and drill into each phase (event, extract, transform, load) down to every data row, error and log line. Every endpoint acts for the company named by the bearer token.",
    ),
    servers((url = "/api/v1")),
    components(schemas(ErrorResponse, HTTPValidationError)),
    modifiers(&BearerAuth),
    tags(
        (name = "dags", description = "The fleet: every DAG of the company, and a DAG's runs per day"),
        (name = "runs", description = "The run index: search runs, read one run"),
        (name = "phases", description = "A run's artifacts: event, metadata, data, errors, logs"),
        (name = "write", description = "Recording runs (needs a token whose scope holds runs:write): DAG catalog entries, events, phase attempts"),
    )
)]
pub struct ApiDoc;

/// Every API route, with the documentation its declaration carries.
fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(dags::list_dags))
        .routes(routes!(dags::calendar))
        .routes(routes!(runs::search_company_runs))
        .routes(routes!(runs::search_runs))
        .routes(routes!(runs::get_run))
        .routes(routes!(phases::event))
        .routes(routes!(phases::phase))
        .routes(routes!(phases::data))
        .routes(routes!(phases::errors))
        .routes(routes!(phases::logs))
        .routes(routes!(write::describe_dag))
        .routes(routes!(write::event::record_event))
        .routes(routes!(write::attempts::open_next_attempt))
        .routes(routes!(
            write::attempts::open_attempt,
            write::attempts::staged_attempt,
            write::attempts::abort_attempt
        ))
        .routes(routes!(write::attempts::upload_part))
        .routes(routes!(write::attempts::commit_attempt))
}

/// The API's routes and their OpenAPI document, the failures every route
/// shares added to each operation (401, 422, 502, 504).
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (routes, mut doc) = api_router().split_for_parts();
    add_shared_failures(&mut doc);
    (routes, doc)
}

/// The OpenAPI document as served.
pub fn document() -> utoipa::openapi::OpenApi {
    api().1
}

/// A problem-body response (`application/problem+json`, contract 4.3).
fn problem(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/problem+json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorResponse")))
                .build(),
        )
        .build()
}

/// Documents, once for every operation, the failures that `http::error`
/// maps the same way on every route: 401 (no or bad token), 403 on the
/// write routes (a token without `runs:write`), 422 (a
/// parameter: FastAPI's body), and 502/504 from the store the operation
/// reads (its tag: `runs` read the run index, `phases` the artifact
/// store, `write` both). An operation that documents one of these itself
/// keeps its own.
fn add_shared_failures(doc: &mut utoipa::openapi::OpenApi) {
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.patch,
            &mut item.delete,
        ];
        for op in operations.into_iter().flatten() {
            let has_tag = |name: &str| {
                op.tags
                    .as_ref()
                    .is_some_and(|tags| tags.iter().any(|t| t == name))
            };
            let writes = has_tag("write");
            let is_artifact_read = has_tag("phases");
            let reads_run_index = writes || has_tag("runs") || has_tag("dags");
            let (failed, timed_out) = if writes {
                (
                    "The store or the run index failed to record",
                    "The stores did not answer in time",
                )
            } else if reads_run_index {
                ("Run lookup failed", "The run index did not answer in time")
            } else {
                (
                    "The store failed or a file could not be decoded",
                    "The store did not answer in time",
                )
            };
            let mut validation = ResponseBuilder::new()
                .description(if writes {
                    "Validation error (a parameter or the body's JSON), or rows or a state of the run that cannot be recorded (a problem body naming the part and line)"
                } else {
                    "Validation error"
                })
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("HTTPValidationError")))
                        .build(),
                );
            if writes {
                validation = validation.content(
                    "application/problem+json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorResponse")))
                        .build(),
                );
            }
            let validation = validation.build();
            let responses = &mut op.responses.responses;
            for (status, response) in [
                ("401", problem("Unauthorized")),
                ("422", validation),
                ("502", problem(failed)),
                ("504", problem(timed_out)),
            ] {
                responses
                    .entry(status.to_owned())
                    .or_insert_with(|| response.into());
            }
            if writes {
                responses.entry("403".to_owned()).or_insert_with(|| {
                    problem("The token lacks the runs:write scope (`WWW-Authenticate: Bearer error=\"insufficient_scope\"`), or this server takes no writes (`DAGTRAIL_WRITE_API=false`)").into()
                });
            }
            if writes {
                responses.entry("408".to_owned()).or_insert_with(|| {
                    problem("The request body came slower than the server's minimum rate (`DAGTRAIL_BODY_MIN_RATE` after `DAGTRAIL_BODY_TIMEOUT_SECS`); the connection is closed").into()
                });
            }
            responses.entry("503".to_owned()).or_insert_with(|| {
                problem(if reads_run_index {
                    "Every connection of this process to the run index is in use, or the request took longer than its deadline (`DAGTRAIL_REQUEST_DEADLINE_SECS`); retry after the `Retry-After` seconds"
                } else {
                    "The request took longer than its deadline (`DAGTRAIL_REQUEST_DEADLINE_SECS`); retry after the `Retry-After` seconds"
                })
                .into()
            });
            if is_artifact_read {
                add_conditional_get(op);
            }
        }
    }
}

/// Documents conditional GET on an operation about a run's artifacts
/// (`http::conditional`): the `If-None-Match` header it takes, the 304 it
/// may answer, and the caching headers of its 200.
fn add_conditional_get(op: &mut utoipa::openapi::path::Operation) {
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    use utoipa::openapi::{HeaderBuilder, ObjectBuilder, Required, Type};
    let string = || ObjectBuilder::new().schema_type(Type::String).build();
    op.parameters.get_or_insert_with(Vec::new).push(
        ParameterBuilder::new()
            .name("If-None-Match")
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(
                "Entity tags of copies the client holds (RFC 9110 section 13.1.2); one that is current gets a 304",
            ))
            .schema(Some(string()))
            .build()
            .into(),
    );
    let responses = &mut op.responses.responses;
    if let Some(utoipa::openapi::RefOr::T(ok)) = responses.get_mut("200") {
        ok.headers.insert(
            "ETag".to_owned(),
            HeaderBuilder::new()
                .schema(Some(string()))
                .description(Some(
                    "A strong entity tag of this answer (of the attempt's commit, for a committed attempt); a compressed answer's is weak and carries the coding (`W/\"…-gzip\"`)",
                ))
                .build()
                .into(),
        );
        ok.headers.insert(
            "Cache-Control".to_owned(),
            HeaderBuilder::new()
                .schema(Some(string()))
                .description(Some(
                    "`private, max-age=3600, immutable` about a committed attempt (it never changes); `private, no-cache` for a run's event",
                ))
                .build()
                .into(),
        );
    }
    responses.entry("304".to_owned()).or_insert_with(|| {
        ResponseBuilder::new()
            .description("Not modified: the copy whose tag `If-None-Match` holds is current (no body; nothing read beyond the attempt's cached metadata)")
            .build()
            .into()
    });
}

/// The docs page's content security policy: its scripts, styles and
/// images come from the binary (Swagger UI's page has inline `<style>`s,
/// no inline script); it may fetch only this origin and be framed by none.
const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
     base-uri 'none'; form-action 'none'";

/// `/api/v1/openapi.json` and the docs page at `/docs`, with a content
/// security policy.
pub fn docs(doc: utoipa::openapi::OpenApi) -> Router {
    Router::new()
        .merge(SwaggerUi::new("/docs").url("/api/v1/openapi.json", doc))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(DOCS_CSP),
        ))
}
