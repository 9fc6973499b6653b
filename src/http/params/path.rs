//! Path parameters: one extractor per route shape. Segments arrive
//! percent-encoded and are decoded once by the router; each segment is
//! declared once (a private struct deriving `IntoParams`) and the routes'
//! extractors compose them.

use std::collections::HashMap;

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use chrono::NaiveDate;
use serde_json::json;
use utoipa::IntoParams;
use utoipa::openapi::path::{Parameter, ParameterIn};

use super::super::error::{ApiError, ValidationIssue};
use crate::model::{AttemptRef, DagId, Phase, RunId, RunRef, parse_date};

/// The decoded segments of a request's path, and the issues found.
struct Segments {
    raw: HashMap<String, String>,
    issues: Vec<ValidationIssue>,
}

impl Segments {
    async fn of<S: Send + Sync>(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<HashMap<String, String>>::from_request_parts(parts, state).await {
            Ok(Path(raw)) => Ok(Self {
                raw,
                issues: Vec::new(),
            }),
            // Typically a segment whose percent-encoding is not UTF-8.
            Err(rejection) => Err(ApiError::Validation(vec![issue(
                "path",
                "value_error",
                format!(
                    "path segment could not be decoded: {}",
                    rejection.body_text()
                ),
                parts.uri.path(),
            )])),
        }
    }

    /// Parses segment `name` with `parse`, which says what is wrong as
    /// (`type`, `msg`); `None` when absent or invalid (with an issue).
    fn get<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, (&'static str, String)>,
    ) -> Option<T> {
        let Some(value) = self.raw.get(name) else {
            // The route declares the segment; only a route and extractor
            // that disagree get here.
            self.issues
                .push(issue(name, "missing", "Field required", ""));
            return None;
        };
        match parse(value) {
            Ok(parsed) => Some(parsed),
            Err((kind, msg)) => {
                self.issues.push(issue(name, kind, msg, value));
                None
            }
        }
    }

    fn finish<T>(self, value: Option<T>) -> Result<T, ApiError> {
        match value {
            Some(value) if self.issues.is_empty() => Ok(value),
            _ => Err(ApiError::Validation(self.issues)),
        }
    }
}

fn issue(name: &str, kind: &str, msg: impl Into<String>, input: &str) -> ValidationIssue {
    ValidationIssue::new("path", name, kind, msg, json!(input))
}

/// A path extractor, parsed from the request's segments.
trait FromSegments: Sized {
    /// The value; `None` when a segment is invalid (issues recorded).
    fn from_segments(segments: &mut Segments) -> Option<Self>;
}

/// Extracts `T`, or a 422 naming every invalid segment.
async fn extract<S: Send + Sync, T: FromSegments>(
    parts: &mut Parts,
    state: &S,
) -> Result<T, ApiError> {
    let mut segments = Segments::of(parts, state).await?;
    let value = T::from_segments(&mut segments);
    segments.finish(value)
}

/// `{dag_id}`.
#[derive(Debug, Clone, Copy, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct DagPath {
    /// DAG/ETL UUID
    #[param(value_type = uuid::Uuid)]
    pub dag_id: DagId,
}

impl FromSegments for DagPath {
    fn from_segments(segments: &mut Segments) -> Option<Self> {
        let dag_id = segments.get("dag_id", |v| {
            v.parse::<DagId>()
                .map_err(|_| ("uuid_parsing", "Input should be a valid UUID".to_owned()))
        })?;
        Some(Self { dag_id })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for DagPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        extract(parts, state).await
    }
}

/// `{date}/{run_id}` after `{dag_id}`.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
struct RunSegments {
    /// Run partition date (YYYY-MM-DD)
    #[param(value_type = String, format = Date)]
    date: NaiveDate,
    /// Airflow run_id (URL-encoded); at most 250 bytes of UTF-8, no control characters, not `.` or `..`
    #[param(value_type = String, max_length = 250, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$")]
    run_id: RunId,
}

/// `{dag_id}/runs/{date}/{run_id}`: one run (endpoints 2 and 3).
#[derive(Debug, Clone)]
pub struct RunPath(pub RunRef);

impl FromSegments for RunPath {
    fn from_segments(segments: &mut Segments) -> Option<Self> {
        // Every segment is checked, so the 422 names every bad one.
        let dag = DagPath::from_segments(segments);
        let date = segments.get("date", |v| {
            parse_date("date", v).map_err(|e| {
                (
                    "date_parsing",
                    format!(
                        "Input should be a valid date in the format YYYY-MM-DD ({})",
                        e.reason
                    ),
                )
            })
        });
        let run_id = segments.get("run_id", |v| {
            RunId::new(v).map_err(|e| ("value_error", format!("Invalid run_id: {}", e.reason)))
        });
        let run = RunSegments {
            date: date?,
            run_id: run_id?,
        };
        Some(Self(RunRef::new(dag?.dag_id, run.date, run.run_id)))
    }
}

impl IntoParams for RunPath {
    fn into_params(parameter_in: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let mut params = DagPath::into_params(&parameter_in);
        params.extend(RunSegments::into_params(&parameter_in));
        params
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RunPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        extract(parts, state).await
    }
}

/// `{phase}` after a run.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
struct PhaseSegment {
    /// extract, transform or load
    #[param(value_type = String, pattern = "^(extract|transform|load)$")]
    phase: Phase,
}

/// `{dag_id}/runs/{date}/{run_id}/phases/{phase}`: one ETL step of a run
/// (endpoints 4-7).
#[derive(Debug, Clone)]
pub struct PhasePath {
    /// The run.
    pub run: RunRef,
    /// The step: never [`Phase::Event`].
    pub phase: Phase,
}

impl IntoParams for PhasePath {
    fn into_params(parameter_in: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let mut params = RunPath::into_params(&parameter_in);
        params.extend(PhaseSegment::into_params(&parameter_in));
        params
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PhasePath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        extract(parts, state).await
    }
}

impl FromSegments for PhasePath {
    fn from_segments(segments: &mut Segments) -> Option<Self> {
        let run = RunPath::from_segments(segments);
        let phase = segments.get("phase", |v| match v.parse::<Phase>() {
            Ok(p) if p.is_step() => Ok(PhaseSegment { phase: p }),
            _ => Err((
                "literal_error",
                "Input should be 'extract', 'transform' or 'load'".to_owned(),
            )),
        });
        run.zip(phase).map(|(RunPath(run), p)| Self {
            run,
            phase: p.phase,
        })
    }
}

/// `{attempt}`: an attempt number, from 1.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[expect(
    dead_code,
    reason = "read by the IntoParams derive only: it declares the segment for the document"
)]
struct AttemptSegment {
    /// Attempt number (1 is the first run of the phase).
    #[param(minimum = 1, maximum = 2147483647)]
    attempt: u32,
}

/// `{dag_id}/runs/{date}/{run_id}/phases/{phase}/attempts/{attempt}`: one
/// attempt of an ETL step (the write API).
#[derive(Debug, Clone)]
pub struct AttemptPath(pub AttemptRef);

fn attempt_number(v: &str) -> Result<u32, (&'static str, String)> {
    match v.parse::<u32>() {
        Ok(n) if (1..=i32::MAX as u32).contains(&n) => Ok(n),
        _ => Err((
            "int_parsing",
            "Input should be a whole number from 1 to 2147483647".to_owned(),
        )),
    }
}

impl IntoParams for AttemptPath {
    fn into_params(parameter_in: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let mut params = PhasePath::into_params(&parameter_in);
        params.extend(AttemptSegment::into_params(&parameter_in));
        params
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AttemptPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        extract(parts, state).await
    }
}

impl FromSegments for AttemptPath {
    fn from_segments(segments: &mut Segments) -> Option<Self> {
        let phase = PhasePath::from_segments(segments);
        let attempt = segments.get("attempt", attempt_number);
        phase
            .zip(attempt)
            .map(|(p, attempt)| Self(AttemptRef::new(p.run, p.phase, attempt)))
    }
}

/// `{kind}/{part}` of an attempt: one uploaded part.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[expect(
    dead_code,
    reason = "read by the IntoParams derive only: it declares the segments for the document"
)]
struct PartSegments {
    /// What the part holds.
    #[param(value_type = String, pattern = "^(data|errors|logs)$")]
    kind: String,
    /// Part number, from 1; parts of a kind come in order.
    #[param(minimum = 1, maximum = 2147483647)]
    part: u32,
}

/// `.../attempts/{attempt}/{kind}/{part}`: one part of an open attempt.
#[derive(Debug, Clone)]
pub struct PartPath {
    /// The attempt.
    pub attempt: AttemptRef,
    /// What the part holds.
    pub kind: crate::record::staging::PartKind,
    /// The part number, from 1.
    pub part: u32,
}

impl IntoParams for PartPath {
    fn into_params(parameter_in: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let mut params = AttemptPath::into_params(&parameter_in);
        params.extend(PartSegments::into_params(&parameter_in));
        params
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PartPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        extract(parts, state).await
    }
}

impl FromSegments for PartPath {
    fn from_segments(segments: &mut Segments) -> Option<Self> {
        use crate::record::staging::PartKind;
        let attempt = AttemptPath::from_segments(segments);
        let kind = segments.get("kind", |v| {
            PartKind::ALL.into_iter().find(|k| k.as_str() == v).ok_or((
                "literal_error",
                "Input should be 'data', 'errors' or 'logs'".to_owned(),
            ))
        });
        let part = segments.get("part", attempt_number);
        match (attempt, kind, part) {
            (Some(AttemptPath(attempt)), Some(kind), Some(part)) => Some(Self {
                attempt,
                kind,
                part,
            }),
            _ => None,
        }
    }
}
