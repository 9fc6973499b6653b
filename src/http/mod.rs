//! The web core every surface shares (contract section 4): the server
//! loop, the shared state, the tenant extractor, parameter and body
//! extractors, NDJSON streaming, conditional requests, CORS, metrics, the
//! request log and the problem type. The surfaces stand beside it: the
//! JSON API ([`crate::api`]), its write routes ([`crate::api::write`]) and
//! the run explorer ([`crate::ui`]); [`crate::app`] assembles them under
//! one middleware stack.

pub mod auth;
pub mod body;
pub mod conditional;
pub mod cors;
pub mod error;
pub mod health;
pub mod metrics;
pub mod ndjson;
pub mod observe;
pub mod params;
pub mod problem;
pub mod server;
pub mod slots;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use self::body::{BodyRate, DEFAULT_BODY_MIN_RATE, DEFAULT_BODY_TIMEOUT_SECS};
pub use self::observe::Deadlines;
pub use self::server::{
    ConnectionLimits, DEFAULT_HEADER_TIMEOUT_SECS, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_WRITE_TIMEOUT_SECS, serve,
};

use self::error::ApiError;
use crate::auth::TokenVerifier;
use crate::read::{ReadError, ReadService};
use crate::runindex::DEFAULT_SEARCH_COUNT_LIMIT;

/// Widest run search by default, in days (`DAGTRAIL_MAX_DATE_RANGE_DAYS`).
pub const DEFAULT_MAX_DATE_RANGE_DAYS: u32 = 366;
/// Time limit of one request's work against the stores by default, in
/// seconds (`DAGTRAIL_TIMEOUT_SECS`).
pub const DEFAULT_TIMEOUT_SECS: u64 = 30;
/// NDJSON streams served at once by default (`DAGTRAIL_MAX_STREAMS`).
pub const DEFAULT_MAX_STREAMS: usize = 16;
/// NDJSON streams one company may hold at once by default
/// (`DAGTRAIL_MAX_STREAMS_PER_COMPANY`): half the process's.
pub const DEFAULT_MAX_STREAMS_PER_COMPANY: usize = DEFAULT_MAX_STREAMS / 2;
/// Deep searches (data keywords, log filters) run at once by default
/// (`DAGTRAIL_MAX_SEARCHES`): each scans row groups on every core.
pub const DEFAULT_MAX_SEARCHES: usize = 8;
/// Deep searches one company may run at once by default
/// (`DAGTRAIL_MAX_SEARCHES_PER_COMPANY`): half the process's.
pub const DEFAULT_MAX_SEARCHES_PER_COMPANY: usize = DEFAULT_MAX_SEARCHES / 2;
/// Uploads (parts and commits of the write API) run at once by default
/// (`DAGTRAIL_MAX_WRITES`): each decodes and encodes on a core, and reads
/// must keep the rest.
pub const DEFAULT_MAX_WRITES: usize = 4;
/// Uploads one company may run at once by default
/// (`DAGTRAIL_MAX_WRITES_PER_COMPANY`): half the process's.
pub const DEFAULT_MAX_WRITES_PER_COMPANY: usize = DEFAULT_MAX_WRITES / 2;
/// Bytes of one uploaded part at most by default
/// (`DAGTRAIL_MAX_PART_BYTES`): 1 GiB. Parts are streamed, not held in
/// memory: the limit bounds one request's time, not the server's memory.
pub const DEFAULT_MAX_PART_BYTES: u64 = 1024 * 1024 * 1024;
/// Time limit of a whole request by default (`DAGTRAIL_REQUEST_DEADLINE_SECS`),
/// in seconds: twice the store limit, for routes that ask the stores more
/// than once.
pub const DEFAULT_REQUEST_DEADLINE_SECS: u64 = 2 * DEFAULT_TIMEOUT_SECS;
/// Time limit of a part's upload or a commit by default
/// (`DAGTRAIL_UPLOAD_DEADLINE_SECS`), in seconds: a 1 GiB part must come
/// at 300 KB/s at least.
pub const DEFAULT_UPLOAD_DEADLINE_SECS: u64 = 3600;
/// How long an NDJSON stream may wait for its client to read by default
/// (`DAGTRAIL_STREAM_STALL_SECS`), in seconds; then it ends and frees its
/// slot.
pub const DEFAULT_STREAM_STALL_SECS: u64 = 30;

/// Limits of the service; `serve`'s settings default to [`Limits::default`]'s
/// values.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Widest run search, in days.
    pub max_date_range_days: u32,
    /// Time limit of one request's work against the stores.
    pub timeout: Duration,
    /// NDJSON streams served at once.
    pub max_streams: usize,
    /// NDJSON streams one company may hold at once.
    pub max_streams_per_company: usize,
    /// How long a stream waits for its client to read before it ends.
    pub stream_stall: Duration,
    /// Deep searches run at once.
    pub max_searches: usize,
    /// Deep searches one company may run at once.
    pub max_searches_per_company: usize,
    /// Matches a run search counts before it reports a lower bound
    /// (`None`: always count them all).
    pub search_count_limit: Option<u64>,
    /// Uploads (write API parts and commits) run at once.
    pub max_writes: usize,
    /// Uploads one company may run at once.
    pub max_writes_per_company: usize,
    /// Bytes of one uploaded part at most (then 413).
    pub max_part_bytes: u64,
    /// What bounds the memory of a part or an event as decoded.
    pub ingest: crate::ingest::IngestLimits,
    /// The rate a request body must keep to.
    pub body_rate: BodyRate,
    /// The time limits of whole requests.
    pub deadlines: Deadlines,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_date_range_days: DEFAULT_MAX_DATE_RANGE_DAYS,
            timeout: Duration::from_secs(DEFAULT_TIMEOUT_SECS),
            max_streams: DEFAULT_MAX_STREAMS,
            max_streams_per_company: DEFAULT_MAX_STREAMS_PER_COMPANY,
            stream_stall: Duration::from_secs(DEFAULT_STREAM_STALL_SECS),
            max_searches: DEFAULT_MAX_SEARCHES,
            max_searches_per_company: DEFAULT_MAX_SEARCHES_PER_COMPANY,
            search_count_limit: Some(DEFAULT_SEARCH_COUNT_LIMIT),
            max_writes: DEFAULT_MAX_WRITES,
            max_writes_per_company: DEFAULT_MAX_WRITES_PER_COMPANY,
            max_part_bytes: DEFAULT_MAX_PART_BYTES,
            ingest: crate::ingest::IngestLimits::default(),
            body_rate: BodyRate::default(),
            deadlines: Deadlines {
                request: Duration::from_secs(DEFAULT_REQUEST_DEADLINE_SECS),
                upload: Duration::from_secs(DEFAULT_UPLOAD_DEADLINE_SECS),
            },
        }
    }
}

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The read service.
    pub reads: ReadService,
    /// The token verifier.
    pub verifier: TokenVerifier,
    /// Limits.
    pub limits: Limits,
    /// Slots for concurrent NDJSON streams.
    pub streams: Arc<slots::Slots>,
    /// Slots for concurrent deep searches (data keywords, log filters).
    pub searches: Arc<slots::Slots>,
    /// Slots for concurrent uploads (the write API's parts and commits).
    pub writes: Arc<slots::Slots>,
    /// The writer of the write API, over the same run index and store as
    /// `reads`.
    pub recorder: crate::record::Recorder,
    /// Origins whose web apps may call the API from a browser (CORS);
    /// none by default.
    pub cors_origins: Vec<cors::Origin>,
    /// Whether the session cookie is always `Secure`
    /// (`DAGTRAIL_COOKIE_SECURE`); otherwise only when the proxy in front
    /// says the page came over HTTPS.
    pub cookie_secure: bool,
    /// Whether the write API takes writes (on by default); off, its
    /// routes answer 403 to every token, so a server may run under roles
    /// that can only read.
    pub write_api: bool,
}

impl AppState {
    /// Builds the state: `recorder` writes over the same run index and
    /// store as `reads` (its writer options set as `dagtrail serve`'s
    /// settings say).
    pub fn new(
        reads: ReadService,
        recorder: crate::record::Recorder,
        verifier: TokenVerifier,
        limits: Limits,
    ) -> Self {
        let streams = Arc::new(slots::Slots::new(
            limits.max_streams,
            limits.max_streams_per_company,
        ));
        let searches = Arc::new(slots::Slots::new(
            limits.max_searches,
            limits.max_searches_per_company,
        ));
        let writes = Arc::new(slots::Slots::new(
            limits.max_writes,
            limits.max_writes_per_company,
        ));
        Self {
            reads,
            verifier,
            limits,
            streams,
            searches,
            writes,
            recorder,
            cors_origins: Vec::new(),
            cookie_secure: false,
            write_api: true,
        }
    }

    /// The state with these bounds on staged attempts
    /// (`DAGTRAIL_MAX_OPEN_ATTEMPTS`, `DAGTRAIL_MAX_PARTS`).
    pub fn with_staging_limits(mut self, limits: crate::record::staging::StagingLimits) -> Self {
        self.recorder = self.recorder.with_staging_limits(limits);
        self
    }

    /// The state with the session cookie always `Secure`, or as the proxy
    /// says (`DAGTRAIL_COOKIE_SECURE`).
    pub fn with_cookie_secure(mut self, always: bool) -> Self {
        self.cookie_secure = always;
        self
    }

    /// The state with the write API on or off (`DAGTRAIL_WRITE_API`).
    pub fn with_write_api(mut self, on: bool) -> Self {
        self.write_api = on;
        self
    }

    /// The state with the origins whose web apps may call the API
    /// (`DAGTRAIL_CORS_ORIGINS`).
    pub fn with_cors_origins(mut self, origins: Vec<cors::Origin>) -> Self {
        self.cors_origins = origins;
        self
    }

    /// A slot for a deep search of `company`.
    ///
    /// # Errors
    ///
    /// [`ApiError::Busy`] (503 with `Retry-After`) when the company's share
    /// or the process's is taken: one tenant's searches must not slow
    /// every other tenant's requests.
    pub fn search_slot(&self, company: &crate::model::Company) -> Result<slots::Slot, ApiError> {
        take_slot(&self.searches, company, "searches")
    }

    /// A slot for an NDJSON stream of `company`.
    ///
    /// # Errors
    ///
    /// [`ApiError::Busy`] (503 with `Retry-After`) when the company's share
    /// of streams, or the process's, is taken.
    pub fn stream_slot(&self, company: &crate::model::Company) -> Result<slots::Slot, ApiError> {
        take_slot(&self.streams, company, "NDJSON streams")
    }

    /// A slot of the write API for `company`, so that uploads never take
    /// every worker from reads.
    ///
    /// # Errors
    ///
    /// [`ApiError::Busy`] (503 with `Retry-After`) when the company's share
    /// of uploads, or the process's, is taken.
    pub fn write_slot(&self, company: &crate::model::Company) -> Result<slots::Slot, ApiError> {
        take_slot(&self.writes, company, "uploads")
    }

    /// Runs a call against the stores within the time limit (then 504).
    ///
    /// # Errors
    ///
    /// [`ApiError::Timeout`] when `work` takes longer than
    /// [`Limits::timeout`]; otherwise `work`'s [`ReadError`], as its
    /// [`ApiError`].
    pub async fn timed<T>(
        &self,
        work: impl Future<Output = Result<T, ReadError>>,
    ) -> Result<T, ApiError> {
        match tokio::time::timeout(self.limits.timeout, work).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(ApiError::Timeout(self.limits.timeout.as_secs())),
        }
    }
}

/// A slot of `slots` for `company`, or the 503 that says which kind of
/// work (`what`) is at its bound.
fn take_slot(
    slots: &slots::Slots,
    company: &crate::model::Company,
    what: &str,
) -> Result<slots::Slot, ApiError> {
    slots.try_take(company).ok_or_else(|| {
        ApiError::Busy(format!(
            "too many {what} at once (for this company or in all); retry later"
        ))
    })
}
