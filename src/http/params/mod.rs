//! Parameters of endpoints 1-7 (contract 4.1, 4.2): one typed extractor
//! per route's path ([`DagPath`], [`RunPath`], [`PhasePath`]) and per
//! group of query parameters ([`SearchRunsQuery`], [`AttemptQuery`],
//! [`PageQuery`], [`DataQuery`], [`LogQuery`], read through [`Params`]).
//! Each derives (or composes) `IntoParams`, so the OpenAPI document comes
//! from the struct the handler receives; each is parsed by hand so that
//! every bad value (a wrong type, a value out of range, a missing required
//! parameter, an undecodable path segment) becomes a FastAPI-shaped 422
//! naming it, where axum's own extractors would answer 400 with plain text.
//!
//! Every bound is a constant here (or beside its idea, as
//! [`MAX_RUN_ID_BYTES`]), used by the parsers. utoipa's attributes take
//! only literals, so `tests/api/docs.rs` holds the generated document
//! against these constants.

mod path;
mod query;

use std::collections::HashMap;
use std::str::FromStr;

use axum::extract::{FromRequestParts, RawQuery};
use axum::http::request::Parts;
use chrono::NaiveDate;
use serde_json::{Value, json};

pub use self::path::{AttemptPath, DagPath, PartPath, PhasePath, RunPath};
pub use self::query::{
    AttemptQuery, CalendarQuery, DagIdsQuery, DagsQuery, DataQuery, LogQuery, MAX_DAG_IDS,
    PageQuery, SearchRunsQuery,
};
use super::error::{ApiError, ValidationIssue};
pub use crate::model::MAX_RUN_ID_BYTES;
use crate::model::parse_date;
pub use crate::runindex::MAX_RUN_IDS;

/// Longest keyword accepted (every `*_keyword` and `keyword`), in
/// characters.
pub const MAX_KEYWORD_CHARS: usize = 256;
/// Largest `page` of endpoints 5-7 (0-based).
pub const MAX_ROWS_PAGE: u64 = 1_000_000_000;
/// Largest `limit` of endpoints 5-7, in rows.
pub const MAX_ROWS_PER_PAGE: u32 = 1000;
/// `limit` of endpoints 5-7 when absent, in rows.
pub const DEFAULT_ROWS_PER_PAGE: u32 = 50;
/// Largest `limit` of endpoint 1, in runs.
pub const MAX_RUNS_PER_PAGE: u32 = 100;
/// `limit` of endpoint 1 when absent, in runs.
pub const DEFAULT_RUNS_PER_PAGE: u32 = 20;
/// Largest `page` of endpoint 1 (0-based): the offset of its last page
/// at the largest `limit` still fits the run index's 32-bit arithmetic.
pub const MAX_RUNS_PAGE: u32 = u32::MAX / MAX_RUNS_PER_PAGE;
/// Longest `run_ids` list accepted, in characters: the most run ids at
/// their longest, with room for separators and spaces.
pub const MAX_RUN_IDS_CHARS: usize = MAX_RUN_IDS * (MAX_RUN_ID_BYTES + 10);
/// Longest `level` list accepted (endpoint 7), in characters.
pub const MAX_LEVELS_CHARS: usize = 200;

/// The query string as name → value (the last one wins on repeats), and
/// the issues found so far.
#[derive(Debug, Default)]
pub struct QueryValues {
    values: HashMap<String, String>,
    issues: Vec<ValidationIssue>,
}

impl QueryValues {
    /// The values of a raw (still percent-encoded) query string.
    pub fn parse(raw: &str) -> Self {
        Self {
            values: url::form_urlencoded::parse(raw.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
            issues: Vec::new(),
        }
    }

    /// The values of an HTML form's query string, as a `GET` form sends
    /// them: an empty field is no value, and a name repeated (checkboxes)
    /// is the list of its values, comma-separated, as the API takes lists.
    /// `defaults` fill names the query does not have.
    pub fn from_form(raw: &str, defaults: &[(&str, String)]) -> Self {
        let mut values: HashMap<String, String> = HashMap::new();
        for (k, v) in url::form_urlencoded::parse(raw.as_bytes()) {
            if v.trim().is_empty() {
                continue;
            }
            values
                .entry(k.into_owned())
                .and_modify(|all| {
                    all.push(',');
                    all.push_str(&v);
                })
                .or_insert_with(|| v.into_owned());
        }
        for (name, value) in defaults {
            values
                .entry((*name).to_owned())
                .or_insert_with(|| value.clone());
        }
        Self {
            values,
            issues: Vec::new(),
        }
    }

    /// The value of `name`, as given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// A group's values, or the 422 of [`Params`] listing every issue.
    ///
    /// # Errors
    ///
    /// [`ApiError::Validation`] with every issue found.
    pub fn validate<T: FromQuery>(mut self) -> Result<T, ApiError> {
        match T::from_query(&mut self) {
            Some(value) if self.issues.is_empty() => Ok(value),
            _ => Err(ApiError::Validation(self.issues)),
        }
    }

    fn issue(&mut self, name: &str, kind: &str, msg: impl Into<String>, input: Value) {
        self.issues
            .push(ValidationIssue::new("query", name, kind, msg, input));
    }

    /// An integer in `min..=max`, `default` when absent (and when invalid,
    /// with an issue recorded).
    pub fn int(&mut self, name: &str, default: i64, min: i64, max: i64) -> i64 {
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
        if value > max {
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

    /// A required `YYYY-MM-DD` date (`None`, with an issue, when missing
    /// or invalid).
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

    /// An optional `YYYY-MM-DD` date (`None` when absent; when invalid,
    /// with an issue).
    pub fn optional_date(&mut self, name: &str) -> Option<NaiveDate> {
        if self.values.contains_key(name) {
            self.date(name)
        } else {
            None
        }
    }

    /// An optional RFC 3339 time (`None` when absent; when invalid, with
    /// an issue).
    pub fn optional_time(&mut self, name: &str) -> Option<chrono::DateTime<chrono::Utc>> {
        let raw = self.values.get(name).cloned()?;
        match chrono::DateTime::parse_from_rfc3339(raw.trim()) {
            Ok(t) => Some(t.with_timezone(&chrono::Utc)),
            Err(e) => {
                self.issue(
                    name,
                    "datetime_parsing",
                    format!("Input should be a valid RFC 3339 date-time ({e})"),
                    json!(raw),
                );
                None
            }
        }
    }

    /// One of a fixed set of values (`allowed`, as the message lists
    /// them), `default` when absent or invalid.
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

    /// Optional text of at most `max_chars` characters, without NUL.
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
}

/// A group of query parameters parsed from [`QueryValues`].
pub trait FromQuery: Sized {
    /// The group's values; `None` when a required one is missing or
    /// invalid. Every problem found is recorded in `query`.
    fn from_query(query: &mut QueryValues) -> Option<Self>;
}

/// Groups read from one query string: each is parsed, so the 422 lists
/// the issues of all.
impl<A: FromQuery, B: FromQuery> FromQuery for (A, B) {
    fn from_query(query: &mut QueryValues) -> Option<Self> {
        let a = A::from_query(query);
        let b = B::from_query(query);
        Some((a?, b?))
    }
}

impl<A: FromQuery, B: FromQuery, C: FromQuery> FromQuery for (A, B, C) {
    fn from_query(query: &mut QueryValues) -> Option<Self> {
        let (a, b) = <(A, B)>::from_query(query).unzip();
        let c = C::from_query(query);
        Some((a?, b?, c?))
    }
}

/// The query parameters of a route, validated: the extractor for every
/// [`FromQuery`] group (a 422 listing every issue, or the values).
#[derive(Debug, Clone)]
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: FromQuery> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let RawQuery(raw) = RawQuery::from_request_parts(parts, state)
            .await
            .unwrap_or(RawQuery(None));
        let mut query = QueryValues::parse(raw.as_deref().unwrap_or_default());
        match T::from_query(&mut query) {
            Some(value) if query.issues.is_empty() => Ok(Self(value)),
            _ => Err(ApiError::Validation(query.issues)),
        }
    }
}

/// Percent-encodes one URL path segment (a `run_id`, say) the way a client
/// must send it: what the path extractors decode back. For the URLs the
/// CLI prints and the load generators send. (Not the contract's encoding
/// of artifact keys: that is `artifacts::key::key_segment`.)
pub fn url_path_segment(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// A run's path below a surface's root, `/dags/{dag_id}/runs/{date}/{run_id}`
/// (the run id as one percent-encoded segment): the run explorer's page
/// of the run, and with `/api/v1` before it endpoint 3. The one place
/// that spells it.
pub fn run_path(dag_id: &impl std::fmt::Display, date: &chrono::NaiveDate, run_id: &str) -> String {
    format!("/dags/{dag_id}/runs/{date}/{}", url_path_segment(run_id))
}
