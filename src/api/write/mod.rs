//! The write API (issue 15): what a pipeline records over HTTP instead of
//! running `dagtrail ingest`. Every route needs a token granting
//! [`crate::auth::RUNS_WRITE`] ([`RunWriter`]: 401 without a token, 403
//! without the scope) and writes under that token's company only, through
//! the same [`crate::record::Recorder`] as the CLI: there is one writer of
//! the contract's layout.

pub mod attempts;
mod body;
pub mod event;

use axum::Json;
use axum::extract::State;
use chrono::{Days, Utc};
use serde::Deserialize;
use utoipa::ToSchema;

pub use body::{JSON_BODY_LIMIT, JsonBody};
pub use event::{EventRecord, EventRecorded, record_event};

use crate::api::dags::DagSummary;
use crate::http::AppState;
use crate::http::auth::RunWriter;
use crate::http::error::{ApiError, ErrorResponse};
use crate::http::params::DagPath;
use crate::read::Missing;
use crate::runindex::fleet::DagInfo;

/// Bytes of a catalog field (name, description, owner, one tag) at most.
pub const MAX_CATALOG_FIELD_BYTES: usize = 1_000;
/// Tags of one DAG at most.
pub const MAX_TAGS: usize = 50;

/// A DAG's catalog entry as a writer records it: every field optional;
/// a field given replaces the recorded one, a field left out (or `null`,
/// or an empty `tags`) keeps it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DagCatalogEntry {
    /// The name people know the DAG by (Airflow's `dag_id`, say).
    pub name: Option<String>,
    /// What it does.
    pub description: Option<String>,
    /// Tags (Airflow's DAG tags), at most 50.
    pub tags: Option<Vec<String>>,
    /// Who owns it.
    pub owner: Option<String>,
}

impl DagCatalogEntry {
    /// The entry as the run index records it.
    ///
    /// # Errors
    ///
    /// [`ApiError::Validation`] naming each field that is empty or longer
    /// than [`MAX_CATALOG_FIELD_BYTES`], or tags beyond [`MAX_TAGS`].
    fn info(self) -> Result<DagInfo, ApiError> {
        let mut issues = Vec::new();
        let mut check = |loc: Vec<String>, value: &str| {
            let problem = if value.trim().is_empty() {
                Some(("string_too_short", "must not be empty".to_owned()))
            } else if value.len() > MAX_CATALOG_FIELD_BYTES {
                Some((
                    "string_too_long",
                    format!("must be at most {MAX_CATALOG_FIELD_BYTES} bytes"),
                ))
            } else {
                None
            };
            if let Some((kind, msg)) = problem {
                issues.push(crate::http::error::ValidationIssue {
                    loc,
                    msg,
                    kind: kind.to_owned(),
                    input: serde_json::Value::String(value.chars().take(100).collect()),
                });
            }
        };
        let field = |name: &str| vec!["body".to_owned(), name.to_owned()];
        for (name, value) in [
            ("name", &self.name),
            ("description", &self.description),
            ("owner", &self.owner),
        ] {
            if let Some(value) = value {
                check(field(name), value);
            }
        }
        let tags = self.tags.unwrap_or_default();
        for (i, tag) in tags.iter().enumerate() {
            check(
                vec!["body".to_owned(), "tags".to_owned(), i.to_string()],
                tag,
            );
        }
        if tags.len() > MAX_TAGS {
            issues.push(crate::http::error::ValidationIssue {
                loc: field("tags"),
                msg: format!("at most {MAX_TAGS} tags"),
                kind: "too_long".to_owned(),
                input: serde_json::Value::Null,
            });
        }
        if !issues.is_empty() {
            return Err(ApiError::Validation(issues));
        }
        Ok(DagInfo {
            name: self.name,
            description: self.description,
            tags,
            owner: self.owner,
        })
    }
}

/// Record a DAG's catalog entry.
///
/// Names the DAG in the fleet view (`GET /dags`) and the explorer. Fields
/// given replace the recorded ones; fields left out are kept. The DAG needs
/// no runs yet. Answers the DAG as `GET /dags` lists it (window: 7 days).
#[utoipa::path(
    patch,
    path = "/dags/{dag_id}",
    tag = "write",
    params(DagPath),
    request_body(content = DagCatalogEntry, content_type = "application/json"),
    responses(
        (status = 200, description = "The DAG, as the fleet view shows it", body = DagSummary),
        (status = 413, description = "The body is over 1 MiB", body = ErrorResponse, content_type = "application/problem+json"),
        (status = 415, description = "The body is not JSON", body = ErrorResponse, content_type = "application/problem+json"),
        (status = 503, description = "Too many uploads at once; retry after `Retry-After` seconds", body = ErrorResponse, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["runs:write"]))
)]
pub async fn describe_dag(
    State(state): State<AppState>,
    RunWriter(company): RunWriter,
    DagPath { dag_id }: DagPath,
    request: axum::extract::Request,
) -> Result<Json<DagSummary>, ApiError> {
    // Under a write slot like every upload, so that no more bodies are
    // parsed at once than there are slots.
    let slot = state.write_slot(&company)?;
    let entry: DagCatalogEntry = body::read_json(request, state.limits.ingest.max_nesting).await?;
    let info = entry.info()?;
    state.recorder.describe_dag(&company, dag_id, &info).await?;
    drop(slot);
    let today = Utc::now().date_naive();
    let since = today.checked_sub_days(Days::new(7)).unwrap_or(today);
    let dag = state
        .timed(state.reads.dag(&company, dag_id, since))
        .await?
        // Just recorded: only a run index that lost the write answers none.
        .ok_or(ApiError::NotFound(Missing::Dag))?;
    Ok(Json(DagSummary::from(dag)))
}
