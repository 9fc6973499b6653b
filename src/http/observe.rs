//! Request ids and one structured log line per request (method, route,
//! status, latency, company, request id); problem bodies get their
//! `instance` here, where the request path is known.

use std::time::Instant;

use axum::Json;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;
use tower::layer::util::Stack;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

use super::auth::TenantSlot;
use super::error::PendingProblem;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest `X-Request-Id` taken from a client, in bytes.
pub const MAX_REQUEST_ID_BYTES: usize = 128;

/// Drops a client's `X-Request-Id` that is longer than
/// [`MAX_REQUEST_ID_BYTES`] or holds anything but ASCII letters, digits and
/// `-_.:`: logged as it is, such a value could forge fields of another
/// request's line (`x company=globex`). The next layer makes a new id.
pub async fn drop_unfit_request_id(mut request: Request) -> Request {
    let fit = request.headers().get(REQUEST_ID).is_none_or(|id| {
        id.len() <= MAX_REQUEST_ID_BYTES
            && id
                .as_bytes()
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
    });
    if !fit {
        request.headers_mut().remove(REQUEST_ID);
    }
    request
}

/// Takes `X-Request-Id` from the request or makes one, and echoes it.
pub fn request_id_layers() -> ServiceBuilder<
    Stack<
        PropagateRequestIdLayer,
        Stack<SetRequestIdLayer<MakeRequestUuid>, tower::layer::util::Identity>,
    >,
> {
    ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
}

/// The methods HTTP defines (RFC 9110 section 9, PATCH, and QUERY, the
/// safe method with a body that clients and test tools begin to send):
/// routed, so that one a route does not take is its 405. Any other (hyper
/// takes any token as a method) is 501 before routing, and is counted as
/// `OTHER`: a label or log field a client can set to anything would grow
/// `/metrics` and the logs without bound (20,000 random methods grew
/// `/metrics` from 482 to 360,500 lines).
const METHODS: [Method; 9] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
    Method::TRACE,
    Method::CONNECT,
];

/// Characters of the request path a log line keeps at most.
const LOGGED_PATH_CHARS: usize = 512;
/// Characters of a problem's detail a log line keeps at most.
const LOGGED_DETAIL_CHARS: usize = 1024;

/// `text` cut to `max` characters, marked when cut.
fn bounded(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// The request's time limit: a route that reads an upload's body or
/// commits one gets [`Deadlines::upload`], every other
/// [`Deadlines::request`] (to its answer's head: a stream's body is timed
/// by its stall limit). Past it the client gets a 503 and the work is
/// dropped.
pub async fn deadline(
    axum::extract::State(deadlines): axum::extract::State<Deadlines>,
    request: Request,
    next: Next,
) -> Response {
    let upload = request
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|m| m.as_str().ends_with("/{kind}/{part}") || m.as_str().ends_with("/commit"));
    let (limit, setting) = if upload {
        (deadlines.upload, "DAGTRAIL_UPLOAD_DEADLINE_SECS")
    } else {
        (deadlines.request, "DAGTRAIL_REQUEST_DEADLINE_SECS")
    };
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => super::error::ApiError::Deadline {
            secs: limit.as_secs(),
            setting,
        }
        .into_response(),
    }
}

/// The time limits of whole requests ([`deadline`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// Every route but uploads.
    pub request: std::time::Duration,
    /// A part's upload and a commit.
    pub upload: std::time::Duration,
}

/// Logs the request and completes problem bodies.
pub async fn observe(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let known = METHODS.contains(request.method()) || request.method().as_str() == "QUERY";
    let method = if known {
        request.method().as_str().to_owned()
    } else {
        "OTHER".to_owned()
    };
    let path = bounded(request.uri().path(), LOGGED_PATH_CHARS);
    let matched = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    // Metrics take the template (bounded), never the path itself.
    let route_label = matched.clone().unwrap_or_else(|| "unmatched".to_owned());
    let route = matched.unwrap_or_else(|| path.clone());
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let slot = TenantSlot::default();
    request.extensions_mut().insert(slot.clone());
    let mut response = if known {
        next.run(request).await
    } else {
        super::error::ApiError::MethodNotImplemented.into_response()
    };
    // What a client was told, kept for the log line (a 401's reason, say).
    let mut detail = String::from("-");
    if let Some(PendingProblem(mut body)) = response.extensions_mut().remove::<PendingProblem>() {
        body.instance = path;
        detail = bounded(&body.detail, LOGGED_DETAIL_CHARS);
        let status = response.status();
        let headers = response.headers().clone();
        response = (status, Json(body)).into_response();
        for (name, value) in &headers {
            if name != header::CONTENT_LENGTH {
                response.headers_mut().insert(name.clone(), value.clone());
            }
        }
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
    }
    let status = response.status().as_u16();
    let elapsed = started.elapsed().as_secs_f64();
    super::metrics::record_request(&method, &route_label, status, elapsed);
    let latency_ms = significant(elapsed * 1000.0, 3);
    let company = slot.0.get().map(String::as_str).unwrap_or("-");
    if status >= 500 {
        tracing::warn!(%method, route = %route, status, latency_ms, company, request_id = %request_id, detail = %detail, "request");
    } else {
        tracing::info!(%method, route = %route, status, latency_ms, company, request_id = %request_id, detail = %detail, "request");
    }
    response
}

/// `value` rounded to `digits` significant digits (`3.9569` → `3.96`), so
/// that log lines carry what is meaningful, not float noise.
fn significant(value: f64, digits: i32) -> f64 {
    if value == 0.0 || !value.is_finite() {
        return value;
    }
    let scale = 10f64.powi(digits - 1 - value.abs().log10().floor() as i32);
    (value * scale).round() / scale
}

/// The answer to a handler that panicked: a 500 problem body, the panic
/// logged (a bug, never expected).
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(panic = %message, "handler panicked");
    let body = super::error::ErrorResponse {
        problem_type: "about:blank".to_owned(),
        title: "Internal error".to_owned(),
        status: 500,
        detail: "the server failed to handle this request; it has been logged".to_owned(),
        instance: String::new(),
    };
    let mut response = (
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        Json(body.clone()),
    )
        .into_response();
    response.extensions_mut().insert(PendingProblem(body));
    response
}

#[cfg(test)]
mod tests {
    use super::significant;

    #[test]
    fn latencies_keep_three_significant_digits() {
        assert_eq!(significant(3.956_921_000_000_000_4, 3), 3.96);
        assert_eq!(significant(123.456, 3), 123.0);
        assert_eq!(significant(0.012_345, 3), 0.0123);
        assert_eq!(significant(0.0, 3), 0.0);
        assert_eq!(significant(1234.5, 3), 1230.0);
    }
}
