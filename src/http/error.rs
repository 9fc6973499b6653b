//! The one place where failures become the contract's error bodies (4.3):
//! `ErrorResponse` (RFC 7807, `application/problem+json`) and FastAPI's
//! `HTTPValidationError`. Server-side failures are logged here with their
//! cause; the body names files by key and never carries the cause's text
//! when it could hold internals.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::body::BodyError;
pub use super::problem::{
    ErrorResponse, HTTPValidationError, PendingProblem, Problem, ProblemDetail, ValidationIssue,
};
use crate::auth::AuthError;
use crate::read::{Missing, ReadError};
use crate::runindex::IndexError;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Not authenticated.
    #[error(transparent)]
    Unauthorized(#[from] AuthError),
    /// Authenticated, but the token lacks the scope the route needs (403,
    /// RFC 6750 section 3.1 `insufficient_scope`).
    #[error("the token lacks the scope {0}")]
    InsufficientScope(&'static str),
    /// This server takes no writes (`DAGTRAIL_WRITE_API=false`; 403).
    #[error("this server takes no writes")]
    WriteApiOff,
    /// The run, attempt or event does not exist (404).
    #[error("{0} not found")]
    NotFound(Missing),
    /// No route has this path (404).
    #[error("no such route")]
    NoRoute,
    /// Parameters that do not validate.
    #[error("invalid parameters")]
    Validation(Vec<ValidationIssue>),
    /// A date range the contract refuses (422 `ErrorResponse`).
    #[error("{0}")]
    BadDateRange(String),
    /// A failure reading the stores.
    #[error(transparent)]
    Read(ReadError),
    /// The stores did not answer in time.
    #[error("the backing store did not answer within {0} s")]
    Timeout(u64),
    /// Too many concurrent requests of one kind.
    #[error("{0}")]
    Busy(String),
    /// A request body in a media type the route does not take (415).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A request body over the route's limit (413).
    #[error("the request body is over the limit of {0} bytes")]
    PayloadTooLarge(u64),
    /// A method the server does not answer (501).
    #[error("method not implemented")]
    MethodNotImplemented,
    /// The request took longer than its deadline (503).
    #[error("the request took longer than {secs} s")]
    Deadline {
        /// The deadline, in seconds.
        secs: u64,
        /// The setting that sets it.
        setting: &'static str,
    },
    /// A request body that could not be read: past the route's limit
    /// (413), slower than the minimum rate (408), or cut off (400).
    #[error(transparent)]
    Body(#[from] BodyError),
    /// Recording failed (see [`crate::record::RecordError`]).
    #[error(transparent)]
    Record(#[from] crate::record::RecordError),
}

impl From<ReadError> for ApiError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::NotFound(what) => ApiError::NotFound(what),
            other => ApiError::Read(other),
        }
    }
}

impl From<crate::reconcile::ReconcileError> for ApiError {
    fn from(e: crate::reconcile::ReconcileError) -> Self {
        use crate::reconcile::ReconcileError;
        match e {
            ReconcileError::Read(e) => e.into(),
            ReconcileError::Record(e) => e.into(),
            ReconcileError::Index(e) => ApiError::Record(e.into()),
            ReconcileError::List(source) => ApiError::Record(crate::record::RecordError::Write(
                crate::artifacts::writer::WriteError::Store {
                    key: String::new(),
                    source,
                },
            )),
        }
    }
}

/// An error and its causes, joined by `: ` (a cause already in the text
/// left out), for logs: "builder error" alone says nothing, its cause
/// ("invalid certificate: UnknownIssuer") does.
pub fn causes(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        let text = e.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = e.source();
    }
    line
}

/// A recording failure's problem: the client's mistakes as 4xx naming
/// them, a busy run index as 503 to retry, the stores' failures as 502.
fn record_problem(e: &crate::record::RecordError) -> Problem {
    use crate::artifacts::writer::WriteError;
    use crate::record::RecordError;
    let detail = causes(e);
    let unprocessable = |detail| {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Unprocessable entity",
            detail,
        )
    };
    match e {
        RecordError::Key(_)
        | RecordError::EventIsNotAStep
        | RecordError::EmptyEvent
        | RecordError::BadPart { .. }
        | RecordError::Write(
            WriteError::SchemaChanged { .. }
            | WriteError::Schema { .. }
            | WriteError::RowPosition { .. },
        ) => unprocessable(detail),
        RecordError::OverLimit { over, .. } if over.limit.too_large() => {
            Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "Content too large", detail)
        }
        RecordError::OverLimit { .. } => unprocessable(detail),
        RecordError::NotOpen { .. } => {
            Problem::new(StatusCode::NOT_FOUND, "Attempt not open", detail)
        }
        RecordError::TooManyOpenAttempts { .. } => Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many open attempts",
            detail,
        ),
        RecordError::Write(WriteError::AlreadyCommitted { .. })
        | RecordError::TooManyParts { .. }
        | RecordError::CommitDiffers { .. }
        | RecordError::PartOutOfOrder { .. }
        | RecordError::StagingChanged { .. }
        | RecordError::CompanyFolderTaken(_) => {
            Problem::new(StatusCode::CONFLICT, "Conflict", detail)
        }
        RecordError::Index(IndexError::Busy { .. }) => {
            tracing::warn!(error = %detail, "write refused: run index busy");
            Problem::index_busy()
        }
        RecordError::Index(_) | RecordError::Write(_) | RecordError::Staged { .. } => {
            tracing::error!(error = %detail, "recording failed");
            Problem::new(
                StatusCode::BAD_GATEWAY,
                "Recording failed",
                format!("the backing store failed to record: {detail}"),
            )
        }
    }
}

/// A read failure's problem, logged: the run index's saturation as a
/// warning (the operator's to see, not a failure of ours), every other
/// failure as an error.
fn read_problem(e: ReadError) -> Problem {
    if matches!(e, ReadError::Index(IndexError::Busy { .. })) {
        tracing::warn!(error = %causes(&e), "read refused: run index busy");
    } else {
        tracing::error!(error = %causes(&e), "read failed");
    }
    let gateway =
        |title: &str, detail: String| Problem::new(StatusCode::BAD_GATEWAY, title, detail);
    match e {
        ReadError::Index(IndexError::Busy { .. }) => Problem::index_busy(),
        ReadError::Index(IndexError::Unreachable(_)) => gateway(
            "Run lookup failed",
            "the run index cannot be reached".to_owned(),
        ),
        ReadError::Index(_) => gateway(
            "Run lookup failed",
            "the run index did not answer the query".to_owned(),
        ),
        ReadError::MissingFile { key } => gateway(
            "Artifact missing",
            format!("{key} is counted by metadata.parquet but missing from the store"),
        ),
        ReadError::StoreTimeout { key, .. } => Problem::new(
            StatusCode::GATEWAY_TIMEOUT,
            "Backing store timeout",
            format!("reading {key} timed out"),
        ),
        ReadError::Store { key, .. } => {
            gateway("Artifact store failed", format!("cannot read {key}"))
        }
        ReadError::Decode { key, reason } => {
            gateway("Artifact could not be decoded", format!("{key}: {reason}"))
        }
        ReadError::Key(e) => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid path",
            e.to_string(),
        ),
        ReadError::Cursor(e) => Problem::invalid(vec![ValidationIssue::new(
            "query",
            "cursor",
            "value_error",
            e.to_string(),
            serde_json::Value::Null,
        )]),
        ReadError::NotFound(what) => ApiError::NotFound(what).into(),
    }
}

/// The one mapping of failures to what a client is told (contract 4.3),
/// whichever surface renders it; server-side failures are logged here.
impl From<ApiError> for Problem {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::Unauthorized(reason) => {
                let challenge = match &reason {
                    AuthError::Missing => "Bearer",
                    AuthError::Invalid(_) => "Bearer error=\"invalid_token\"",
                };
                Problem::new(StatusCode::UNAUTHORIZED, "Unauthorized", reason.to_string())
                    .challenge(HeaderValue::from_static(challenge))
            }
            ApiError::WriteApiOff => Problem::new(
                StatusCode::FORBIDDEN,
                "Writes turned off",
                "this server takes no writes (DAGTRAIL_WRITE_API=false, as a server under the run index's reading role is run): send them to one that does",
            ),
            ApiError::InsufficientScope(scope) => {
                let problem = Problem::new(
                    StatusCode::FORBIDDEN,
                    "Forbidden",
                    format!(
                        "this token may read but not write: writing needs a token whose scope claim holds {scope} (dagtrail token --scope {scope})"
                    ),
                );
                match HeaderValue::from_str(&format!(
                    "Bearer error=\"insufficient_scope\", scope=\"{scope}\""
                )) {
                    Ok(challenge) => problem.challenge(challenge),
                    Err(_) => problem,
                }
            }
            ApiError::NotFound(what) => {
                let (title, detail) = match what {
                    Missing::Run => ("Run not found", "no such run for this company"),
                    Missing::Event => (
                        "Event not found",
                        "the run has neither queue_data.parquet nor event.parquet",
                    ),
                    Missing::Attempt => (
                        "Phase attempt not found",
                        "no committed attempt (metadata.parquet) for this phase and attempt",
                    ),
                    Missing::Dag => (
                        "DAG not found",
                        "the company has no such DAG (no runs, no catalog entry)",
                    ),
                };
                Problem::new(StatusCode::NOT_FOUND, title, detail)
            }
            ApiError::NoRoute => Problem::new(
                StatusCode::NOT_FOUND,
                "Not found",
                "no such route; the API lives under /api/v1 (see /docs)",
            ),
            ApiError::Validation(issues) => Problem::invalid(issues),
            ApiError::BadDateRange(detail) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid date range",
                detail,
            ),
            ApiError::Timeout(secs) => {
                tracing::warn!(timeout_secs = secs, "request timed out against the stores");
                Problem::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    "Backing store timeout",
                    format!("the backing store did not answer within {secs} s"),
                )
            }
            ApiError::UnsupportedMediaType(detail) => Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported media type",
                detail,
            ),
            ApiError::PayloadTooLarge(limit) | ApiError::Body(BodyError::TooLarge(limit)) => {
                Problem::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "Payload too large",
                    format!("the request body is over the limit of {limit} bytes for this route"),
                )
            }
            ApiError::Record(e) => record_problem(&e),
            ApiError::MethodNotImplemented => Problem::new(
                StatusCode::NOT_IMPLEMENTED,
                "Not implemented",
                "this server knows the methods HTTP defines (GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, TRACE, CONNECT, QUERY), no other",
            ),
            ApiError::Deadline { secs, setting } => {
                tracing::warn!(secs, setting, "a request went past its deadline");
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Request took too long",
                    format!("the request took longer than its limit of {secs} s ({setting}); it was stopped"),
                )
                .retry_after(1)
            }
            ApiError::Body(e @ BodyError::TooSlow(_)) => Problem::new(
                StatusCode::REQUEST_TIMEOUT,
                "Request timeout",
                e.to_string(),
            )
            .closing(),
            ApiError::Body(e @ BodyError::Broken(_)) => {
                Problem::new(StatusCode::BAD_REQUEST, "Bad request", e.to_string())
            }
            // Slots free up within seconds (a stream ends, a stalled one is
            // cut): a client may try again soon.
            ApiError::Busy(detail) => {
                Problem::new(StatusCode::SERVICE_UNAVAILABLE, "Too busy", detail).retry_after(1)
            }
            ApiError::Read(e) => read_problem(e),
        }
    }
}

/// The JSON API's answer to a failure: its [`Problem`], rendered as a
/// problem body.
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        Problem::from(self).into_response()
    }
}
