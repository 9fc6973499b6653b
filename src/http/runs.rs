//! Endpoints 1 and 2: search a DAG's runs, read one run (run index only).

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::auth::Tenant;
use super::error::{ApiError, ErrorResponse, HTTPValidationError};
use super::params::{PathParams, Query};
use super::{AppState, Limits};
use crate::model::Phase;
use crate::runindex::{MAX_RUN_IDS, RunSearch, RunSummary, StatusFilter, parse_run_ids};

/// Longest keyword accepted, in characters.
pub const MAX_KEYWORD_CHARS: usize = 256;

/// `status` of a phase.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PhaseStatus {
    /// `true`, `false`, or `null` while the phase runs.
    pub success: Option<bool>,
    /// Status message.
    pub message: Option<String>,
    /// Rows the phase produced.
    pub total: Option<i64>,
}

/// One phase of a run, as the run index holds it (without inline rows).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PhaseSummary {
    /// Outcome.
    pub status: PhaseStatus,
    /// URL of the attempt's folder (informational).
    pub s3_data_path: Option<String>,
    /// Latest recorded attempt.
    pub attempt: Option<i64>,
    /// Start time (RFC 3339).
    pub started_at: Option<String>,
    /// End time (RFC 3339).
    pub finished_at: Option<String>,
}

impl PhaseSummary {
    fn from_json(v: &Value) -> Self {
        let s = |v: &Value| v.as_str().map(str::to_owned);
        let status = &v["status"];
        Self {
            status: PhaseStatus {
                success: status["success"].as_bool(),
                message: s(&status["message"]),
                total: status["total"].as_i64(),
            },
            s3_data_path: s(&v["s3_data_path"]),
            attempt: v["attempt"].as_i64(),
            started_at: s(&v["started_at"]),
            finished_at: s(&v["finished_at"]),
        }
    }
}

/// One run (`SearchRunResult`).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SearchRunResult {
    /// The DAG.
    pub dag_id: uuid::Uuid,
    /// Partition date, YYYY-MM-DD.
    #[schema(value_type = String, format = Date)]
    pub date: NaiveDate,
    /// Airflow run id.
    pub run_id: String,
    /// When the run was first recorded (RFC 3339).
    pub created_at: String,
    /// When a phase was last recorded (RFC 3339).
    pub updated_at: String,
    /// The event phase.
    pub event: Option<PhaseSummary>,
    /// The extract phase.
    pub extract: Option<PhaseSummary>,
    /// The transform phase.
    pub transform: Option<PhaseSummary>,
    /// The load phase.
    pub load: Option<PhaseSummary>,
}

fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl From<RunSummary> for SearchRunResult {
    fn from(r: RunSummary) -> Self {
        let phase = |p: Phase| r.phases.get(p).map(PhaseSummary::from_json);
        Self {
            dag_id: r.dag_id.0,
            date: r.date,
            run_id: r.run_id.clone(),
            created_at: timestamp(r.created_at),
            updated_at: timestamp(r.updated_at),
            event: phase(Phase::Event),
            extract: phase(Phase::Extract),
            transform: phase(Phase::Transform),
            load: phase(Phase::Load),
        }
    }
}

/// A page of runs (`SearchRunsResponse`).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SearchRunsResponse {
    /// The runs of the page, newest first.
    pub items: Vec<SearchRunResult>,
    /// 0-based page.
    pub page: u32,
    /// Page size.
    pub limit: u32,
    /// Runs matching over all pages; when `total_exact` is false, a lower
    /// bound (counting stopped at the server's search count limit, 1,000
    /// by default).
    pub total: u64,
    /// Whether `total` is exact. An extension of the contract: false only
    /// when more runs match than the server counts (`DAGTRAIL_SEARCH_COUNT_LIMIT`).
    pub total_exact: bool,
    /// Whether a later page holds more runs.
    pub has_more: bool,
}

/// Query parameters of `GET /dags/{dag_id}/runs` (documentation; parsed
/// by [`parse_search`]).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(dead_code, reason = "documents the parameters that parse_search reads")]
pub struct SearchRunsParams {
    /// First partition date, inclusive (YYYY-MM-DD).
    #[param(value_type = String, format = Date)]
    date_from: String,
    /// Last partition date, inclusive (YYYY-MM-DD); at most the configured range (default 366 days) after `date_from`.
    #[param(value_type = String, format = Date)]
    date_to: String,
    /// `all`, `success`, `failed` or `pending` (absent or not finished).
    #[param(inline, value_type = Option<String>, default = "all", pattern = "^(all|success|failed|pending)$")]
    extract_status: Option<String>,
    /// Same values as `extract_status`.
    #[param(value_type = Option<String>, default = "all", pattern = "^(all|success|failed|pending)$")]
    transform_status: Option<String>,
    /// Same values as `extract_status`.
    #[param(value_type = Option<String>, default = "all", pattern = "^(all|success|failed|pending)$")]
    load_status: Option<String>,
    /// Case-insensitive literal substring of the event phase's JSON text.
    #[param(max_length = 256, pattern = "^[^\\u0000]*$")]
    event_keyword: Option<String>,
    /// Same, for the extract phase (includes its first 100 rows).
    #[param(max_length = 256, pattern = "^[^\\u0000]*$")]
    extract_keyword: Option<String>,
    /// Same, for the transform phase.
    #[param(max_length = 256, pattern = "^[^\\u0000]*$")]
    transform_keyword: Option<String>,
    /// Same, for the load phase.
    #[param(max_length = 256, pattern = "^[^\\u0000]*$")]
    load_keyword: Option<String>,
    /// Comma-separated run_id allowlist (at most 100; trimmed, empties and duplicates ignored).
    #[param(max_length = 26_000, pattern = "^[^\\u0000]*$")]
    run_ids: Option<String>,
    /// 0-based page.
    #[param(minimum = 0, maximum = 42_949_672, default = 0)]
    page: Option<u32>,
    /// Page size.
    #[param(minimum = 1, maximum = 100, default = 20)]
    limit: Option<u32>,
}

/// Parses and validates the search parameters.
pub fn parse_search(mut q: Query, limits: &Limits) -> Result<RunSearch, ApiError> {
    let max_range_days = limits.max_date_range_days;
    const STATUSES: &[&str] = &["all", "success", "failed", "pending"];
    let date_from = q.date("date_from");
    let date_to = q.date("date_to");
    let statuses = Phase::STEPS
        .iter()
        .map(|p| {
            (
                *p,
                q.choice(&format!("{p}_status"), StatusFilter::All, STATUSES),
            )
        })
        .collect();
    let keywords = Phase::ALL
        .iter()
        .filter_map(|p| {
            q.text(&format!("{p}_keyword"), MAX_KEYWORD_CHARS)
                .map(|k| (*p, k))
        })
        .collect();
    let run_ids = q
        .text("run_ids", 100 * 260)
        .map(|r| parse_run_ids(&r))
        .unwrap_or_default();
    if run_ids.len() > MAX_RUN_IDS {
        q.invalid(
            "run_ids",
            "too_long",
            format!("at most {MAX_RUN_IDS} run ids"),
        );
    }
    let page = q.int("page", 0, 0, Some(i64::from(u32::MAX / 100)));
    let limit = q.int("limit", 20, 1, Some(100));
    q.finish()?;
    let (Some(date_from), Some(date_to)) = (date_from, date_to) else {
        return Err(ApiError::Validation(Vec::new()));
    };
    if date_from > date_to {
        return Err(ApiError::BadDateRange(format!(
            "date_from {date_from} is after date_to {date_to}"
        )));
    }
    let days = (date_to - date_from).num_days() + 1;
    if days > i64::from(max_range_days) {
        return Err(ApiError::BadDateRange(format!(
            "the range covers {days} days; at most {max_range_days} are allowed"
        )));
    }
    Ok(RunSearch {
        date_from,
        date_to,
        statuses,
        keywords,
        run_ids,
        page: u32::try_from(page).unwrap_or(0),
        limit: u32::try_from(limit).unwrap_or(20),
        count_limit: limits.search_count_limit,
    })
}

/// Search runs for a DAG.
///
/// Keyword filters match, case-insensitively and literally, the JSON text
/// of that phase's object in the run index: status, `s3_data_path` and the
/// first 100 data rows. For deep search across all rows of a phase use the
/// phase's `/data?keyword=`.
#[utoipa::path(
    get,
    path = "/dags/{dag_id}/runs",
    tag = "runs",
    params(("dag_id" = uuid::Uuid, Path, description = "DAG/ETL UUID"), SearchRunsParams),
    responses(
        (status = 200, description = "Runs matching the filters", body = SearchRunsResponse),
        (status = 401, description = "Unauthorized", body = ErrorResponse, content_type = "application/problem+json"),
        (status = 422, description = "Invalid parameter (HTTPValidationError) or date range (ErrorResponse)", content(
            (HTTPValidationError = "application/json"),
            (ErrorResponse = "application/problem+json"),
        )),
        (status = 502, description = "Run lookup failed", body = ErrorResponse, content_type = "application/problem+json"),
        (status = 504, description = "The run index did not answer in time", body = ErrorResponse, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn search_runs(
    State(state): State<AppState>,
    Tenant(company): Tenant,
    path: PathParams,
    query: Query,
) -> Result<Json<SearchRunsResponse>, ApiError> {
    let search = parse_search(query, &state.limits)?;
    let page = state
        .timed(state.reads.search_runs(&company, path.dag_id, &search))
        .await?;
    Ok(Json(SearchRunsResponse {
        items: page.items.into_iter().map(SearchRunResult::from).collect(),
        page: search.page,
        limit: search.limit,
        total: page.total,
        total_exact: page.total_exact,
        has_more: page.has_more,
    }))
}

/// Run summary.
///
/// One run-index lookup (no artifact read) returning each phase's status
/// and path; the same shape as the items of the search.
#[utoipa::path(
    get,
    path = "/dags/{dag_id}/runs/{date}/{run_id}",
    tag = "runs",
    params(
        ("dag_id" = uuid::Uuid, Path, description = "DAG/ETL UUID"),
        ("date" = String, Path, format = Date, description = "Run partition date (YYYY-MM-DD)"),
        ("run_id" = String, Path, max_length = 250, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$", description = "Airflow run_id (URL-encoded); at most 250 bytes of UTF-8, no control characters, not `.` or `..`"),
    ),
    responses(
        (status = 200, description = "Run found", body = SearchRunResult),
        (status = 401, description = "Unauthorized", body = ErrorResponse, content_type = "application/problem+json"),
        (status = 404, description = "Run not found in the run index", body = ErrorResponse, content_type = "application/problem+json"),
        (status = 422, description = "Validation error", body = HTTPValidationError),
        (status = 502, description = "Run lookup failed", body = ErrorResponse, content_type = "application/problem+json"),
        (status = 504, description = "The run index did not answer in time", body = ErrorResponse, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_run(
    State(state): State<AppState>,
    Tenant(company): Tenant,
    path: PathParams,
) -> Result<Json<SearchRunResult>, ApiError> {
    let run = path.run()?;
    let summary = state.timed(state.reads.get_run(&company, &run)).await?;
    Ok(Json(summary.into()))
}
