//! NDJSON answers (endpoint 7 with `Accept: application/x-ndjson`,
//! contract 4.2): the negotiation and the streamed body.

use std::convert::Infallible;

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use tokio_util::sync::CancellationToken;

use super::AppState;
use super::error::ApiError;
use super::slots::Slot;

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

/// A response whose body is `lines`, one JSON object per line, holding
/// `slot` (of the server's NDJSON stream limits) until the stream ends or
/// the client leaves, or until the client has not taken what it was given
/// for `stall`: then the stream is cancelled (`cancel` ends its producer)
/// and the slot freed, so that a client that never reads holds neither a
/// slot nor the producer's buffers. A read failure mid-stream is logged
/// and cuts the body (the status is already sent).
pub fn stream(
    lines: impl Stream<Item = Result<Bytes, ReadError>> + Send + 'static,
    slot: Slot,
    cancel: CancellationToken,
    stall: Duration,
) -> Response {
    let held = Arc::new(Mutex::new(Some(slot)));
    let started = Instant::now();
    let millis = move || u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    // When the last chunk was handed to the client's connection and not
    // yet taken (0: none waiting for the client). A body that waits for
    // its producer (a slow store) is not a stalled client.
    let handed_at = Arc::new(AtomicU64::new(0));
    // Fused: a body may be polled again after its end (the compression
    // layer's reader does), which an unfold producer forbids.
    let mut lines = Box::pin(lines.fuse());
    let (body_held, body_handed) = (ReleaseOnDrop(Arc::clone(&held)), Arc::clone(&handed_at));
    let body = futures::stream::poll_fn(move |cx| {
        body_handed.store(0, Ordering::Relaxed);
        let polled = lines.as_mut().poll_next(cx);
        match &polled {
            Poll::Ready(Some(_)) => body_handed.store(millis().max(1), Ordering::Relaxed),
            Poll::Ready(None) => release(&body_held.0),
            Poll::Pending => {}
        }
        polled.map(|item| {
            item.map(|chunk| {
                chunk.map_err(|e| {
                    tracing::error!(error = %e, "log stream failed");
                    std::io::Error::other(e.to_string())
                })
            })
        })
    });
    tokio::spawn(async move {
        let stall_ms = u64::try_from(stall.as_millis()).unwrap_or(u64::MAX);
        loop {
            tokio::time::sleep((stall / 4).max(Duration::from_millis(50))).await;
            // The body was dropped (the client left) or has ended.
            let ended = held.lock().map_or(true, |slot| slot.is_none());
            if Arc::strong_count(&held) == 1 || ended {
                release(&held);
                return;
            }
            let at = handed_at.load(Ordering::Relaxed);
            if at != 0 && millis().saturating_sub(at) > stall_ms {
                tracing::warn!(
                    stall_secs = stall.as_secs_f64(),
                    "an NDJSON client stopped reading; its stream is ended and its slot freed"
                );
                release(&held);
                cancel.cancel();
                return;
            }
        }
    });
    let mut response = Body::from_stream(body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(NDJSON));
    vary_by_accept(response)
}

/// Frees the slot when the body is dropped (the client left, or the
/// response is gone), at once rather than at the watchdog's next look.
struct ReleaseOnDrop(Arc<Mutex<Option<Slot>>>);

impl Drop for ReleaseOnDrop {
    fn drop(&mut self) {
        release(&self.0);
    }
}

fn release(held: &Mutex<Option<Slot>>) {
    if let Ok(mut slot) = held.lock() {
        slot.take();
    }
}

/// Marks a response whose body depends on `Accept`, so that caches keep
/// the JSON page and the NDJSON stream apart.
pub fn vary_by_accept(mut response: Response) -> Response {
    response
        .headers_mut()
        .append(header::VARY, HeaderValue::from_static("accept"));
    response
}

/// Every log row `filter` keeps of the attempt `reader` opened, streamed
/// as NDJSON in `slot` of the streams' bound ([`AppState::stream_slot`]):
/// endpoint 7's NDJSON answer, and the run explorer's download.
///
/// # Errors
///
/// The attempt's read errors before the first byte, as [`ApiError`]s
/// (504 past the store's time limit).
pub async fn logs(
    state: &AppState,
    reader: &crate::read::AttemptReader,
    filter: crate::read::LogFilter,
    slot: Slot,
) -> Result<Response, ApiError> {
    let cancel = CancellationToken::new();
    let lines = state
        .timed(reader.logs_ndjson(filter, cancel.clone()))
        .await?;
    Ok(stream(lines, slot, cancel, state.limits.stream_stall))
}
