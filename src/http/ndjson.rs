//! NDJSON answers (endpoint 7 with `Accept: application/x-ndjson`,
//! contract 4.2): the negotiation and the streamed body.

use std::convert::Infallible;

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use tokio::sync::OwnedSemaphorePermit;

use crate::read::ReadError;

/// The NDJSON media type.
pub const NDJSON: &str = "application/x-ndjson";

/// Whether the request's `Accept` names NDJSON (any parameters, any
/// position in the list). Quality values are not weighed: a client that
/// names NDJSON at all wants the stream.
#[derive(Debug, Clone, Copy)]
pub struct AcceptsNdjson(pub bool);

impl<S: Send + Sync> FromRequestParts<S> for AcceptsNdjson {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let named = parts
            .headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|v| v.split(';').next())
            .any(|media| media.trim().eq_ignore_ascii_case(NDJSON));
        Ok(Self(named))
    }
}

/// A response whose body is `stream`, one JSON object per line, holding
/// `permit` (a slot of the server's NDJSON stream limit) until the stream
/// ends or the client leaves. A read failure mid-stream is logged and
/// cuts the body (the status is already sent).
pub fn stream(
    lines: impl Stream<Item = Result<Bytes, ReadError>> + Send + 'static,
    permit: OwnedSemaphorePermit,
) -> Response {
    let body = lines.map(move |chunk| {
        let _held = &permit;
        chunk.map_err(|e| {
            tracing::error!(error = %e, "log stream failed");
            std::io::Error::other(e.to_string())
        })
    });
    let mut response = Body::from_stream(body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(NDJSON));
    vary_by_accept(response)
}

/// Marks a response whose body depends on `Accept`, so that caches keep
/// the JSON page and the NDJSON stream apart.
pub fn vary_by_accept(mut response: Response) -> Response {
    response
        .headers_mut()
        .append(header::VARY, HeaderValue::from_static("accept"));
    response
}
