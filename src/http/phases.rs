//! Endpoints 3-7: a run's event, and each phase attempt's metadata, data,
//! errors and logs (artifact store).

use std::collections::HashSet;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Tenant;
use super::error::{ApiError, ErrorResponse, HTTPValidationError};
use super::params::{PathParams, Query};
use super::runs::MAX_KEYWORD_CHARS;
use crate::artifacts::schemas::LOG_LEVELS;
use crate::read::{LogFilter, ParquetPage, ReadError};

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

/// `?attempt=` of endpoint 4.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(dead_code, reason = "documents the parameter that the handler reads")]
pub struct AttemptParams {
    /// Attempt number (1-based).
    #[param(minimum = 1, default = 1)]
    attempt: Option<u32>,
}

/// Query of endpoints 5 and 6.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(dead_code, reason = "documents the parameters that the handler reads")]
pub struct PageParams {
    /// Attempt number (1-based).
    #[param(minimum = 1, default = 1)]
    attempt: Option<u32>,
    /// 0-indexed page.
    #[param(minimum = 0, maximum = 1_000_000_000, default = 0)]
    page: Option<u64>,
    /// Page size.
    #[param(minimum = 1, maximum = 1000, default = 50)]
    limit: Option<u32>,
}

/// Query of endpoint 5.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(dead_code, reason = "documents the parameter that the handler reads")]
pub struct DataParams {
    /// Case-insensitive literal substring of a row's values (through index.parquet).
    #[param(max_length = 256, pattern = "^[^\\u0000]*$")]
    keyword: Option<String>,
}

/// Query of endpoint 7.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(dead_code, reason = "documents the parameters that the handler reads")]
pub struct LogParams {
    /// A level or a comma-separated list of levels (DEBUG, INFO, WARNING, ERROR, CRITICAL), case-insensitive.
    #[param(
        max_length = 200,
        pattern = "^\\s*([Dd][Ee][Bb][Uu][Gg]|[Ii][Nn][Ff][Oo]|[Ww][Aa][Rr][Nn][Ii][Nn][Gg]|[Ee][Rr][Rr][Oo][Rr]|[Cc][Rr][Ii][Tt][Ii][Cc][Aa][Ll])?\\s*(,\\s*([Dd][Ee][Bb][Uu][Gg]|[Ii][Nn][Ff][Oo]|[Ww][Aa][Rr][Nn][Ii][Nn][Gg]|[Ee][Rr][Rr][Oo][Rr]|[Cc][Rr][Ii][Tt][Ii][Cc][Aa][Ll])?\\s*)*$"
    )]
    level: Option<String>,
    /// Case-insensitive literal substring of `message`.
    #[param(max_length = 256, pattern = "^[^\\u0000]*$")]
    keyword: Option<String>,
}

struct Paging {
    attempt: u32,
    page: u64,
    limit: u32,
}

fn paging(q: &mut Query) -> Paging {
    Paging {
        attempt: u32::try_from(q.int("attempt", 1, 1, Some(i64::from(u32::MAX)))).unwrap_or(1),
        page: u64::try_from(q.int("page", 0, 0, Some(1_000_000_000))).unwrap_or(0),
        limit: u32::try_from(q.int("limit", 50, 1, Some(1000))).unwrap_or(50),
    }
}

/// Event payload (queue_data + processed event).
///
/// Both files are read concurrently, so the latency is that of the slower.
#[utoipa::path(
    get,
    path = "/dags/{dag_id}/runs/{date}/{run_id}/event",
    tag = "phases",
    params(
        ("dag_id" = uuid::Uuid, Path, description = "DAG/ETL UUID"),
        ("date" = String, Path, format = Date, description = "Run partition date (YYYY-MM-DD)"),
        ("run_id" = String, Path, max_length = 250, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$", description = "Airflow run_id (URL-encoded); at most 250 bytes of UTF-8, no control characters, not `.` or `..`"),
    ),
    responses(
        (status = 200, description = "The event files (null when absent)", body = EventResponse),
        (status = 401, description = "Unauthorized", body = ErrorResponse, content_type = "application/problem+json"),
        (status = 404, description = "Neither event file exists", body = ErrorResponse, content_type = "application/problem+json"),
        (status = 422, description = "Validation error", body = HTTPValidationError),
        (status = 502, description = "The store failed or a file could not be decoded", body = ErrorResponse, content_type = "application/problem+json"),
        (status = 504, description = "The store did not answer in time", body = ErrorResponse, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn event(
    State(state): State<AppState>,
    Tenant(company): Tenant,
    path: PathParams,
) -> Result<Json<EventResponse>, ApiError> {
    let run = path.run()?;
    let pages = state.timed(state.reads.event(&company, &run)).await?;
    Ok(Json(EventResponse {
        queue_data: pages.queue_data,
        event: pages.event,
    }))
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
        ("dag_id" = uuid::Uuid, Path, description = "DAG/ETL UUID"),
        ("date" = String, Path, format = Date, description = "Run partition date (YYYY-MM-DD)"),
        ("run_id" = String, Path, max_length = 250, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$", description = "Airflow run_id (URL-encoded); at most 250 bytes of UTF-8, no control characters, not `.` or `..`"),
        ("phase" = String, Path, description = "extract, transform or load", pattern = "^(extract|transform|load)$"),
        AttemptParams,
    ),
    responses(
        (status = 200, description = "The metadata row", body = ParquetPage),
        (status = 401, description = "Unauthorized", body = ErrorResponse, content_type = "application/problem+json"),
        (status = 404, description = "No committed attempt", body = ErrorResponse, content_type = "application/problem+json"),
        (status = 422, description = "Validation error", body = HTTPValidationError),
        (status = 502, description = "The store failed or a file could not be decoded", body = ErrorResponse, content_type = "application/problem+json"),
        (status = 504, description = "The store did not answer in time", body = ErrorResponse, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn phase(
    State(state): State<AppState>,
    Tenant(company): Tenant,
    path: PathParams,
    mut query: Query,
) -> Result<Json<ParquetPage>, ApiError> {
    let attempt = u32::try_from(query.int("attempt", 1, 1, Some(i64::from(u32::MAX)))).unwrap_or(1);
    query.finish()?;
    let (run, phase) = (path.run()?, path.phase()?);
    let reader = state
        .timed(state.reads.attempt(&company, &run, phase, attempt))
        .await?;
    Ok(Json(reader.metadata_page()?))
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
        ("dag_id" = uuid::Uuid, Path, description = "DAG/ETL UUID"),
        ("date" = String, Path, format = Date, description = "Run partition date (YYYY-MM-DD)"),
        ("run_id" = String, Path, max_length = 250, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$", description = "Airflow run_id (URL-encoded); at most 250 bytes of UTF-8, no control characters, not `.` or `..`"),
        ("phase" = String, Path, description = "extract, transform or load", pattern = "^(extract|transform|load)$"),
        PageParams,
        DataParams,
    ),
    responses(
        (status = 200, description = "A page of data rows", body = ParquetPage),
        (status = 401, description = "Unauthorized", body = ErrorResponse, content_type = "application/problem+json"),
        (status = 404, description = "No committed attempt", body = ErrorResponse, content_type = "application/problem+json"),
        (status = 422, description = "Validation error", body = HTTPValidationError),
        (status = 502, description = "The store failed or a file could not be decoded", body = ErrorResponse, content_type = "application/problem+json"),
        (status = 504, description = "The store did not answer in time", body = ErrorResponse, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn data(
    State(state): State<AppState>,
    Tenant(company): Tenant,
    path: PathParams,
    mut query: Query,
) -> Result<Json<ParquetPage>, ApiError> {
    let p = paging(&mut query);
    let keyword = query
        .text("keyword", MAX_KEYWORD_CHARS)
        .filter(|k| !k.is_empty());
    query.finish()?;
    let (run, phase) = (path.run()?, path.phase()?);
    let page = state
        .timed(async {
            let reader = state
                .reads
                .attempt(&company, &run, phase, p.attempt)
                .await?;
            match &keyword {
                Some(k) => reader.search_data(k, p.page, p.limit).await,
                None => reader.data_page(p.page, p.limit).await,
            }
        })
        .await?;
    Ok(Json(page))
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
        ("dag_id" = uuid::Uuid, Path, description = "DAG/ETL UUID"),
        ("date" = String, Path, format = Date, description = "Run partition date (YYYY-MM-DD)"),
        ("run_id" = String, Path, max_length = 250, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$", description = "Airflow run_id (URL-encoded); at most 250 bytes of UTF-8, no control characters, not `.` or `..`"),
        ("phase" = String, Path, description = "extract, transform or load", pattern = "^(extract|transform|load)$"),
        PageParams,
    ),
    responses(
        (status = 200, description = "A page of error rows", body = ParquetPage),
        (status = 401, description = "Unauthorized", body = ErrorResponse, content_type = "application/problem+json"),
        (status = 404, description = "No committed attempt", body = ErrorResponse, content_type = "application/problem+json"),
        (status = 422, description = "Validation error", body = HTTPValidationError),
        (status = 502, description = "The store failed or a file could not be decoded", body = ErrorResponse, content_type = "application/problem+json"),
        (status = 504, description = "The store did not answer in time", body = ErrorResponse, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn errors(
    State(state): State<AppState>,
    Tenant(company): Tenant,
    path: PathParams,
    mut query: Query,
) -> Result<Json<ParquetPage>, ApiError> {
    let p = paging(&mut query);
    query.finish()?;
    let (run, phase) = (path.run()?, path.phase()?);
    let page = state
        .timed(async {
            let reader = state
                .reads
                .attempt(&company, &run, phase, p.attempt)
                .await?;
            reader.errors_page(p.page, p.limit).await
        })
        .await?;
    Ok(Json(page))
}

fn wants_ndjson(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| {
            v.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/x-ndjson"))
        })
}

fn parse_levels(q: &mut Query) -> Option<HashSet<String>> {
    let raw = q.text("level", 200)?;
    let levels: HashSet<String> = raw
        .split(',')
        .map(|l| l.trim().to_ascii_uppercase())
        .filter(|l| !l.is_empty())
        .collect();
    if levels.is_empty() {
        return None;
    }
    if levels.iter().any(|l| !LOG_LEVELS.contains(&l.as_str())) {
        q.invalid("level", "literal_error", "Input should be 'DEBUG', 'INFO', 'WARNING', 'ERROR' or 'CRITICAL' (or a comma-separated list of them)");
        return None;
    }
    Some(levels)
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
        ("dag_id" = uuid::Uuid, Path, description = "DAG/ETL UUID"),
        ("date" = String, Path, format = Date, description = "Run partition date (YYYY-MM-DD)"),
        ("run_id" = String, Path, max_length = 250, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$", description = "Airflow run_id (URL-encoded); at most 250 bytes of UTF-8, no control characters, not `.` or `..`"),
        ("phase" = String, Path, description = "extract, transform or load", pattern = "^(extract|transform|load)$"),
        PageParams,
        LogParams,
    ),
    responses(
        (status = 200, description = "A page of log rows, or every matching row as NDJSON", content(
            (ParquetPage = "application/json"),
            (String = "application/x-ndjson"),
        )),
        (status = 401, description = "Unauthorized", body = ErrorResponse, content_type = "application/problem+json"),
        (status = 404, description = "No committed attempt", body = ErrorResponse, content_type = "application/problem+json"),
        (status = 422, description = "Validation error", body = HTTPValidationError),
        (status = 502, description = "The store failed or a file could not be decoded", body = ErrorResponse, content_type = "application/problem+json"),
        (status = 503, description = "Too many concurrent NDJSON streams", body = ErrorResponse, content_type = "application/problem+json"),
        (status = 504, description = "The store did not answer in time", body = ErrorResponse, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn logs(
    State(state): State<AppState>,
    Tenant(company): Tenant,
    path: PathParams,
    headers: HeaderMap,
    mut query: Query,
) -> Result<Response, ApiError> {
    let p = paging(&mut query);
    let levels = parse_levels(&mut query);
    let keyword = query.text("keyword", MAX_KEYWORD_CHARS);
    query.finish()?;
    let filter = LogFilter::new(levels, keyword.as_deref());
    let (run, phase) = (path.run()?, path.phase()?);
    if wants_ndjson(&headers) {
        let permit =
            state.streams.clone().try_acquire_owned().map_err(|_| {
                ApiError::Busy("too many NDJSON streams at once; retry later".into())
            })?;
        let stream = state
            .timed(async {
                let reader = state
                    .reads
                    .attempt(&company, &run, phase, p.attempt)
                    .await?;
                reader.logs_ndjson(filter).await
            })
            .await?;
        let stream = stream.map(move |chunk| {
            let _held = &permit;
            chunk.map_err(|e: ReadError| {
                tracing::error!(error = %e, "log stream failed");
                std::io::Error::other(e.to_string())
            })
        });
        let mut response = Body::from_stream(stream).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-ndjson"),
        );
        return Ok(response);
    }
    let page = state
        .timed(async {
            let reader = state
                .reads
                .attempt(&company, &run, phase, p.attempt)
                .await?;
            reader.logs_page(&filter, p.page, p.limit).await
        })
        .await?;
    Ok(Json(page).into_response())
}
