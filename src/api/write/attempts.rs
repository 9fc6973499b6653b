//! Phase attempts written in steps: open (or resume), upload parts, commit
//! once, or abort ([`crate::record::staging`] keeps the parts).

use std::io::BufReader;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_TYPE, LOCATION};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::io::{StreamReader, SyncIoBridge};
use utoipa::ToSchema;

use super::body::JsonBody;
use crate::artifacts::schemas::AttemptMetadata;
use crate::artifacts::writer::PhaseOutcome;
use crate::http::AppState;
use crate::http::auth::RunWriter;
use crate::http::body::{BodyError, Lingering};
use crate::http::error::{ApiError, ErrorResponse, HTTPValidationError};
use crate::http::params::{AttemptPath, PartPath, PhasePath, run_path};
use crate::ingest::{PART_MEDIA_TYPES, PartFormat, open_part, stream_batches};
use crate::model::{Phase, RunRef};
use crate::record::staging::{StagedAttempt, Stated};
use crate::record::{EndStatus, RecordError};

/// The attempt's URL under `/api/v1`.
fn attempt_url(run: &RunRef, phase: Phase, attempt: u32) -> String {
    format!(
        "/api/v1{}/phases/{phase}/attempts/{attempt}",
        run_path(&run.dag_id, &run.date, run.run_id.as_str())
    )
}

/// 201 with `Location` for an attempt opened now, 200 for one resumed.
fn opened(run: &RunRef, phase: Phase, staged: StagedAttempt) -> Response {
    let status = if staged.resumed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let location = attempt_url(run, phase, staged.attempt);
    let mut response = (status, Json(staged)).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(LOCATION, value);
    }
    response
}

/// Open the next attempt of a phase.
///
/// The attempt after the newest the run index knows (1 for a phase never
/// recorded). When that attempt is open already it is resumed (200), with
/// the parts staged so far; otherwise it is opened (201, `Location`).
#[utoipa::path(
    post,
    path = "/dags/{dag_id}/runs/{date}/{run_id}/phases/{phase}/attempts",
    tag = "write",
    params(PhasePath),
    responses(
        (status = 201, description = "Opened", body = StagedAttempt),
        (status = 200, description = "Open already: resumed", body = StagedAttempt),
        (status = 409, description = "That attempt is committed (a commit between the run index and the store)", body = ErrorResponse, content_type = "application/problem+json"),
        (status = 429, description = "The company holds as many open attempts as it may (`DAGTRAIL_MAX_OPEN_ATTEMPTS`): commit or abort some", body = ErrorResponse, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["runs:write"]))
)]
pub async fn open_next_attempt(
    State(state): State<AppState>,
    RunWriter(company): RunWriter,
    PhasePath { run, phase }: PhasePath,
) -> Result<Response, ApiError> {
    let staged = state
        .recorder
        .open_next_attempt(&company, &run, phase)
        .await?;
    Ok(opened(&run, phase, staged))
}

/// Open (or resume) a named attempt.
///
/// Opens attempt `{attempt}` (201) or resumes it when open already (200,
/// with the parts staged so far: after a lost connection or a restart of
/// the server, upload from the first part missing).
#[utoipa::path(
    put,
    path = "/dags/{dag_id}/runs/{date}/{run_id}/phases/{phase}/attempts/{attempt}",
    tag = "write",
    params(AttemptPath),
    responses(
        (status = 201, description = "Opened", body = StagedAttempt),
        (status = 200, description = "Open already: resumed", body = StagedAttempt),
        (status = 409, description = "The attempt is committed", body = ErrorResponse, content_type = "application/problem+json"),
        (status = 429, description = "The company holds as many open attempts as it may (`DAGTRAIL_MAX_OPEN_ATTEMPTS`): commit or abort some", body = ErrorResponse, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["runs:write"]))
)]
pub async fn open_attempt(
    State(state): State<AppState>,
    RunWriter(company): RunWriter,
    AttemptPath(attempt): AttemptPath,
) -> Result<Response, ApiError> {
    let staged = state
        .recorder
        .staged(&company, attempt.clone())?
        .open()
        .await?;
    Ok(opened(&attempt.run, attempt.phase, staged))
}

/// An open attempt's staged parts.
#[utoipa::path(
    get,
    path = "/dags/{dag_id}/runs/{date}/{run_id}/phases/{phase}/attempts/{attempt}",
    tag = "write",
    params(AttemptPath),
    responses(
        (status = 200, description = "Open, with the parts staged so far", body = StagedAttempt),
        (status = 404, description = "Not open (never opened, committed or aborted)", body = ErrorResponse, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["runs:write"]))
)]
pub async fn staged_attempt(
    State(state): State<AppState>,
    RunWriter(company): RunWriter,
    AttemptPath(attempt): AttemptPath,
) -> Result<Json<StagedAttempt>, ApiError> {
    Ok(Json(
        state.recorder.staged(&company, attempt)?.parts().await?,
    ))
}

/// A part as staged.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PartStaged {
    /// `data`, `errors` or `logs`.
    pub kind: String,
    /// The part number.
    pub part: u32,
    /// Rows staged.
    pub rows: u64,
}

/// The request body as a blocking reader, counting bytes: past `limit`
/// the read fails and `fault` says so; a body too slow says so too. A
/// refused part's body is read on to its end ([`Lingering`]), so that the
/// client sees the refusal.
fn body_reader(
    body: Body,
    limit: u64,
    fault: Arc<std::sync::Mutex<Option<BodyError>>>,
) -> SyncIoBridge<
    StreamReader<impl futures::Stream<Item = std::io::Result<bytes::Bytes>>, bytes::Bytes>,
> {
    let mut seen = 0u64;
    let stream = Lingering::new(body).map(move |chunk| {
        let failed = |e: BodyError| {
            let text = e.to_string();
            if let Ok(mut fault) = fault.lock() {
                *fault = Some(e);
            }
            Err(std::io::Error::other(text))
        };
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(e) => return failed(BodyError::of(&e)),
        };
        seen += chunk.len() as u64;
        if seen > limit {
            return failed(BodyError::TooLarge(limit));
        }
        Ok(chunk)
    });
    SyncIoBridge::new(StreamReader::new(stream))
}

/// Upload one part of an open attempt.
///
/// The body is the part's rows in the `Content-Type`'s format: NDJSON
/// (`application/x-ndjson`), CSV with a header line (`text/csv`), Parquet
/// (`application/vnd.apache.parquet`) or an Arrow IPC stream
/// (`application/vnd.apache.arrow.stream`). It is decoded as it arrives
/// (Parquet spooled to disk first), never held whole in memory. Parts of a
/// kind come in order from 1 (part `n` needs parts 1 to `n - 1`; putting a
/// part again replaces it). Data parts take the first data part's columns
/// (a later part's missing column is null; a new column is refused); error
/// and log parts fit the contract's schemas. An error row may name its data
/// row by its 0-based position among every data row of the attempt, in the
/// order of the parts (`_row` without `_file`): the commit resolves it to
/// the `_file` and `_row` the row landed in (422 for a position past the
/// data); with `_file`, `_row` is that file's row. A refused part keeps
/// nothing: its 4xx names the part, and for text the line (and column).
#[utoipa::path(
    put,
    path = "/dags/{dag_id}/runs/{date}/{run_id}/phases/{phase}/attempts/{attempt}/{kind}/{part}",
    tag = "write",
    params(PartPath),
    request_body(description = "The part's rows", content(
        (String = "application/x-ndjson"),
        (String = "text/csv"),
        (String = "application/vnd.apache.parquet"),
        (String = "application/vnd.apache.arrow.stream"),
    )),
    responses(
        (status = 200, description = "Staged", body = PartStaged),
        (status = 404, description = "The attempt is not open", body = ErrorResponse, content_type = "application/problem+json"),
        (status = 409, description = "Out of order (a part before it is missing), or past the most parts of a kind (`DAGTRAIL_MAX_PARTS`)", body = ErrorResponse, content_type = "application/problem+json"),
        (status = 413, description = "The part is over a limit: its bytes (`DAGTRAIL_MAX_PART_BYTES`), a row's (`DAGTRAIL_MAX_ROW_BYTES`), an Arrow batch's (`DAGTRAIL_MAX_BATCH_BYTES`), what it decodes to (`DAGTRAIL_MAX_PART_DECODED_BYTES`, `DAGTRAIL_DECODER_MEMORY_BYTES`); the detail names the limit, its setting and the line", body = ErrorResponse, content_type = "application/problem+json"),
        (status = 415, description = "Not one of the formats taken", body = ErrorResponse, content_type = "application/problem+json"),
        (status = 503, description = "Too many uploads at once; retry after `Retry-After` seconds", body = ErrorResponse, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["runs:write"]))
)]
pub async fn upload_part(
    State(state): State<AppState>,
    RunWriter(company): RunWriter,
    PartPath {
        attempt,
        kind,
        part,
    }: PartPath,
    request: Request,
) -> Result<Json<PartStaged>, ApiError> {
    let content_type = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let format = PartFormat::of_media_type(&content_type).ok_or_else(|| {
        ApiError::UnsupportedMediaType(format!(
            "a part is one of {PART_MEDIA_TYPES}, not {}",
            if content_type.is_empty() {
                "a body without Content-Type"
            } else {
                &content_type
            }
        ))
    })?;
    let _slot = state.write_slot(&company)?;
    let limit = state.limits.max_part_bytes;
    let fault = Arc::new(std::sync::Mutex::new(None));
    let reader = body_reader(request.into_body(), limit, Arc::clone(&fault));
    // Decoded on a blocking thread as the body arrives (the CLI's reader).
    let name = format!("the body of {kind} part {part}");
    let limits = state.limits.ingest.clone();
    let batches = stream_batches(name.clone(), limits.clone(), move || {
        open_part(
            format,
            name,
            BufReader::with_capacity(1 << 16, reader),
            &limits,
        )
    });
    let batches = ReceiverStream::new(batches).map(move |batch| {
        batch.map(|b| b.batch).map_err(|e| match e {
            crate::ingest::IngestError::OverLimit { at, over, .. } => RecordError::OverLimit {
                what: match at {
                    Some(at) => format!("{kind} part {part}, {at}"),
                    None => format!("{kind} part {part}"),
                },
                over,
            },
            e => RecordError::BadPart {
                kind,
                part,
                reason: e.to_string(),
            },
        })
    });
    let staged = match state.recorder.staged(&company, attempt) {
        Ok(staged) => staged.put_part(kind, part, batches).await,
        Err(e) => Err(e),
    };
    // What went wrong with the body is the answer, whatever the decoder
    // made of the read that failed.
    if let Some(fault) = fault.lock().ok().and_then(|mut f| f.take()) {
        return Err(fault.into());
    }
    Ok(Json(PartStaged {
        kind: kind.to_string(),
        part,
        rows: staged?,
    }))
}

/// How an attempt ended, as its writer commits it.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommitRequest {
    /// How the phase ended [default: success].
    #[serde(default)]
    pub status: EndStatus,
    /// Status message.
    #[serde(default)]
    pub message: String,
    /// Rows the phase produced [default: the data rows staged].
    pub total: Option<i64>,
    /// When the phase started (RFC 3339).
    pub started_at: Option<DateTime<Utc>>,
    /// When it finished (RFC 3339) [default: now, unless pending].
    pub finished_at: Option<DateTime<Utc>>,
}

/// A committed attempt (its `metadata.parquet`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttemptCommitted {
    /// The phase.
    pub phase: String,
    /// The attempt.
    pub attempt: i32,
    /// `status.success`.
    pub success: Option<bool>,
    /// Status message.
    pub message: String,
    /// Rows the phase produced.
    pub total: i64,
    /// When it started (RFC 3339).
    pub started_at: Option<String>,
    /// When it finished (RFC 3339).
    pub finished_at: Option<String>,
    /// Data rows written.
    pub data_rows: i64,
    /// `data_NNN.parquet` files written.
    pub data_files: i32,
    /// Error rows written.
    pub error_count: i64,
    /// Log rows written.
    pub log_count: i64,
}

impl From<AttemptMetadata> for AttemptCommitted {
    fn from(m: AttemptMetadata) -> Self {
        let time =
            |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339_opts(SecondsFormat::Micros, true));
        Self {
            phase: m.phase,
            attempt: m.attempt,
            success: m.success,
            message: m.message,
            total: m.total,
            started_at: time(m.started_at),
            finished_at: time(m.finished_at),
            data_rows: m.data_rows,
            data_files: m.data_files,
            error_count: m.error_count,
            log_count: m.log_count,
        }
    }
}

/// Commit an open attempt.
///
/// Writes the staged parts, in order, as the attempt's files
/// (`data_NNN.parquet`, `index.parquet`, errors, logs) and
/// `metadata.parquet` last, then records the phase in the run index: the
/// attempt becomes readable at once, whole. A committed attempt is
/// immutable: committing it again with the same outcome answers the same
/// (a retry after a lost answer), with another is 409.
#[utoipa::path(
    post,
    path = "/dags/{dag_id}/runs/{date}/{run_id}/phases/{phase}/attempts/{attempt}/commit",
    tag = "write",
    params(AttemptPath),
    request_body(content = CommitRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Committed", body = AttemptCommitted),
        (status = 404, description = "The attempt is not open", body = ErrorResponse, content_type = "application/problem+json"),
        (status = 409, description = "Committed already with another outcome, or its staged parts were deleted (expired) while it was being committed: nothing was committed", body = ErrorResponse, content_type = "application/problem+json"),
        (status = 415, description = "The body is not JSON", body = ErrorResponse, content_type = "application/problem+json"),
        (status = 422, description = "An invalid body (HTTPValidationError), or an error row that names a data row past the attempt's data (ErrorResponse): nothing was committed", content(
            (HTTPValidationError = "application/json"),
            (ErrorResponse = "application/problem+json"),
        )),
    ),
    security(("bearer" = ["runs:write"]))
)]
pub async fn commit_attempt(
    State(state): State<AppState>,
    RunWriter(company): RunWriter,
    AttemptPath(attempt): AttemptPath,
    JsonBody(commit): JsonBody<CommitRequest>,
) -> Result<Json<AttemptCommitted>, ApiError> {
    let _slot = state.write_slot(&company)?;
    let stated = Stated {
        total: commit.total.is_some(),
        started_at: commit.started_at.is_some(),
        finished_at: commit.finished_at.is_some(),
    };
    let outcome = PhaseOutcome::ended(
        commit.status,
        commit.message,
        commit.total,
        commit.started_at,
        commit.finished_at,
    );
    let metadata = state
        .recorder
        .staged(&company, attempt)?
        .commit(&outcome, stated, Utc::now())
        .await?;
    Ok(Json(AttemptCommitted::from(metadata)))
}

/// Abort an open attempt.
///
/// Deletes what was staged of it. Aborting an attempt that is not open is
/// not an error (a retried abort); a committed one is 409.
#[utoipa::path(
    delete,
    path = "/dags/{dag_id}/runs/{date}/{run_id}/phases/{phase}/attempts/{attempt}",
    tag = "write",
    params(AttemptPath),
    responses(
        (status = 204, description = "Aborted"),
        (status = 409, description = "The attempt is committed", body = ErrorResponse, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["runs:write"]))
)]
pub async fn abort_attempt(
    State(state): State<AppState>,
    RunWriter(company): RunWriter,
    AttemptPath(attempt): AttemptPath,
) -> Result<StatusCode, ApiError> {
    state.recorder.staged(&company, attempt)?.abort().await?;
    Ok(StatusCode::NO_CONTENT)
}
