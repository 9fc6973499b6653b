//! The run index ("PVT", contract section 2): one row per run, one JSON
//! object per reported phase. One trait, [`RunIndex`], with a module per
//! backend: [`postgres`] (production) and [`sqlite`] (the embedded default).
//!
//! Every method takes the [`Company`] explicitly: there is no way to query
//! across tenants.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

use crate::model::{Company, DagId, Phase, RunRef};

pub mod fleet;
pub mod keyword;
mod phase_object;
pub mod postgres;
pub mod sqlite;

pub use phase_object::{DATA_FIELD, PhaseObject, PhaseStatus, SUCCESS_PATH};

/// Most `run_ids` a search may name (contract 4.1).
pub const MAX_RUN_IDS: usize = 100;

/// Matches a run search counts by default before it reports a lower
/// bound: enough for 50 pages of 20, and cheap even when most of a
/// million runs match (see docs/PERFORMANCE.md). PostgreSQL's search
/// collects this many matching keys first, so up to here the count costs
/// nothing more.
pub const DEFAULT_SEARCH_COUNT_LIMIT: u64 = 1_000;

/// Time a query waited for a connection of the pool, in seconds (a
/// histogram; docs/DEPLOYMENT.md, "Metrics").
pub const POOL_WAIT_SECONDS: &str = "dagtrail_run_index_connection_wait_seconds";

/// Takes a connection of `pool`, recording how long that waited.
///
/// # Errors
///
/// The pool's error: `PoolTimedOut` past its wait (see
/// [`RunIndex::diagnose`]), or the connection's refusal.
async fn timed_acquire<DB: sqlx::Database>(
    pool: &sqlx::Pool<DB>,
) -> Result<sqlx::pool::PoolConnection<DB>, sqlx::Error> {
    let started = std::time::Instant::now();
    let conn = pool.acquire().await;
    metrics::histogram!(POOL_WAIT_SECONDS).record(started.elapsed().as_secs_f64());
    conn
}

/// A run-index operation failed.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The database URL names no backend we have.
    #[error("unsupported database URL {0:?}: use postgres://... or sqlite://<path>")]
    UnsupportedUrl(String),
    /// The database refused or failed a query (or could not be reached).
    #[error("run index query failed: {}", Described(.0))]
    Query(#[from] sqlx::Error),
    /// The database role may not read the run index.
    #[error(
        "this database role may not read the run index ({}); grant it the rights of \
         dagtrail_reader or dagtrail_writer in deploy/postgres-roles.sql",
        Described(.0)
    )]
    NotPermitted(sqlx::Error),
    /// A stored row does not follow the contract.
    #[error("run index row is invalid: {0}")]
    InvalidRow(String),
    /// No connection to the database could be opened while the query
    /// waited for one (sqlx reports it as "pool timed out"; this says why).
    #[error("cannot connect to the run index: {0}")]
    Unreachable(String),
    /// Every connection of this process's pool was in use for the whole
    /// wait: the database answers, this process is saturated.
    #[error(
        "every run-index connection of this process ({max}) stayed in use while the query waited \
         for one; raise DAGTRAIL_DB_MAX_CONNECTIONS or add servers"
    )]
    Busy {
        /// The pool's size (`DAGTRAIL_DB_MAX_CONNECTIONS`).
        max: u32,
    },
    /// The schema is older than this dagtrail needs, and the database
    /// role may not bring it up to date.
    #[error(
        "the run index's schema is at version {found} and this dagtrail needs {needed}, \
         but this database role may not change it ({}); run `dagtrail migrate` \
         with a role that may create tables there, then start again",
        Described(cause)
    )]
    SchemaBehind {
        /// The version found (0: none recorded).
        found: i32,
        /// [`SCHEMA_VERSION`].
        needed: i32,
        /// The database's refusal.
        cause: sqlx::Error,
    },
}

/// The run index schema this dagtrail reads and writes. Each migration that
/// changes the schema raises it; a server checks the version recorded in
/// the database first and runs DDL only when it is behind, so a role that
/// may only read and write rows can serve a migrated database. Version 2
/// added the fleet tables ([`fleet`]), filled from the runs when a
/// database is brought from 1.
pub const SCHEMA_VERSION: i32 = 2;

/// A database error as the database words it, without the position in
/// the database's own source code that sqlx appends (`at line 3655`).
pub(crate) struct Described<'a>(pub(crate) &'a sqlx::Error);

impl std::fmt::Display for Described<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            sqlx::Error::Database(e) => write!(f, "error returned from database: {}", e.message()),
            other => write!(f, "{other}"),
        }
    }
}

/// The result of migrating from schema version `found`: a refusal for
/// lack of a privilege (PostgreSQL's `42501`; SQLite's read-only file,
/// code 8) becomes [`IndexError::SchemaBehind`], which names the way out.
pub(crate) fn behind_if_refused(
    found: i32,
    migrated: Result<(), IndexError>,
) -> Result<(), IndexError> {
    match migrated {
        Err(IndexError::Query(cause)) if permission_denied(&cause) => {
            Err(IndexError::SchemaBehind {
                found,
                needed: SCHEMA_VERSION,
                cause,
            })
        }
        other => other,
    }
}

pub(crate) fn permission_denied(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(e) => matches!(e.code().as_deref(), Some("42501" | "8")),
        _ => false,
    }
}

/// A status filter of contract 4.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatusFilter {
    /// No filter.
    #[default]
    All,
    /// `status.success` is true.
    Success,
    /// `status.success` is false.
    Failed,
    /// The phase is absent or `status.success` is null.
    Pending,
}

impl std::str::FromStr for StatusFilter {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "all" => Ok(Self::All),
            "success" => Ok(Self::Success),
            "failed" => Ok(Self::Failed),
            "pending" => Ok(Self::Pending),
            _ => Err("must be one of all, success, failed, pending".to_owned()),
        }
    }
}

/// The order of a run search's pages (`sort=`): by run date (the
/// contract's order, the default), or by when runs were first recorded;
/// ties by the other, then by `run_id`, in the same direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RunOrder {
    /// `-date`: newest run date first (the contract's order).
    #[default]
    DateDesc,
    /// `date`: oldest run date first.
    DateAsc,
    /// `-created_at`: most recently created first.
    CreatedDesc,
    /// `created_at`: first created first.
    CreatedAsc,
}

impl RunOrder {
    /// From the `sort` parameter's value.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "-date" => Some(Self::DateDesc),
            "date" => Some(Self::DateAsc),
            "-created_at" => Some(Self::CreatedDesc),
            "created_at" => Some(Self::CreatedAsc),
            _ => None,
        }
    }

    /// The `ORDER BY` list, its columns prefixed with `table` (`"l."` or
    /// `""`).
    pub(crate) fn sql(self, table: &str) -> String {
        let (first, second, direction) = match self {
            Self::DateDesc => ("date", "created_at", "DESC"),
            Self::DateAsc => ("date", "created_at", "ASC"),
            Self::CreatedDesc => ("created_at", "date", "DESC"),
            Self::CreatedAsc => ("created_at", "date", "ASC"),
        };
        format!(
            "{table}{first} {direction}, {table}{second} {direction}, {table}run_id {direction}"
        )
    }

    /// Whether the newest-first index gives this order (read forwards or
    /// backwards), so a page can walk it instead of sorting the matches.
    pub(crate) fn follows_the_date_index(self) -> bool {
        matches!(self, Self::DateDesc | Self::DateAsc)
    }
}

/// A run search (contract 4.1), already validated.
#[derive(Debug, Clone)]
pub struct RunSearch {
    /// First partition date, inclusive.
    pub date_from: NaiveDate,
    /// Last partition date, inclusive.
    pub date_to: NaiveDate,
    /// Status filters of the three ETL steps; several for one phase match
    /// any of them (`extract_status=failed,pending`).
    pub statuses: Vec<(Phase, StatusFilter)>,
    /// Run-level statuses ([`fleet::RunStatus`]); several match any of
    /// them; empty: no filter.
    pub run_statuses: Vec<fleet::RunStatus>,
    /// Runs first recorded at or after this time.
    pub created_from: Option<DateTime<Utc>>,
    /// Runs first recorded at or before this time.
    pub created_to: Option<DateTime<Utc>>,
    /// Runs with a phase recorded at or after this time (for clients that
    /// poll).
    pub updated_since: Option<DateTime<Utc>>,
    /// Keyword filters, one per phase at most; literal, case-insensitive.
    pub keywords: Vec<(Phase, String)>,
    /// Allowlist of run ids (empty: no allowlist).
    pub run_ids: Vec<String>,
    /// The order of the pages.
    pub order: RunOrder,
    /// 0-based page.
    pub page: u32,
    /// Page size, in runs.
    pub limit: u32,
    /// Count matches at least up to here, then stop (`None`: count them
    /// all). Past it the page's `total` is a lower bound: an exact count
    /// rechecks every matching run, which over a million runs takes seconds.
    pub count_limit: Option<u64>,
}

impl RunSearch {
    /// A search over a date range with no other filter, first page of 20.
    pub fn new(date_from: NaiveDate, date_to: NaiveDate) -> Self {
        Self {
            date_from,
            date_to,
            statuses: Vec::new(),
            run_statuses: Vec::new(),
            created_from: None,
            created_to: None,
            updated_since: None,
            keywords: Vec::new(),
            run_ids: Vec::new(),
            order: RunOrder::default(),
            page: 0,
            limit: 20,
            count_limit: None,
        }
    }

    /// Row offset of the page.
    pub fn offset(&self) -> i64 {
        i64::from(self.page) * i64::from(self.limit)
    }

    /// The status filters that actually filter, grouped by phase (a
    /// phase's filters match any of them; a phase with `all` among them
    /// is not filtered).
    pub(crate) fn active_statuses(&self) -> Vec<(Phase, Vec<StatusFilter>)> {
        let mut groups: Vec<(Phase, Vec<StatusFilter>)> = Vec::new();
        for (phase, filter) in &self.statuses {
            match groups.iter_mut().find(|(p, _)| p == phase) {
                Some((_, filters)) => filters.push(*filter),
                None => groups.push((*phase, vec![*filter])),
            }
        }
        groups.retain(|(_, filters)| !filters.contains(&StatusFilter::All));
        groups
    }

    /// Keywords that actually filter (not empty).
    pub(crate) fn active_keywords(&self) -> impl Iterator<Item = (Phase, &str)> + '_ {
        self.keywords
            .iter()
            .filter(|(_, k)| !k.is_empty())
            .map(|(p, k)| (*p, k.as_str()))
    }
}

/// Cleans a `run_ids` parameter: entries trimmed, empty ones and
/// duplicates dropped, order kept.
pub fn parse_run_ids(raw: &str) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .filter(|s| seen.insert(*s))
        .map(str::to_owned)
        .collect()
}

/// One run as search results and the run summary show it: the phase
/// objects without their inline `data` rows.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    /// The DAG.
    pub dag_id: DagId,
    /// Partition date.
    pub date: NaiveDate,
    /// Airflow run id.
    pub run_id: String,
    /// When the run was first recorded.
    pub created_at: DateTime<Utc>,
    /// When a phase was last recorded.
    pub updated_at: DateTime<Utc>,
    /// The phase objects (without `data`), `None` for phases not reported.
    pub phases: PhaseObjects,
}

/// The four phase objects of a run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PhaseObjects {
    /// `log.event`
    pub event: Option<PhaseObject>,
    /// `log.extract`
    pub extract: Option<PhaseObject>,
    /// `log.transform`
    pub transform: Option<PhaseObject>,
    /// `log.load`
    pub load: Option<PhaseObject>,
}

impl PhaseObjects {
    /// The object of one phase.
    pub fn get(&self, phase: Phase) -> Option<&PhaseObject> {
        self.slot(phase).as_ref()
    }

    /// The object of one phase, to change.
    pub fn get_mut(&mut self, phase: Phase) -> Option<&mut PhaseObject> {
        self.slot_mut(phase).as_mut()
    }

    /// Sets one phase's object.
    pub fn set(&mut self, phase: Phase, object: PhaseObject) {
        *self.slot_mut(phase) = Some(object);
    }

    fn slot(&self, phase: Phase) -> &Option<PhaseObject> {
        match phase {
            Phase::Event => &self.event,
            Phase::Extract => &self.extract,
            Phase::Transform => &self.transform,
            Phase::Load => &self.load,
        }
    }

    fn slot_mut(&mut self, phase: Phase) -> &mut Option<PhaseObject> {
        match phase {
            Phase::Event => &mut self.event,
            Phase::Extract => &mut self.extract,
            Phase::Transform => &mut self.transform,
            Phase::Load => &mut self.load,
        }
    }
}

/// A page of search results and the number of runs matching in all.
#[derive(Debug, Clone, PartialEq)]
pub struct RunPage {
    /// The runs of the requested page, newest first.
    pub items: Vec<RunSummary>,
    /// Runs matching the filters, over all pages (a lower bound when
    /// `total_exact` is false).
    pub total: u64,
    /// Whether `total` is the exact count (false: counting stopped at the
    /// search's `count_limit`).
    pub total_exact: bool,
    /// Whether a later page holds more runs (known from the page query,
    /// which fetches one run more than the page, not from the count).
    pub has_more: bool,
}

impl RunPage {
    /// The page from the rows the page query returned (up to `limit + 1`)
    /// and the count: exact when `counted_up_to` is `None` or not
    /// exceeded, else a count that stopped past `counted_up_to`.
    pub(crate) fn new(
        mut items: Vec<RunSummary>,
        counted: i64,
        counted_up_to: Option<u64>,
        search: &RunSearch,
    ) -> Self {
        let limit = usize::try_from(search.limit).unwrap_or(usize::MAX);
        let has_more = items.len() > limit;
        items.truncate(limit);
        let counted = u64::try_from(counted).unwrap_or(0);
        let (total, total_exact) = match counted_up_to {
            Some(cap) if counted > cap => {
                // The runs up to the end of a non-empty page are known to
                // match, even past the cap.
                let seen = match items.len() {
                    0 => 0,
                    n => u64::try_from(search.offset()).unwrap_or(0) + n as u64,
                };
                (cap.max(seen), false)
            }
            _ => (counted, true),
        };
        Self {
            items,
            total,
            total_exact,
            has_more,
        }
    }
}

/// The run index: search, read and record runs, always within one company.
#[async_trait]
pub trait RunIndex: Send + Sync + std::fmt::Debug + 'static {
    /// Which backend this is (`postgres` or `sqlite`), for logs and health.
    fn backend(&self) -> &'static str;

    /// Searches the runs of one DAG (contract 4.1), newest first.
    ///
    /// # Errors
    ///
    /// [`IndexError::Query`] when the database fails;
    /// [`IndexError::InvalidRow`] when a stored row breaks the contract (a
    /// `dag_id`, date or timestamp that does not parse, or a phase that is
    /// not JSON; SQLite only: PostgreSQL's typed columns cannot hold them).
    async fn search_runs(
        &self,
        company: &Company,
        dag_id: DagId,
        search: &RunSearch,
    ) -> Result<RunPage, IndexError>;

    /// One run's summary, or `None` when the company has no such run.
    ///
    /// # Errors
    ///
    /// [`IndexError::Query`] when the database fails;
    /// [`IndexError::InvalidRow`] when a stored row breaks the contract (a
    /// `dag_id`, date or timestamp that does not parse, or a phase that is
    /// not JSON; SQLite only: PostgreSQL's typed columns cannot hold them).
    async fn get_run(
        &self,
        company: &Company,
        run: &RunRef,
    ) -> Result<Option<RunSummary>, IndexError>;

    /// One phase's full object, inline `data` rows included.
    ///
    /// # Errors
    ///
    /// [`IndexError::Query`] when the database fails;
    /// [`IndexError::InvalidRow`] when the stored phase is not JSON (SQLite
    /// only). A JSON null reads as `None`; other JSON as leniently as
    /// [`PhaseObject::from_json`] reads it.
    async fn phase_object(
        &self,
        company: &Company,
        run: &RunRef,
        phase: Phase,
    ) -> Result<Option<PhaseObject>, IndexError>;

    /// Records one phase of a run: creates the run's row if needed, sets
    /// `log.<phase>` to `object` and `updated_at` to `at`, in one statement,
    /// so that concurrent writers of different phases never lose each
    /// other's phase.
    ///
    /// # Errors
    ///
    /// [`IndexError::Query`] when the database fails.
    async fn record_phase(
        &self,
        company: &Company,
        run: &RunRef,
        phase: Phase,
        object: &PhaseObject,
        at: DateTime<Utc>,
    ) -> Result<(), IndexError>;

    /// Sets a DAG's catalog entry (name, description, tags, owner),
    /// creating its row in the fleet table when it has none: the fields
    /// given (`Some`, tags when not empty) replace, the others are kept;
    /// its runs and counts are left as they are.
    ///
    /// # Errors
    ///
    /// [`IndexError::Query`] when the database fails.
    async fn record_dag(
        &self,
        company: &Company,
        dag_id: DagId,
        info: &fleet::DagInfo,
    ) -> Result<(), IndexError>;

    /// Every DAG of `company` that has runs or a catalog entry, with its
    /// newest run, runs and failed runs since `query.since`, and its last
    /// failure; filtered and ordered as `query` says.
    ///
    /// # Errors
    ///
    /// [`IndexError::Query`] when the database fails;
    /// [`IndexError::InvalidRow`] when a stored row breaks the schema
    /// (SQLite only).
    async fn list_dags(
        &self,
        company: &Company,
        query: &fleet::DagQuery,
    ) -> Result<Vec<fleet::DagEntry>, IndexError>;

    /// Runs and failed runs per run date of one DAG, from `from` to `to`
    /// inclusive, only days with runs, oldest first.
    ///
    /// # Errors
    ///
    /// [`IndexError::Query`] when the database fails;
    /// [`IndexError::InvalidRow`] when a stored date does not parse
    /// (SQLite only).
    async fn calendar(
        &self,
        company: &Company,
        dag_id: DagId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<fleet::DayCount>, IndexError>;

    /// Rebuilds the fleet tables from the runs (what a migration from
    /// version 1 does; `dagtrail migrate --rebuild-fleet` after runs were
    /// written by a dagtrail that did not keep them), in one transaction;
    /// catalog entries are kept.
    ///
    /// # Errors
    ///
    /// [`IndexError::Query`] when the database fails;
    /// [`IndexError::InvalidRow`] when a stored row breaks the contract
    /// (SQLite only).
    async fn rebuild_fleet(&self) -> Result<(), IndexError>;

    /// Whether `company` has the DAG (runs or a catalog entry).
    ///
    /// # Errors
    ///
    /// [`IndexError::Query`] when the database fails.
    async fn dag_known(&self, company: &Company, dag_id: DagId) -> Result<bool, IndexError>;

    /// Checks that the database answers.
    ///
    /// # Errors
    ///
    /// [`IndexError::Query`] when it does not.
    async fn ping(&self) -> Result<(), IndexError>;

    /// The connection pool's state now (for `/metrics`).
    fn pool_state(&self) -> PoolState;

    /// Says why a query failed when its error does not: a "pool timed
    /// out" becomes [`IndexError::Busy`] when a connection of its own
    /// opens now (every pooled one was in use), else
    /// [`IndexError::Unreachable`] with the database's refusal. Other
    /// errors come back as they are.
    async fn diagnose(&self, error: IndexError) -> IndexError {
        error
    }
}

/// A run-index connection pool's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolState {
    /// Connections open (in use or idle).
    pub size: u32,
    /// Connections open and idle.
    pub idle: u32,
    /// The most connections the pool opens.
    pub max: u32,
}

/// Connections a run-index pool holds at most unless configured.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 10;

/// Settings for opening the run index.
#[derive(Debug, Clone)]
pub struct IndexOptions {
    /// Bring the schema up to [`SCHEMA_VERSION`] when it is behind (no DDL
    /// runs when it is current).
    pub migrate: bool,
    /// Longest wait for a connection from the pool (then the call fails).
    pub acquire_timeout: std::time::Duration,
    /// Most connections held open.
    pub max_connections: u32,
}

impl Default for IndexOptions {
    fn default() -> Self {
        Self {
            migrate: true,
            acquire_timeout: std::time::Duration::from_secs(5),
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// A database URL fit for messages and logs: its password (also in the
/// query, `password=`/`sslpassword=`) replaced by `***`; a URL that does
/// not parse shows only its scheme, since its password cannot be found
/// (an unencoded `@` or `/` in it, say).
pub fn redact_url(url: &str) -> String {
    let unreadable = || {
        let scheme = url.split_once(':').map_or("", |(s, _)| s);
        format!("{scheme}://<unparseable URL, not shown>")
    };
    let Ok(mut parsed) = url::Url::parse(url) else {
        return unreadable();
    };
    if parsed.cannot_be_a_base() {
        return unreadable();
    }
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some("***"));
    }
    let secret =
        |k: &str| k.eq_ignore_ascii_case("password") || k.eq_ignore_ascii_case("sslpassword");
    if parsed.query_pairs().any(|(k, _)| secret(&k)) {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(k, v)| {
                let v = if secret(&k) {
                    "***".to_owned()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string()
}

/// Opens the backend that `url` names (`postgres://`, `postgresql://` or
/// `sqlite://`), running migrations when `options.migrate` is set.
///
/// # Errors
///
/// [`IndexError::UnsupportedUrl`] for any other scheme; otherwise as
/// [`postgres::PostgresIndex::connect`] or [`sqlite::SqliteIndex::connect`].
pub async fn open(url: &str, options: &IndexOptions) -> Result<Arc<dyn RunIndex>, IndexError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(
            postgres::PostgresIndex::connect(url, options).await?,
        ))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteIndex::connect(url, options).await?))
    } else {
        Err(IndexError::UnsupportedUrl(redact_url(url)))
    }
}

/// Renders a timestamp the way the SQLite table stores it: RFC 3339 UTC
/// with exactly six fractional digits.
pub fn sqlite_timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_are_redacted_whole() {
        assert_eq!(
            redact_url("postgres://app:hunter2@db:5432/runs"),
            "postgres://app:***@db:5432/runs"
        );
        // An unencoded `@` in the password: the last `@` ends it.
        assert!(!redact_url("postgres://app:hun@ter2@db/runs").contains("hun"));
        assert!(!redact_url("postgres://app:a/b@db/runs").contains("a/b"));
        let query = redact_url("postgres://app@db/runs?sslmode=require&password=hunter2");
        assert!(
            query.contains("sslmode=require") && !query.contains("hunter2"),
            "{query}"
        );
        assert!(!redact_url("nonsense:hunter2@").contains("hunter2"));
    }

    #[test]
    fn run_ids_are_trimmed_and_deduplicated() {
        assert_eq!(parse_run_ids(" a, b,,a , c ,"), vec!["a", "b", "c"]);
        assert!(parse_run_ids(" , ").is_empty());
    }

    #[test]
    fn sqlite_timestamps_have_six_digits() {
        let at = DateTime::from_timestamp_micros(1_764_201_601_123_000).unwrap();
        assert_eq!(sqlite_timestamp(at), "2025-11-27T00:00:01.123000Z");
    }
}
