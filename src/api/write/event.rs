//! `PUT .../event`: a run's event (`queue_data.parquet`, `event.parquet`)
//! and its `event` phase object.

use std::io::Cursor;

use arrow_array::RecordBatch;
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::body::read_json;
use crate::artifacts::writer::PhaseOutcome;
use crate::http::AppState;
use crate::http::auth::RunWriter;
use crate::http::error::{ApiError, ErrorResponse, ValidationIssue};
use crate::http::params::RunPath;
use crate::ingest::{IngestError, IngestLimits, NdjsonBatches, Place, Window};
use crate::record::EndStatus;

/// A run's event as a writer records it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventRecord {
    /// The raw trigger message: one JSON object, or a list of them (the
    /// rows of `queue_data.parquet`).
    #[schema(value_type = Option<Object>)]
    pub queue_data: Option<Value>,
    /// The processed event: one JSON object, or a list of them (the rows
    /// of `event.parquet`; the first are copied into the run index).
    #[schema(value_type = Option<Object>)]
    pub event: Option<Value>,
    /// How the event phase ended [default: success].
    #[serde(default)]
    pub status: EndStatus,
    /// Status message.
    #[serde(default)]
    pub message: String,
    /// When the event was received (RFC 3339).
    pub started_at: Option<DateTime<Utc>>,
    /// When it was processed (RFC 3339) [default: now, unless pending].
    pub finished_at: Option<DateTime<Utc>>,
}

/// The event as recorded.
#[derive(Debug, Clone, serde::Serialize, ToSchema)]
pub struct EventRecorded {
    /// Rows of `queue_data.parquet` (0: not written).
    pub queue_data_rows: usize,
    /// Rows of `event.parquet` (0: not written).
    pub event_rows: usize,
}

/// The rows of `value` (an object, or a list of objects) as typed batches,
/// with the types `dagtrail ingest` infers from NDJSON.
///
/// # Errors
///
/// [`ApiError::Validation`] at `["body", field, index]` for an item that
/// is not an object or a value that does not fit its column's type; a
/// recording's [`crate::record::RecordError::OverLimit`] for rows over
/// `limits` (columns, nesting, a row's bytes), as parts are refused.
fn rows(
    field: &str,
    value: Option<Value>,
    limits: &IngestLimits,
) -> Result<Vec<RecordBatch>, ApiError> {
    let items = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(object @ Value::Object(_)) => vec![object],
        Some(_) => {
            return Err(ApiError::Validation(vec![ValidationIssue {
                loc: vec!["body".into(), field.into()],
                msg: "must be a JSON object or a list of objects".into(),
                kind: "value_error".into(),
                input: Value::Null,
            }]));
        }
    };
    let issue = |index: usize, msg: String| {
        ApiError::Validation(vec![ValidationIssue {
            loc: vec!["body".into(), field.into(), index.to_string()],
            msg,
            kind: "value_error".into(),
            input: Value::Null,
        }])
    };
    let mut lines = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if !item.is_object() {
            return Err(issue(i, "must be a JSON object".into()));
        }
        lines.extend(serde_json::to_vec(item).unwrap_or_default());
        lines.push(b'\n');
    }
    // Line n of the NDJSON is item n - 1.
    let at = |e: IngestError| match e {
        IngestError::BadValue {
            at: Place::Line(line),
            reason,
            ..
        } => issue(line.saturating_sub(1), reason),
        IngestError::OverLimit { at, over, .. } => {
            ApiError::Record(crate::record::RecordError::OverLimit {
                what: match at {
                    Some(Place::Line(line)) => format!("{field} item {}", line.saturating_sub(1)),
                    _ => field.to_owned(),
                },
                over,
            })
        }
        other => issue(0, other.to_string()),
    };
    let batches = NdjsonBatches::new(
        field.to_owned(),
        Cursor::new(lines),
        limits,
        Window::default(),
    )
    .map_err(at)?;
    batches
        .map(|batch| batch.map(|b| b.batch).map_err(at))
        .collect()
}

/// Record a run's event.
///
/// Writes `queue_data.parquet` and `event.parquet` (either may be left
/// out, not both) and records the run's `event` phase, its first event
/// rows inline. Recording it again replaces it.
#[utoipa::path(
    put,
    path = "/dags/{dag_id}/runs/{date}/{run_id}/event",
    tag = "write",
    params(RunPath),
    request_body(content = EventRecord, content_type = "application/json"),
    responses(
        (status = 200, description = "The event is recorded", body = EventRecorded),
        (status = 413, description = "The body is over 1 MiB, or a row over its limit", body = ErrorResponse, content_type = "application/problem+json"),
        (status = 415, description = "The body is not JSON", body = ErrorResponse, content_type = "application/problem+json"),
        (status = 503, description = "Too many uploads at once; retry after `Retry-After` seconds", body = ErrorResponse, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["runs:write"]))
)]
pub async fn record_event(
    State(state): State<AppState>,
    RunWriter(company): RunWriter,
    RunPath(run): RunPath,
    request: axum::extract::Request,
) -> Result<Json<EventRecorded>, ApiError> {
    // An event is an upload like a part: it takes a slot before its body
    // is read, and is parsed and typed off the async workers.
    let _slot = state.write_slot(&company)?;
    let limits = state.limits.ingest.clone();
    let mut record: EventRecord = read_json(request, limits.max_nesting).await?;
    let (queue_data, event) = (record.queue_data.take(), record.event.take());
    let (queue_data, event) = tokio::task::spawn_blocking(move || {
        Ok::<_, ApiError>((
            rows("queue_data", queue_data, &limits)?,
            rows("event", event, &limits)?,
        ))
    })
    .await
    .map_err(|e| ApiError::Busy(format!("the event could not be read ({e})")))??;
    let count = |batches: &[RecordBatch]| batches.iter().map(RecordBatch::num_rows).sum();
    let outcome = PhaseOutcome::ended(
        record.status,
        record.message,
        None,
        record.started_at,
        record.finished_at,
    );
    state
        .recorder
        .record_event(&company, &run, &queue_data, &event, &outcome, Utc::now())
        .await?;
    Ok(Json(EventRecorded {
        queue_data_rows: count(&queue_data),
        event_rows: count(&event),
    }))
}
