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
mod run_time;
mod search;
pub mod sqlite;

pub use phase_object::{DATA_FIELD, PhaseObject, PhaseStatus, SUCCESS_PATH};
pub use run_time::{phase_time, run_duration_ms};
pub use search::{
    DEFAULT_SEARCH_COUNT_LIMIT, MAX_RUN_IDS, RunOrder, RunPage, RunSearch, SortKey, StatusFilter,
    parse_run_ids,
};

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

/// 32 random bytes of the operating system's, for a key the run index
/// keeps.
///
/// # Errors
///
/// [`IndexError::Query`] (an I/O error) when the system has none to give.
pub(crate) fn random_key() -> Result<[u8; 32], IndexError> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key)
        .map_err(|e| IndexError::Query(sqlx::Error::Io(std::io::Error::other(e.to_string()))))?;
    Ok(key)
}

/// The cursor key as a backend read it: `None` when the run index has
/// none (a database of another tool, or of a dagtrail before schema
/// version 3, served without migrating: no table, or no row).
///
/// # Errors
///
/// [`IndexError::Query`] when the database fails otherwise.
pub(crate) fn cursor_key_of(
    found: Result<Option<Vec<u8>>, sqlx::Error>,
) -> Result<Option<Arc<[u8]>>, IndexError> {
    match found {
        Ok(key) => Ok(key.filter(|k| k.len() >= 32).map(Into::into)),
        // PostgreSQL's undefined_table; SQLite's "no such table".
        Err(sqlx::Error::Database(e))
            if e.code().as_deref() == Some("42P01") || e.message().contains("no such table") =>
        {
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
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
/// database is brought from 1; version 3 the runs' durations (filled the
/// same way), the index of searches across DAGs and the cursor key;
/// version 4 the text index of keyword searches.
pub const SCHEMA_VERSION: i32 = 4;

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
    /// The run's duration in milliseconds ([`run_duration_ms`] of its
    /// phases, stored when a phase is recorded; `None` until it has one,
    /// or for a run another tool wrote until `dagtrail migrate
    /// --rebuild-fleet`).
    pub duration_ms: Option<i64>,
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

/// The run index: search, read and record runs, always within one company.
#[async_trait]
pub trait RunIndex: Send + Sync + std::fmt::Debug + 'static {
    /// Which backend this is (`postgres` or `sqlite`), for logs and health.
    fn backend(&self) -> &'static str;

    /// Searches the runs of the DAGs `dag_ids` (contract 4.1; none: every
    /// DAG of the company), in the search's order, from its page or its
    /// keyset position.
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
        dag_ids: &[DagId],
        search: &RunSearch,
    ) -> Result<RunPage, IndexError>;

    /// The key cursors of run searches are signed with (32 random bytes
    /// made by the migration to schema version 3, kept in the run index so
    /// that every server of one database shares it); `None` when the run
    /// index has none (served unmigrated: no cursors then). A read each
    /// call: [`crate::read::ReadService`] keeps it.
    ///
    /// # Errors
    ///
    /// [`IndexError::Query`] when the database fails.
    async fn cursor_key(&self) -> Result<Option<Arc<[u8]>>, IndexError>;

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
    /// Where a migration's long steps (filling the text index) report how
    /// far they got: its length is set to the runs to go through. Hidden by
    /// default (the log has the progress too); `dagtrail migrate` draws it.
    pub progress: indicatif::ProgressBar,
}

impl Default for IndexOptions {
    fn default() -> Self {
        Self {
            migrate: true,
            acquire_timeout: std::time::Duration::from_secs(5),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            progress: indicatif::ProgressBar::hidden(),
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
    fn sqlite_timestamps_have_six_digits() {
        let at = DateTime::from_timestamp_micros(1_764_201_601_123_000).unwrap();
        assert_eq!(sqlite_timestamp(at), "2025-11-27T00:00:01.123000Z");
    }
}
