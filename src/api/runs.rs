//! Endpoints 1 and 2: search a DAG's runs, read one run (run index only).

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::AppState;
use crate::http::auth::Tenant;
use crate::http::error::{ApiError, ErrorResponse, HTTPValidationError};
use crate::http::params::{DagIdsQuery, DagPath, Params, RunPath, SearchRunsQuery};
use crate::model::{Company, DagId, Phase};
use crate::read::RunsFound;
use crate::runindex::{PhaseObject, RunSummary};

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

impl From<&PhaseObject> for PhaseSummary {
    fn from(object: &PhaseObject) -> Self {
        Self {
            status: PhaseStatus {
                success: object.status.success,
                message: object.status.message.clone(),
                total: object.status.total,
            },
            s3_data_path: object.s3_data_path.clone(),
            attempt: object.attempt,
            started_at: object.started_at.clone(),
            finished_at: object.finished_at.clone(),
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
        let phase = |p: Phase| r.phases.get(p).map(PhaseSummary::from);
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
    /// The next page's cursor (send it as `cursor`, with the same other
    /// parameters), null on the last page. An extension of the contract.
    pub next_cursor: Option<String>,
    /// Whether the company has the DAG searched at all (runs or a catalog
    /// entry): false tells a mistyped `dag_id` from a DAG without runs in
    /// the range (both answer no runs). On `GET /runs`: whether it has
    /// every DAG named (or, naming none, any DAG). An extension of the
    /// contract.
    pub dag_known: bool,
}

impl SearchRunsResponse {
    fn new(found: RunsFound, limit: u32, dag_known: bool) -> Self {
        Self {
            items: found
                .page
                .items
                .into_iter()
                .map(SearchRunResult::from)
                .collect(),
            page: found.number,
            limit,
            total: found.page.total,
            total_exact: found.page.total_exact,
            has_more: found.page.has_more,
            next_cursor: found.next_cursor,
            dag_known,
        }
    }
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
    params(DagPath, SearchRunsQuery),
    responses(
        (status = 200, description = "Runs matching the filters", body = SearchRunsResponse),
        (status = 422, description = "Invalid parameter (HTTPValidationError) or date range (ErrorResponse)", content(
            (HTTPValidationError = "application/json"),
            (ErrorResponse = "application/problem+json"),
        )),
    ),
    security(("bearer" = []))
)]
pub async fn search_runs(
    State(state): State<AppState>,
    Tenant(company): Tenant,
    DagPath { dag_id }: DagPath,
    Params(query): Params<SearchRunsQuery>,
) -> Result<Json<SearchRunsResponse>, ApiError> {
    let (found, limit) = run_search(&state, &company, &[dag_id], query).await?;
    let dag_known = state
        .timed(state.reads.dags_known(&company, &[dag_id], &found))
        .await?;
    Ok(Json(SearchRunsResponse::new(found, limit, dag_known)))
}

/// The page a run search's parameters ask for, and its page size.
async fn run_search(
    state: &AppState,
    company: &Company,
    dag_ids: &[DagId],
    mut query: SearchRunsQuery,
) -> Result<(RunsFound, u32), ApiError> {
    let cursor = query.cursor.take();
    let search = query.search(&state.limits)?;
    let limit = search.limit;
    let found = state
        .timed(
            state
                .reads
                .search_runs(company, dag_ids, search, cursor.as_deref()),
        )
        .await?;
    Ok((found, limit))
}

/// Search runs across DAGs.
///
/// The run search of `/dags/{dag_id}/runs` over several DAGs of the
/// company (`dag_id=<uuid>,<uuid>`), or all of them (no `dag_id`): the same
/// filters, orders, pages and cursors; ties between DAGs go by `dag_id`.
#[utoipa::path(
    get,
    path = "/runs",
    tag = "runs",
    params(DagIdsQuery, SearchRunsQuery),
    responses(
        (status = 200, description = "Runs matching the filters", body = SearchRunsResponse),
        (status = 422, description = "Invalid parameter (HTTPValidationError) or date range (ErrorResponse)", content(
            (HTTPValidationError = "application/json"),
            (ErrorResponse = "application/problem+json"),
        )),
    ),
    security(("bearer" = []))
)]
pub async fn search_company_runs(
    State(state): State<AppState>,
    Tenant(company): Tenant,
    Params((dags, query)): Params<(DagIdsQuery, SearchRunsQuery)>,
) -> Result<Json<SearchRunsResponse>, ApiError> {
    let (found, limit) = run_search(&state, &company, &dags.dag_id, query).await?;
    let dag_known = state
        .timed(state.reads.dags_known(&company, &dags.dag_id, &found))
        .await?;
    Ok(Json(SearchRunsResponse::new(found, limit, dag_known)))
}

/// Run summary.
///
/// One run-index lookup (no artifact read) returning each phase's status
/// and path; the same shape as the items of the search.
#[utoipa::path(
    get,
    path = "/dags/{dag_id}/runs/{date}/{run_id}",
    tag = "runs",
    params(RunPath),
    responses(
        (status = 200, description = "Run found", body = SearchRunResult),
        (status = 404, description = "Run not found in the run index", body = ErrorResponse, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_run(
    State(state): State<AppState>,
    Tenant(company): Tenant,
    RunPath(run): RunPath,
) -> Result<Json<SearchRunResult>, ApiError> {
    let summary = state.timed(state.reads.get_run(&company, &run)).await?;
    Ok(Json(summary.into()))
}
