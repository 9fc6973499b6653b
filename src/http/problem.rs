//! A failure as a client is told of it, whatever the surface: the typed
//! value every [`ApiError`](super::error::ApiError) becomes in one place
//! (`impl From<ApiError> for Problem`, in [`super::error`]), rendered by
//! the JSON API as `application/problem+json` (RFC 7807, contract 4.3)
//! or FastAPI's validation body, and by the run explorer as its error
//! page. A status, title and detail mean the same on both because both
//! render the same value.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// An RFC 7807 problem (`ErrorResponse`).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ErrorResponse {
    /// A URI reference naming the problem type.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// Short summary.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// What happened, for this request.
    pub detail: String,
    /// The request path.
    pub instance: String,
}

/// One invalid parameter (an item of `HTTPValidationError.detail`).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ValidationIssue {
    /// Where: `["query", "limit"]`, `["path", "run_id"]`.
    #[schema(value_type = Vec<String>)]
    pub loc: Vec<String>,
    /// What is wrong.
    pub msg: String,
    /// The error kind (`missing`, `int_parsing`, `less_than_equal`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// The value received (null when missing).
    pub input: Value,
}

impl ValidationIssue {
    /// An issue about parameter `name` found in `place` (`query`, `path`).
    pub fn new(place: &str, name: &str, kind: &str, msg: impl Into<String>, input: Value) -> Self {
        Self {
            loc: vec![place.to_owned(), name.to_owned()],
            msg: msg.into(),
            kind: kind.to_owned(),
            input,
        }
    }
}

/// FastAPI's validation error body.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct HTTPValidationError {
    /// Every invalid parameter.
    pub detail: Vec<ValidationIssue>,
}

/// What went wrong, as the client is told: a text, or the parameters that
/// did not validate.
#[derive(Debug, Clone, PartialEq)]
pub enum ProblemDetail {
    /// The problem body's `detail`.
    Text(String),
    /// Every invalid parameter (FastAPI's `HTTPValidationError`).
    Issues(Vec<ValidationIssue>),
}

/// A failure's answer: its status, a short title, what happened, and the
/// headers that go with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// The HTTP status (4xx or 5xx).
    pub status: StatusCode,
    /// Short summary ("Run not found"); for validation failures, the
    /// status's reason phrase.
    pub title: String,
    /// What happened, for this request.
    pub detail: ProblemDetail,
    /// Seconds after which the client may try again (`Retry-After`).
    pub retry_after: Option<u32>,
    /// The `WWW-Authenticate` challenge (RFC 6750 section 3) of a 401 or
    /// an `insufficient_scope` 403.
    pub challenge: Option<HeaderValue>,
    /// Whether the connection is to be closed after the answer (a body
    /// too slow to finish reading).
    pub close: bool,
}

impl Problem {
    /// A problem with a text detail and no extra headers.
    pub fn new(status: StatusCode, title: &str, detail: impl Into<String>) -> Self {
        Self {
            status,
            title: title.to_owned(),
            detail: ProblemDetail::Text(detail.into()),
            retry_after: None,
            challenge: None,
            close: false,
        }
    }

    /// The 422 of parameters that do not validate.
    pub fn invalid(issues: Vec<ValidationIssue>) -> Self {
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        Self {
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            detail: ProblemDetail::Issues(issues),
            ..Self::new(status, "", "")
        }
    }

    /// The 503 of a run index whose every connection is in use (reads and
    /// writes alike): a client may retry within a second.
    pub fn index_busy() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Run index busy",
            "every connection to the run index is in use; retry shortly",
        )
        .retry_after(1)
    }

    /// The problem with `Retry-After: secs`.
    pub fn retry_after(mut self, secs: u32) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// The problem with the `WWW-Authenticate` challenge `challenge`.
    pub fn challenge(mut self, challenge: HeaderValue) -> Self {
        self.challenge = Some(challenge);
        self
    }

    /// The problem with `Connection: close`.
    pub fn closing(mut self) -> Self {
        self.close = true;
        self
    }

    /// The details as lines for a reader: the text, or one line per
    /// invalid parameter (`limit: Input should be less than or equal to
    /// 1000`).
    pub fn detail_lines(&self) -> Vec<String> {
        match &self.detail {
            ProblemDetail::Text(text) => vec![text.clone()],
            ProblemDetail::Issues(issues) => issues
                .iter()
                .map(|i| {
                    let at = i.loc.last().map_or("", String::as_str);
                    format!("{at}: {}", i.msg)
                })
                .collect(),
        }
    }

    /// Sets this problem's headers (`Retry-After`, `WWW-Authenticate`,
    /// `Connection`) on `response`, whatever renders its body.
    pub fn set_headers(&self, response: &mut Response) {
        let headers = response.headers_mut();
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(challenge) = &self.challenge {
            headers.insert(header::WWW_AUTHENTICATE, challenge.clone());
        }
        if self.close {
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
    }
}

/// Marks a response whose problem body still lacks `instance`; the request
/// middleware fills it in from the request path.
#[derive(Debug, Clone)]
pub struct PendingProblem(pub ErrorResponse);

/// The JSON API's rendering: a problem body (`application/problem+json`)
/// whose `instance` the request middleware fills in, or FastAPI's
/// validation body.
impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut response = match &self.detail {
            ProblemDetail::Issues(issues) => (
                self.status,
                Json(HTTPValidationError {
                    detail: issues.clone(),
                }),
            )
                .into_response(),
            ProblemDetail::Text(detail) => {
                let body = ErrorResponse {
                    problem_type: "about:blank".to_owned(),
                    title: self.title.clone(),
                    status: self.status.as_u16(),
                    detail: detail.clone(),
                    instance: String::new(),
                };
                let mut response = (self.status, Json(&body)).into_response();
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/problem+json"),
                );
                response.extensions_mut().insert(PendingProblem(body));
                response
            }
        };
        self.set_headers(&mut response);
        response
    }
}
