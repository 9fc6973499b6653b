//! The connection loop: hyper's HTTP/1.1 server with what `axum::serve`
//! does not offer: a header-read timeout, which is also the keep-alive idle
//! timeout, a write timeout, and a cap on open connections
//! (docs/DEPLOYMENT.md, "Connections").
//!
//! The loop is ours because those two settings are hyper's and the accept
//! loop's, below axum's router; everything else (parsing, keep-alive,
//! graceful shutdown of each connection) is hyper's and hyper-util's.
//!
//! HTTP/1.1 only, on purpose: hyper's header-read timer starts when a
//! connection opens, so a client that sends nothing is closed like one
//! that sends half a request. With HTTP/2 beside it (hyper-util's `auto`
//! builder, as `axum::serve` has), the bytes that tell the two apart are
//! read with no time limit, and a silent socket would hold its slot for
//! ever. Plain-text HTTP/2 (h2c) is what a balancer would speak to us, and
//! they speak HTTP/1.1 to backends by default.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// How long a client may take to send a request's headers by default, in
/// seconds (`DAGTRAIL_HEADER_TIMEOUT_SECS`).
pub const DEFAULT_HEADER_TIMEOUT_SECS: u64 = 30;
/// Connections open at once by default (`DAGTRAIL_MAX_CONNECTIONS`).
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// How long writing an answer may wait for the client to read by default,
/// in seconds (`DAGTRAIL_WRITE_TIMEOUT_SECS`).
pub const DEFAULT_WRITE_TIMEOUT_SECS: u64 = 30;

/// Open connections (a gauge).
pub const HTTP_CONNECTIONS: &str = "dagtrail_http_connections";
/// The most connections open at once (a gauge).
pub const HTTP_CONNECTIONS_MAX: &str = "dagtrail_http_connections_max";
/// Times the accept loop waited because every connection slot was taken (a
/// counter): new clients waited in the listen backlog meanwhile.
pub const HTTP_CONNECTIONS_SATURATED: &str = "dagtrail_http_connections_saturated_total";

/// What bounds the server's connections.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Time a connection has to send a request's headers, counted from its
    /// opening or from the end of its previous answer: it ends slow
    /// ("slowloris") clients and idle keep-alive connections alike (hyper
    /// runs one timer for both).
    pub header_timeout: Duration,
    /// Connections open at once; past it, new connections wait in the
    /// listen backlog until one closes.
    pub max_connections: usize,
    /// Time a write to a connection may wait for the client to read: a
    /// client that stops reading its answers (or pipelines requests and
    /// never reads them) loses the connection, where it held it for ever.
    pub write_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(DEFAULT_HEADER_TIMEOUT_SECS),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            write_timeout: Duration::from_secs(DEFAULT_WRITE_TIMEOUT_SECS),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops
/// accepting and lets in-flight requests finish for at most `grace`.
///
/// # Errors
///
/// None in practice: an error accepting a connection (such as too many
/// open files) is logged and retried after a second, as `axum::serve`
/// does, so the `io::Result` is only the signature's.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
    limits: ConnectionLimits,
) -> std::io::Result<()> {
    let max = limits.max_connections.max(1);
    let slots = Arc::new(Semaphore::new(max));
    metrics::gauge!(HTTP_CONNECTIONS_MAX).set(max as f64);
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let graceful = GracefulShutdown::new();
    let mut last_warned: Option<std::time::Instant> = None;
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let slot = match Arc::clone(&slots).try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                metrics::counter!(HTTP_CONNECTIONS_SATURATED).increment(1);
                // Once a minute at most: a server at its cap would
                // otherwise log at every connection that closes.
                if last_warned.is_none_or(|at| at.elapsed() >= Duration::from_secs(60)) {
                    last_warned = Some(std::time::Instant::now());
                    tracing::warn!(
                        max_connections = max,
                        "every connection slot is taken: new connections wait (DAGTRAIL_MAX_CONNECTIONS)"
                    );
                }
                tokio::select! {
                    slot = Arc::clone(&slots).acquire_owned() => match slot {
                        Ok(slot) => slot,
                        Err(_) => break,
                    },
                    () = &mut shutdown => break,
                }
            }
        };
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_failed(&error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Answers are small and latency matters more than packet count.
        let _ = stream.set_nodelay(true);
        let mut stream = tokio_io_timeout::TimeoutStream::new(stream);
        stream.set_write_timeout(Some(limits.write_timeout));
        let connection = builder.serve_connection(
            TokioIo::new(Box::pin(stream)),
            TowerToHyperService::new(app.clone()),
        );
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            metrics::gauge!(HTTP_CONNECTIONS).increment(1.0);
            if let Err(error) = connection.await {
                // A client that left or was timed out: worth a trace, not
                // an alarm.
                tracing::debug!(error = %error, "connection ended with an error");
            }
            metrics::gauge!(HTTP_CONNECTIONS).decrement(1.0);
            drop(slot);
        });
    }
    drop(listener);
    tracing::debug!("listener closed; waiting for open connections");
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace_secs = grace.as_secs(),
            "in-flight requests did not finish in time; stopping"
        );
    }
    Ok(())
}

/// Waits out a failed `accept`: a connection the peer reset before it was
/// accepted is nothing; anything else (too many open files, out of
/// buffers) is logged and retried after a second, so the process neither
/// spins nor exits.
async fn accept_failed(error: &std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %error, "cannot accept a connection; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
