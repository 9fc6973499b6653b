//! The fleet view: every DAG of the company (`GET /dags`) and one DAG's
//! runs per day (`GET /dags/{dag_id}/calendar`), from the run index's
//! fleet tables (`runindex::fleet`), never by scanning runs.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::runs::PhaseSummary;
use crate::http::AppState;
use crate::http::auth::Tenant;
use crate::http::error::{ApiError, ErrorResponse, HTTPValidationError};
use crate::http::params::{CalendarQuery, DagPath, DagsQuery, Params};
use crate::model::Phase;
use crate::runindex::fleet::{DagEntry, DayCount};

fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A DAG's newest run.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LastRun {
    /// Run date, YYYY-MM-DD.
    #[schema(value_type = String, format = Date)]
    pub date: NaiveDate,
    /// Airflow run id.
    pub run_id: String,
    /// When the run was first recorded (RFC 3339).
    pub created_at: String,
    /// `failed` (a phase failed), `running` (none failed, one still running) or `succeeded` (every phase recorded succeeded).
    pub status: Option<String>,
    /// The event phase.
    pub event: Option<PhaseSummary>,
    /// The extract phase.
    pub extract: Option<PhaseSummary>,
    /// The transform phase.
    pub transform: Option<PhaseSummary>,
    /// The load phase.
    pub load: Option<PhaseSummary>,
}

/// A DAG's newest failure.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LastFailure {
    /// Run date of the failed run, YYYY-MM-DD.
    #[schema(value_type = String, format = Date)]
    pub date: NaiveDate,
    /// Its Airflow run id.
    pub run_id: String,
    /// The phase that failed.
    pub phase: String,
    /// The phase's status message: why it failed.
    pub message: Option<String>,
}

/// One DAG of the fleet.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DagSummary {
    /// The DAG.
    pub dag_id: uuid::Uuid,
    /// Its name, when a writer recorded one.
    pub name: Option<String>,
    /// What it does.
    pub description: Option<String>,
    /// Its tags.
    pub tags: Vec<String>,
    /// Who owns it.
    pub owner: Option<String>,
    /// When a phase of it was first recorded (RFC 3339).
    pub first_seen: Option<String>,
    /// When a phase of it was last recorded (RFC 3339).
    pub last_seen: Option<String>,
    /// Runs recorded, all time.
    pub runs: i64,
    /// Runs whose date is on or after `since`.
    pub runs_in_window: i64,
    /// Failed runs among them.
    pub failed_in_window: i64,
    /// The newest run (by date, then first recorded, then run id).
    pub last_run: Option<LastRun>,
    /// The newest failure recorded (a phase whose `success` was false).
    pub last_failure: Option<LastFailure>,
}

impl From<DagEntry> for DagSummary {
    fn from(e: DagEntry) -> Self {
        let phases = e.last_run_phases.unwrap_or_default();
        let phase = |p: Phase| phases.get(p).map(PhaseSummary::from);
        Self {
            dag_id: e.dag_id.0,
            name: e.info.name,
            description: e.info.description,
            tags: e.info.tags,
            owner: e.info.owner,
            first_seen: e.state.first_seen.map(timestamp),
            last_seen: e.state.last_seen.map(timestamp),
            runs: e.state.runs,
            runs_in_window: e.runs_in_window,
            failed_in_window: e.failed_in_window,
            last_run: e.state.last_run.map(|(key, status)| LastRun {
                date: key.date,
                run_id: key.run_id,
                created_at: timestamp(key.created_at),
                status: status.map(|s| s.as_str().to_owned()),
                event: phase(Phase::Event),
                extract: phase(Phase::Extract),
                transform: phase(Phase::Transform),
                load: phase(Phase::Load),
            }),
            last_failure: e.state.last_failure.map(|f| LastFailure {
                date: f.run.date,
                run_id: f.run.run_id,
                phase: f.phase.as_str().to_owned(),
                message: f.message,
            }),
        }
    }
}

/// The fleet: every DAG of the company.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DagsResponse {
    /// The DAGs, in the order asked for.
    pub items: Vec<DagSummary>,
    /// How many.
    pub total: usize,
    /// The window's first run date (YYYY-MM-DD).
    #[schema(value_type = String, format = Date)]
    pub since: NaiveDate,
}

/// Runs and failed runs of one run date.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CalendarDay {
    /// Run date, YYYY-MM-DD.
    #[schema(value_type = String, format = Date)]
    pub date: NaiveDate,
    /// Runs of that date.
    pub runs: i64,
    /// Failed runs among them.
    pub failed_runs: i64,
}

impl From<DayCount> for CalendarDay {
    fn from(d: DayCount) -> Self {
        Self {
            date: d.date,
            runs: d.runs,
            failed_runs: d.failed_runs,
        }
    }
}

/// One DAG's runs per day.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CalendarResponse {
    /// The DAG.
    pub dag_id: uuid::Uuid,
    /// First run date covered.
    #[schema(value_type = String, format = Date)]
    pub date_from: NaiveDate,
    /// Last run date covered.
    #[schema(value_type = String, format = Date)]
    pub date_to: NaiveDate,
    /// Days with runs, oldest first (days without runs are left out).
    pub days: Vec<CalendarDay>,
    /// Whether the company has this DAG at all (runs or a catalog entry):
    /// false tells a mistyped `dag_id` from a quiet DAG.
    pub dag_known: bool,
}

/// List the company's DAGs (the fleet view).
///
/// Every DAG with runs or a catalog entry, with its newest run and each
/// phase's status, runs and failed runs since `since`, and the last
/// failure's reason. Kept up to date as phases are recorded, so it answers
/// in milliseconds however many runs there are.
#[utoipa::path(
    get,
    path = "/dags",
    tag = "dags",
    params(DagsQuery),
    responses(
        (status = 200, description = "The company's DAGs", body = DagsResponse),
        (status = 422, description = "Invalid parameter", body = HTTPValidationError),
    ),
    security(("bearer" = []))
)]
pub async fn list_dags(
    State(state): State<AppState>,
    Tenant(company): Tenant,
    Params(query): Params<DagsQuery>,
) -> Result<Json<DagsResponse>, ApiError> {
    let query = query.query(Utc::now().date_naive());
    let dags = state.timed(state.reads.dags(&company, &query)).await?;
    Ok(Json(DagsResponse {
        total: dags.len(),
        items: dags.into_iter().map(DagSummary::from).collect(),
        since: query.since,
    }))
}

/// A DAG's runs and failures per day.
///
/// For a heat-strip of the dates that have runs, without guessing a date
/// range first. Days without runs are left out.
#[utoipa::path(
    get,
    path = "/dags/{dag_id}/calendar",
    tag = "dags",
    params(DagPath, CalendarQuery),
    responses(
        (status = 200, description = "Runs per day", body = CalendarResponse),
        (status = 422, description = "Invalid parameter (HTTPValidationError) or date range (ErrorResponse)", content(
            (HTTPValidationError = "application/json"),
            (ErrorResponse = "application/problem+json"),
        )),
    ),
    security(("bearer" = []))
)]
pub async fn calendar(
    State(state): State<AppState>,
    Tenant(company): Tenant,
    DagPath { dag_id }: DagPath,
    Params(query): Params<CalendarQuery>,
) -> Result<Json<CalendarResponse>, ApiError> {
    let (date_from, date_to) = query.range(Utc::now().date_naive(), &state.limits)?;
    let (days, dag_known) = state
        .timed(state.reads.calendar(&company, dag_id, date_from, date_to))
        .await?;
    Ok(Json(CalendarResponse {
        dag_id: dag_id.0,
        date_from,
        date_to,
        days: days.into_iter().map(CalendarDay::from).collect(),
        dag_known,
    }))
}
