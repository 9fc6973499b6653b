//! `/metrics`: the process's metrics in the Prometheus text format, through
//! the `metrics` facade and `metrics-exporter-prometheus` (docs/DEPLOYMENT.md,
//! "Metrics", lists every name with example alerts). Counters and
//! histograms are recorded where things happen (requests here, store
//! requests in `artifacts::instrumented`, the cache in `read::cache`,
//! writes in `record`); gauges of pools and slots are read at scrape time.

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use super::AppState;

/// Requests answered, by `method`, `route` (the route's template, or
/// `unmatched`) and `status`.
pub const HTTP_REQUESTS: &str = "dagtrail_http_requests_total";
/// Time to answer a request (to its headers, for a stream), in seconds, by
/// `method` and `route`.
pub const HTTP_SECONDS: &str = "dagtrail_http_request_duration_seconds";
/// Run-index connections of this process, by `state` (`in_use`, `idle`).
pub const DB_CONNECTIONS: &str = "dagtrail_run_index_connections";
/// The most run-index connections this process may hold.
pub const DB_CONNECTIONS_MAX: &str = "dagtrail_run_index_connections_max";
/// NDJSON streams being served.
pub const NDJSON_STREAMS: &str = "dagtrail_ndjson_streams";
/// The most NDJSON streams served at once.
pub const NDJSON_STREAMS_MAX: &str = "dagtrail_ndjson_streams_max";
/// Bytes held by the footer and metadata cache.
pub const CACHE_BYTES: &str = "dagtrail_metadata_cache_bytes";

/// Latency buckets, in seconds: from a cached page to the request limit.
const SECONDS_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The process's recorder, installed on first use (the `metrics` facade
/// has one recorder per process); `None` when another was installed first.
fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets(&SECONDS_BUCKETS)
                .ok()?
                .install_recorder()
                .ok()
        })
        .as_ref()
}

/// Installs the recorder, so that what happens before the first scrape is
/// counted.
pub fn install() {
    let _ = handle();
}

/// Records one answered request.
pub fn record_request(method: &str, route: &str, status: u16, seconds: f64) {
    metrics::counter!(HTTP_REQUESTS, "method" => method.to_owned(), "route" => route.to_owned(), "status" => status.to_string()).increment(1);
    metrics::histogram!(HTTP_SECONDS, "method" => method.to_owned(), "route" => route.to_owned())
        .record(seconds);
}

/// `GET /metrics`.
pub async fn render(State(state): State<AppState>) -> Response {
    let pool = state.reads.run_index().pool_state();
    metrics::gauge!(DB_CONNECTIONS, "state" => "in_use")
        .set(f64::from(pool.size.saturating_sub(pool.idle)));
    metrics::gauge!(DB_CONNECTIONS, "state" => "idle").set(f64::from(pool.idle));
    metrics::gauge!(DB_CONNECTIONS_MAX).set(f64::from(pool.max));
    metrics::gauge!(NDJSON_STREAMS).set(state.streams.in_use() as f64);
    metrics::gauge!(NDJSON_STREAMS_MAX).set(state.streams.max() as f64);
    metrics::gauge!(CACHE_BYTES).set(state.reads.cache_bytes() as f64);
    let body = handle().map(PrometheusHandle::render).unwrap_or_default();
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}
