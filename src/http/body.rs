//! Request bodies, read within time (issue 23): every body must keep to a
//! minimum rate once a grace period is over ([`MinRate`]), so that a client
//! trickling a byte every few seconds cannot hold a connection, a write
//! slot or a parser for as long as it likes; and a body refused before its
//! end is read on to its end for a while ([`Lingering`]), so that a client
//! still sending it sees the refusal instead of a reset connection.
//!
//! Why by hand: tower-http's `RequestBodyTimeoutLayer` times each frame,
//! which one byte every few seconds keeps alive; a rate over the whole
//! body (Apache's `mod_reqtimeout` rule: an initial time, extended by one
//! second per so many bytes) is a few lines over `http_body::Body`.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use http_body::Frame;

/// Seconds a body has before the rate counts, by default
/// (`DAGTRAIL_BODY_TIMEOUT_SECS`).
pub const DEFAULT_BODY_TIMEOUT_SECS: u64 = 20;
/// Bytes a second a body must keep to after that, by default
/// (`DAGTRAIL_BODY_MIN_RATE`).
pub const DEFAULT_BODY_MIN_RATE: u64 = 16 * 1024;
/// How long a body refused before its end is read on, at most.
pub const LINGER: Duration = Duration::from_secs(30);

/// What bounds the time of a request's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyRate {
    /// Time a body has before its rate counts.
    pub grace: Duration,
    /// Bytes a second it must keep to after that.
    pub min_rate: u64,
}

impl Default for BodyRate {
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(DEFAULT_BODY_TIMEOUT_SECS),
            min_rate: DEFAULT_BODY_MIN_RATE,
        }
    }
}

/// A body came slower than [`BodyRate`] allows.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "the request body came slower than {min_rate} bytes a second after its first {grace_secs} s ({received} bytes in {elapsed_secs} s)"
)]
pub struct BodyTooSlow {
    /// The rate required.
    pub min_rate: u64,
    /// The grace period, in seconds.
    pub grace_secs: u64,
    /// Bytes received.
    pub received: u64,
    /// Seconds it took.
    pub elapsed_secs: u64,
}

/// A request body that fails with [`BodyTooSlow`] when, `grace` after the
/// request began, it has delivered fewer than `min_rate` bytes for each
/// second since: its deadline starts at `grace` and moves one second on
/// for every `min_rate` bytes received.
pub struct MinRate {
    inner: Body,
    rate: BodyRate,
    started: Instant,
    received: u64,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl MinRate {
    /// `inner`, timed from now.
    pub fn new(inner: Body, rate: BodyRate) -> Self {
        let started = Instant::now();
        Self {
            inner,
            rate,
            started,
            received: 0,
            deadline: Box::pin(tokio::time::sleep(rate.grace)),
        }
    }

    fn next_deadline(&self) -> tokio::time::Instant {
        let earned =
            Duration::from_secs_f64(self.received as f64 / self.rate.min_rate.max(1) as f64);
        tokio::time::Instant::from_std(self.started + self.rate.grace + earned)
    }
}

impl http_body::Body for MinRate {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.received += data.len() as u64;
                    let deadline = this.next_deadline();
                    this.deadline.as_mut().reset(deadline);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(other) => Poll::Ready(other),
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(axum::Error::new(BodyTooSlow {
                    min_rate: this.rate.min_rate,
                    grace_secs: this.rate.grace.as_secs(),
                    received: this.received,
                    elapsed_secs: this.started.elapsed().as_secs(),
                })))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Middleware: every request's body under `rate`.
pub async fn limit_rate(
    axum::extract::State(rate): axum::extract::State<BodyRate>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let request = request.map(|body| Body::new(MinRate::new(body, rate)));
    next.run(request).await
}

/// Why a body could not be read whole.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// Past the route's limit, in bytes.
    #[error("the request body is over the limit of {0} bytes")]
    TooLarge(u64),
    /// Slower than the minimum rate.
    #[error(transparent)]
    TooSlow(BodyTooSlow),
    /// The client went away, or the connection failed.
    #[error("the request body could not be read: {0}")]
    Broken(String),
}

impl BodyError {
    /// What reading a body failed with.
    pub fn of(error: &(dyn std::error::Error + 'static)) -> Self {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(e) = cause {
            if let Some(slow) = e.downcast_ref::<BodyTooSlow>() {
                return BodyError::TooSlow(slow.clone());
            }
            cause = e.source();
        }
        BodyError::Broken(error.to_string())
    }
}

/// A body's stream of bytes that, dropped before its end, is read on to
/// its end in the background for at most [`LINGER`] (what `lingering
/// close` is to a web server): a client that sends a whole body before it
/// reads the answer (most do) would otherwise see its connection reset
/// instead of the refusal.
pub struct Lingering {
    stream: Option<axum::body::BodyDataStream>,
    ended: bool,
    runtime: Option<tokio::runtime::Handle>,
}

impl Lingering {
    /// `body`'s bytes.
    pub fn new(body: Body) -> Self {
        Self {
            stream: Some(body.into_data_stream()),
            ended: false,
            runtime: tokio::runtime::Handle::try_current().ok(),
        }
    }
}

impl futures::Stream for Lingering {
    type Item = Result<Bytes, axum::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let Some(stream) = this.stream.as_mut() else {
            return Poll::Ready(None);
        };
        let next = stream.poll_next_unpin(cx);
        if matches!(next, Poll::Ready(None) | Poll::Ready(Some(Err(_)))) {
            this.ended = true;
        }
        next
    }
}

impl Drop for Lingering {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        let (Some(mut stream), Some(runtime)) = (self.stream.take(), self.runtime.take()) else {
            return;
        };
        runtime.spawn(async move {
            let _ = tokio::time::timeout(LINGER, async {
                while let Some(Ok(_)) = stream.next().await {}
            })
            .await;
        });
    }
}

/// Reads a body whole, at most `limit` bytes; a body refused (past the
/// limit, or the caller's refusal after it) is read on to its end
/// ([`Lingering`]).
///
/// # Errors
///
/// [`BodyError`].
pub async fn read_bytes(body: Body, limit: usize) -> Result<Bytes, BodyError> {
    let mut stream = Lingering::new(body);
    let mut bytes = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| BodyError::of(&e))?;
        if bytes.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge(limit as u64));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes.freeze())
}
