//! The object store every dagtrail process talks to, instrumented: each
//! request is counted per operation, and its errors and latency recorded,
//! as Prometheus metrics (`dagtrail_store_*`, docs/DEPLOYMENT.md
//! "Metrics"), and per instance ([`InstrumentedStore::counts`]) for the
//! tests and the benchmark that check how many round trips an API call
//! costs.
//!
//! `get_ranges` is deliberately not forwarded: the trait's default
//! implementation coalesces the ranges (as the S3 client does) and issues
//! one `get_opts` per merged range, so each counted GET is one request a
//! remote store would see.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use async_trait::async_trait;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result,
};

/// Requests to the store, by `op` (`get`, `head`, `list`, `put`, `delete`, `copy`).
pub const STORE_REQUESTS: &str = "dagtrail_store_requests_total";
/// Failed requests to the store, by `op` (a missing object included).
pub const STORE_ERRORS: &str = "dagtrail_store_errors_total";
/// Time to the store's answer (its first byte for a GET), in seconds, by `op`.
pub const STORE_SECONDS: &str = "dagtrail_store_request_duration_seconds";
/// Bytes put in single requests (multipart uploads are not counted).
pub const STORE_BYTES_PUT: &str = "dagtrail_store_put_bytes_total";

/// Request counts so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestCounts {
    /// GET requests (ranged or whole).
    pub gets: u64,
    /// HEAD requests.
    pub heads: u64,
    /// LIST requests.
    pub lists: u64,
    /// PUT, COPY, RENAME and DELETE requests.
    pub writes: u64,
}

impl RequestCounts {
    /// Every read request.
    pub fn reads(&self) -> u64 {
        self.gets + self.heads + self.lists
    }
}

#[derive(Debug, Default)]
struct Counters {
    gets: AtomicU64,
    heads: AtomicU64,
    lists: AtomicU64,
    writes: AtomicU64,
}

/// Counts and times the requests made through it to the inner store.
#[derive(Debug, Clone)]
pub struct InstrumentedStore {
    inner: Arc<dyn ObjectStore>,
    counters: Arc<Counters>,
}

impl InstrumentedStore {
    /// Wraps a store.
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        Self {
            inner,
            counters: Arc::default(),
        }
    }

    /// The counts so far.
    pub fn counts(&self) -> RequestCounts {
        RequestCounts {
            gets: self.counters.gets.load(Ordering::Relaxed),
            heads: self.counters.heads.load(Ordering::Relaxed),
            lists: self.counters.lists.load(Ordering::Relaxed),
            writes: self.counters.writes.load(Ordering::Relaxed),
        }
    }

    /// Sets every count back to zero.
    pub fn reset(&self) {
        for c in [
            &self.counters.gets,
            &self.counters.heads,
            &self.counters.lists,
            &self.counters.writes,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }

    fn count(&self, counter: &AtomicU64, op: &'static str) {
        counter.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(STORE_REQUESTS, "op" => op).increment(1);
    }

    /// Records how a timed request ended.
    fn timed<T>(op: &'static str, started: Instant, result: Result<T>) -> Result<T> {
        metrics::histogram!(STORE_SECONDS, "op" => op).record(started.elapsed().as_secs_f64());
        if result.is_err() {
            metrics::counter!(STORE_ERRORS, "op" => op).increment(1);
        }
        result
    }
}

impl fmt::Display for InstrumentedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.inner)
    }
}

#[async_trait]
impl ObjectStore for InstrumentedStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.count(&self.counters.writes, "put");
        metrics::counter!(STORE_BYTES_PUT).increment(payload.content_length() as u64);
        let started = Instant::now();
        Self::timed(
            "put",
            started,
            self.inner.put_opts(location, payload, opts).await,
        )
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.count(&self.counters.writes, "put");
        let started = Instant::now();
        Self::timed(
            "put",
            started,
            self.inner.put_multipart_opts(location, opts).await,
        )
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let op = if options.head {
            self.count(&self.counters.heads, "head");
            "head"
        } else {
            self.count(&self.counters.gets, "get");
            "get"
        };
        let started = Instant::now();
        Self::timed(op, started, self.inner.get_opts(location, options).await)
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.count(&self.counters.writes, "delete");
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.count(&self.counters.lists, "list");
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        self.count(&self.counters.lists, "list");
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.count(&self.counters.lists, "list");
        let started = Instant::now();
        Self::timed(
            "list",
            started,
            self.inner.list_with_delimiter(prefix).await,
        )
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.count(&self.counters.writes, "copy");
        let started = Instant::now();
        Self::timed(
            "copy",
            started,
            self.inner.copy_opts(from, to, options).await,
        )
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.count(&self.counters.writes, "copy");
        let started = Instant::now();
        Self::timed(
            "copy",
            started,
            self.inner.rename_opts(from, to, options).await,
        )
    }
}
