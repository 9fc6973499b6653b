//! Endpoints 3-7: a run's event, and each phase attempt's metadata, data,
//! errors and logs (artifact store).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::AppState;
use crate::http::auth::Tenant;
use crate::http::conditional::{self, Conditional};
use crate::http::error::{ApiError, ErrorResponse};
use crate::http::ndjson::{self, AcceptsNdjson};
use crate::http::params::{
    AttemptQuery, DataQuery, LogQuery, PageQuery, Params, PhasePath, RunPath,
};
use crate::read::ParquetPage;

/// Both event files of a run.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct EventResponse {
    /// `queue_data.parquet`: the raw trigger message.
    #[schema(value_type = Option<ParquetPage>)]
    pub queue_data: Option<ParquetPage>,
    /// `event.parquet`: the processed event.
    #[schema(value_type = Option<ParquetPage>)]
    pub event: Option<ParquetPage>,
}

/// Event payload (queue_data + processed event).
///
/// Both files are read concurrently, so the latency is that of the slower.
#[utoipa::path(
    get,
    path = "/dags/{dag_id}/runs/{date}/{run_id}/event",
    tag = "phases",
    params(
        RunPath,
    ),
    responses(
        (status = 200, description = "The event files (null when absent)", body = EventResponse),
        (status = 404, description = "Neither event file exists", body = ErrorResponse, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn event(
    State(state): State<AppState>,
    Tenant(company): Tenant,
    RunPath(run): RunPath,
    conditional: Conditional,
) -> Result<Response, ApiError> {
    let pages = state.timed(state.reads.event(&company, &run)).await?;
    // An event can be recorded again: its tag is the answer's own digest,
    // which saves the client the body, not the server the read.
    let answer = EventResponse {
        queue_data: pages.queue_data,
        event: pages.event,
    };
    let Ok(body) = serde_json::to_vec(&answer) else {
        // Json's own answer to a value it cannot encode (a 500).
        return Ok(Json(answer).into_response());
    };
    let tag = conditional::body_tag(&body);
    if let Some(response) = conditional.not_modified(&tag, conditional::REVALIDATE) {
        return Ok(response);
    }
    let response = (
        [(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response();
    Ok(conditional.tagged(response, &tag, conditional::REVALIDATE))
}

/// Phase attempt summary (metadata and counts).
///
/// `metadata.parquet` of the attempt as a one-row page: outcome, times,
/// file counts, `log_count`, `error_log_count`.
#[utoipa::path(
    get,
    path = "/dags/{dag_id}/runs/{date}/{run_id}/phases/{phase}",
    tag = "phases",
    params(
        PhasePath,
        AttemptQuery,
    ),
    responses(
        (status = 200, description = "The metadata row", body = ParquetPage),
        (status = 404, description = "No committed attempt", body = ErrorResponse, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn phase(
    State(state): State<AppState>,
    Tenant(company): Tenant,
    PhasePath { run, phase }: PhasePath,
    Params(AttemptQuery { attempt }): Params<AttemptQuery>,
    conditional: Conditional,
) -> Result<Response, ApiError> {
    let reader = state
        .timed(state.reads.attempt(&company, &run, phase, attempt))
        .await?;
    conditional
        .immutable(&company, &reader, async {
            Ok(Json(reader.metadata_page()?).into_response())
        })
        .await
}

/// Phase data rows (paginated).
///
/// The data files are read as one sequence, each page located through
/// `data_file_rows` and the files' footers. With `keyword`, rows are found
/// through `index.parquet` and returned in (`_file`, `_row`) order.
#[utoipa::path(
    get,
    path = "/dags/{dag_id}/runs/{date}/{run_id}/phases/{phase}/data",
    tag = "phases",
    params(
        PhasePath,
        AttemptQuery,
        PageQuery,
        DataQuery,
    ),
    responses(
        (status = 200, description = "A page of data rows", body = ParquetPage),
        (status = 404, description = "No committed attempt", body = ErrorResponse, content_type = "application/problem+json"),
        (status = 503, description = "Too many keyword searches at once (for this company, or in all); see Retry-After", body = ErrorResponse, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn data(
    State(state): State<AppState>,
    Tenant(company): Tenant,
    PhasePath { run, phase }: PhasePath,
    Params(query): Params<(AttemptQuery, PageQuery, DataQuery)>,
    conditional: Conditional,
) -> Result<Response, ApiError> {
    let (AttemptQuery { attempt }, p, DataQuery { keyword }) = query;
    // A busy company's search is refused before anything is read.
    let _slot = match keyword {
        Some(_) => Some(state.search_slot(&company)?),
        None => None,
    };
    let reader = state
        .timed(state.reads.attempt(&company, &run, phase, attempt))
        .await?;
    conditional
        .immutable(&company, &reader, async {
            let page = state
                .timed(async {
                    match &keyword {
                        Some(k) => reader.search_data(k, p.page, p.limit).await,
                        None => reader.data_page(p.page, p.limit).await,
                    }
                })
                .await?;
            Ok(Json(page).into_response())
        })
        .await
}

/// Phase errors (paginated).
///
/// Rows of `errors_NNN.parquet`: RFC 7807-aligned fields (`error_type`,
/// `error_title`, `error_status`, `error_detail`) with `traceback`, the data
/// row concerned and the offending record.
#[utoipa::path(
    get,
    path = "/dags/{dag_id}/runs/{date}/{run_id}/phases/{phase}/errors",
    tag = "phases",
    params(
        PhasePath,
        AttemptQuery,
        PageQuery,
    ),
    responses(
        (status = 200, description = "A page of error rows", body = ParquetPage),
        (status = 404, description = "No committed attempt", body = ErrorResponse, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn errors(
    State(state): State<AppState>,
    Tenant(company): Tenant,
    PhasePath { run, phase }: PhasePath,
    Params(query): Params<(AttemptQuery, PageQuery)>,
    conditional: Conditional,
) -> Result<Response, ApiError> {
    let (AttemptQuery { attempt }, p) = query;
    let reader = state
        .timed(state.reads.attempt(&company, &run, phase, attempt))
        .await?;
    conditional
        .immutable(&company, &reader, async {
            let page = state.timed(reader.errors_page(p.page, p.limit)).await?;
            Ok(Json(page).into_response())
        })
        .await
}

/// Phase logs (paginated or streamed).
///
/// Paginated JSON by default. With `Accept: application/x-ndjson`, every
/// matching row is streamed as one JSON object per line, without
/// pagination (`page` and `limit` are ignored).
#[utoipa::path(
    get,
    path = "/dags/{dag_id}/runs/{date}/{run_id}/phases/{phase}/logs",
    tag = "phases",
    params(
        PhasePath,
        AttemptQuery,
        PageQuery,
        LogQuery,
    ),
    responses(
        (status = 200, description = "A page of log rows, or every matching row as NDJSON", content(
            (ParquetPage = "application/json"),
            (String = "application/x-ndjson"),
        )),
        (status = 404, description = "No committed attempt", body = ErrorResponse, content_type = "application/problem+json"),
        (status = 503, description = "Too many NDJSON streams or filtered searches at once (for this company, or in all); see Retry-After", body = ErrorResponse, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn logs(
    State(state): State<AppState>,
    Tenant(company): Tenant,
    PhasePath { run, phase }: PhasePath,
    AcceptsNdjson(wants_ndjson): AcceptsNdjson,
    Params(query): Params<(AttemptQuery, PageQuery, LogQuery)>,
    conditional: Conditional,
) -> Result<Response, ApiError> {
    let (AttemptQuery { attempt }, p, logs) = query;
    let filter = logs.filter();
    // A busy company's download or filtered search is refused before
    // anything is read.
    let slot = match (wants_ndjson, filter.is_empty()) {
        (true, _) => Some(state.stream_slot(&company)?),
        (false, false) => Some(state.search_slot(&company)?),
        (false, true) => None,
    };
    let reader = state
        .timed(state.reads.attempt(&company, &run, phase, attempt))
        .await?;
    conditional
        .immutable(&company, &reader, async {
            if wants_ndjson && let Some(slot) = slot {
                return ndjson::logs(&state, &reader, filter, slot).await;
            }
            let page = state
                .timed(reader.logs_page(&filter, p.page, p.limit))
                .await?;
            Ok(ndjson::vary_by_accept(Json(page).into_response()))
        })
        .await
}
