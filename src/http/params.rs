//! Parameters: parsed by hand so that every bad value — a wrong type, a
//! value out of range, a missing required parameter, an undecodable path
//! segment — becomes a FastAPI-shaped 422 naming it, where axum's own
//! extractors would answer 400 with plain text.

use std::collections::HashMap;
use std::str::FromStr;

use axum::extract::{FromRequestParts, Path, RawQuery};
use axum::http::request::Parts;
use chrono::NaiveDate;
use serde_json::{Value, json};

use super::error::{ApiError, ValidationIssue};
use crate::model::{DagId, Phase, RunId, RunRef, parse_date};

/// The query string as name → value (the last one wins on repeats), and
/// the issues found so far.
#[derive(Debug, Default)]
pub struct Query {
    values: HashMap<String, String>,
    issues: Vec<ValidationIssue>,
}

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let RawQuery(raw) = RawQuery::from_request_parts(parts, state)
            .await
            .unwrap_or(RawQuery(None));
        let values = url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Ok(Self {
            values,
            issues: Vec::new(),
        })
    }
}

impl Query {
    /// A query from literal pairs (tests, other callers).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self {
            values: pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            issues: Vec::new(),
        }
    }

    fn issue(&mut self, name: &str, kind: &str, msg: impl Into<String>, input: Value) {
        self.issues
            .push(ValidationIssue::new("query", name, kind, msg, input));
    }

    /// An integer with a default and bounds.
    pub fn int(&mut self, name: &str, default: i64, min: i64, max: Option<i64>) -> i64 {
        let Some(raw) = self.values.get(name).cloned() else {
            return default;
        };
        let Ok(value) = raw.trim().parse::<i64>() else {
            self.issue(
                name,
                "int_parsing",
                "Input should be a valid integer, unable to parse string as an integer",
                json!(raw),
            );
            return default;
        };
        if value < min {
            self.issue(
                name,
                "greater_than_equal",
                format!("Input should be greater than or equal to {min}"),
                json!(raw),
            );
            return default;
        }
        if let Some(max) = max
            && value > max
        {
            self.issue(
                name,
                "less_than_equal",
                format!("Input should be less than or equal to {max}"),
                json!(raw),
            );
            return default;
        }
        value
    }

    /// A required `YYYY-MM-DD` date.
    pub fn date(&mut self, name: &str) -> Option<NaiveDate> {
        let Some(raw) = self.values.get(name).cloned() else {
            self.issue(name, "missing", "Field required", Value::Null);
            return None;
        };
        match parse_date("date", raw.trim()) {
            Ok(d) => Some(d),
            Err(e) => {
                self.issue(
                    name,
                    "date_parsing",
                    format!(
                        "Input should be a valid date in the format YYYY-MM-DD ({})",
                        e.reason
                    ),
                    json!(raw),
                );
                None
            }
        }
    }

    /// One of a fixed set of values.
    pub fn choice<T: FromStr>(&mut self, name: &str, default: T, allowed: &[&str]) -> T {
        let Some(raw) = self.values.get(name).cloned() else {
            return default;
        };
        match raw.parse::<T>() {
            Ok(v) => v,
            Err(_) => {
                let expected = allowed
                    .iter()
                    .map(|a| format!("'{a}'"))
                    .collect::<Vec<_>>()
                    .join(", ");
                self.issue(
                    name,
                    "literal_error",
                    format!("Input should be {expected}"),
                    json!(raw),
                );
                default
            }
        }
    }

    /// Optional text, at most `max_chars` characters.
    pub fn text(&mut self, name: &str, max_chars: usize) -> Option<String> {
        let raw = self.values.get(name).cloned()?;
        if raw.chars().count() > max_chars {
            self.issue(
                name,
                "string_too_long",
                format!("String should have at most {max_chars} characters"),
                json!(raw),
            );
            return None;
        }
        // No stored text can hold NUL (PostgreSQL refuses it in text, run
        // ids forbid control characters), so a NUL is a client error here
        // rather than a database error later.
        if raw.contains('\0') {
            self.issue(
                name,
                "string_pattern_mismatch",
                "String should not contain NUL characters",
                json!(raw),
            );
            return None;
        }
        Some(raw)
    }

    /// Records an issue found by a caller's own rule.
    pub fn invalid(&mut self, name: &str, kind: &str, msg: impl Into<String>) {
        let input = self.values.get(name).map_or(Value::Null, |v| json!(v));
        self.issue(name, kind, msg, input);
    }

    /// Fails with every issue found, if any.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.issues.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.issues))
        }
    }
}

fn path_issue(name: &str, kind: &str, msg: impl Into<String>, input: &str) -> ValidationIssue {
    ValidationIssue::new("path", name, kind, msg, json!(input))
}

/// The path parameters of endpoints 1-7, validated. Segments arrive
/// percent-encoded and are decoded once by the router.
#[derive(Debug, Clone)]
pub struct PathParams {
    /// `{dag_id}`
    pub dag_id: DagId,
    /// `{date}`, when the route has one.
    pub date: Option<NaiveDate>,
    /// `{run_id}`, when the route has one.
    pub run_id: Option<RunId>,
    /// `{phase}`, when the route has one.
    pub phase: Option<Phase>,
}

impl PathParams {
    /// The run named by the path (routes with `{date}` and `{run_id}`).
    pub fn run(&self) -> Result<RunRef, ApiError> {
        match (&self.date, &self.run_id) {
            (Some(date), Some(run_id)) => Ok(RunRef::new(self.dag_id, *date, run_id.clone())),
            _ => Err(ApiError::NotFound(crate::read::Missing::Run)),
        }
    }

    /// The phase named by the path.
    pub fn phase(&self) -> Result<Phase, ApiError> {
        self.phase
            .ok_or(ApiError::NotFound(crate::read::Missing::Attempt))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PathParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let raw: HashMap<String, String> =
            match Path::<HashMap<String, String>>::from_request_parts(parts, state).await {
                Ok(Path(map)) => map,
                Err(rejection) => {
                    // Typically a segment whose percent-encoding is not UTF-8.
                    return Err(ApiError::Validation(vec![path_issue(
                        "path",
                        "value_error",
                        format!(
                            "path segment could not be decoded: {}",
                            rejection.body_text()
                        ),
                        parts.uri.path(),
                    )]));
                }
            };
        let mut issues = Vec::new();
        let get = |name: &str| raw.get(name).map(String::as_str);
        let dag_id = match get("dag_id").map(|v| (v, v.parse::<DagId>())) {
            Some((_, Ok(d))) => Some(d),
            Some((v, Err(_))) => {
                issues.push(path_issue(
                    "dag_id",
                    "uuid_parsing",
                    "Input should be a valid UUID",
                    v,
                ));
                None
            }
            None => None,
        };
        let date = match get("date") {
            Some(v) => match parse_date("date", v) {
                Ok(d) => Some(d),
                Err(e) => {
                    issues.push(path_issue(
                        "date",
                        "date_parsing",
                        format!(
                            "Input should be a valid date in the format YYYY-MM-DD ({})",
                            e.reason
                        ),
                        v,
                    ));
                    None
                }
            },
            None => None,
        };
        let run_id = match get("run_id") {
            Some(v) => match RunId::new(v) {
                Ok(r) => Some(r),
                Err(e) => {
                    issues.push(path_issue(
                        "run_id",
                        "value_error",
                        format!("Invalid run_id: {}", e.reason),
                        v,
                    ));
                    None
                }
            },
            None => None,
        };
        let phase = match get("phase") {
            Some(v) => match v.parse::<Phase>() {
                Ok(p) if p.is_step() => Some(p),
                _ => {
                    issues.push(path_issue(
                        "phase",
                        "literal_error",
                        "Input should be 'extract', 'transform' or 'load'",
                        v,
                    ));
                    None
                }
            },
            None => None,
        };
        match dag_id {
            Some(dag_id) if issues.is_empty() => Ok(Self {
                dag_id,
                date,
                run_id,
                phase,
            }),
            _ => Err(ApiError::Validation(issues)),
        }
    }
}

/// Percent-encodes one path segment (a `run_id`, say) the way a client
/// must send it: what [`PathParams`] decodes back. For the URLs the CLI
/// prints and the load generators send.
pub fn encode_segment(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}
