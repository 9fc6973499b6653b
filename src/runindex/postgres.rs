//! The run index on PostgreSQL: table `etl.logs` (contract section 2).

use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection as _, PgPool, Row};
use uuid::Uuid;

use super::fleet::{DagEntry, DagInfo, DagQuery, DayCount};
use super::{
    DATA_FIELD, IndexError, IndexOptions, PhaseObject, PhaseObjects, PoolState, RunIndex, RunPage,
    RunSearch, RunSummary, SCHEMA_VERSION, behind_if_refused, permission_denied,
};
use crate::model::{Company, DagId, Phase, RunRef};

mod fleet;
mod migrate;
mod search;

pub use migrate::FILL_BATCH;
use migrate::{MIGRATION_LOCK, migrate_on, recorded_version};
pub use search::match_keys;

/// Selects a run's columns with each phase object stripped of its inline
/// rows ([`DATA_FIELD`]).
static SUMMARY_COLUMNS: LazyLock<String> = LazyLock::new(|| {
    let phases = Phase::ALL.map(|p| format!("{} AS {p}", phase_without_data("log", p)));
    format!(
        "dag_id, date, run_id, created_at, updated_at, duration_ms, {}",
        phases.join(", ")
    )
});

/// `<log>-><phase>` without its inline rows. `jsonb - text` raises "cannot
/// delete from scalar" on anything but an object or array, and a phase
/// written by another tool may be JSON null or a scalar: those are read
/// as they are (and read leniently by `PhaseObject::from_json`).
pub(crate) fn phase_without_data(log: &str, phase: Phase) -> String {
    format!(
        "CASE WHEN jsonb_typeof({log}->'{phase}') = 'object' THEN ({log}->'{phase}') - '{DATA_FIELD}' ELSE {log}->'{phase}' END"
    )
}

/// The PostgreSQL backend.
#[derive(Debug, Clone)]
pub struct PostgresIndex {
    pool: PgPool,
    /// The last diagnosis of a query that got no connection (`None`: a
    /// connection opened, so the pool was busy; else why none opens), and
    /// when it was made. Held while a diagnosis runs, so that during an
    /// outage one attempt at a time is made, and at most one per
    /// [`DIAGNOSIS_REUSED_FOR`].
    diagnosis: Arc<tokio::sync::Mutex<Option<Diagnosis>>>,
    /// What `etl.logs` holds, once known ([`PostgresIndex::shape`]).
    shape: Arc<tokio::sync::OnceCell<Shape>>,
    /// Where a migration reports how far it got ([`IndexOptions::progress`]).
    progress: indicatif::ProgressBar,
}

/// What `etl.logs` holds beyond the contract's columns.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Where runs are read from.
    source: &'static str,
    /// Whether the phases' text columns are there and filled (version 4
    /// recorded: a migration records it last).
    texts: bool,
}

/// When a diagnosis was made, and why no connection opened then (`None`:
/// one did).
type Diagnosis = (Instant, Option<String>);

/// How long a diagnosis of an unreachable database is reused.
const DIAGNOSIS_REUSED_FOR: Duration = Duration::from_secs(5);
/// The longest the diagnosing connection may take; also at most half the
/// pool's wait, so that the wait and the diagnosis stay within the request
/// limit that the wait was sized to (half of it).
const DIAGNOSIS_TIMEOUT: Duration = Duration::from_secs(1);

impl PostgresIndex {
    /// A connection of the pool, its wait recorded.
    async fn conn(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Postgres>, sqlx::Error> {
        super::timed_acquire(&self.pool).await
    }

    /// Connects (lazily: a database that is down now may come back later)
    /// and migrates when asked.
    ///
    /// # Errors
    ///
    /// [`IndexError::Query`] when the URL is malformed or, with
    /// `options.migrate`, the database cannot be reached or the migration
    /// fails.
    pub async fn connect(url: &str, options: &IndexOptions) -> Result<Self, IndexError> {
        let connect: PgConnectOptions = url.parse()?;
        // Name the connections in pg_stat_activity, unless the URL does.
        let connect = match connect.get_application_name() {
            Some(_) => connect,
            None => connect.application_name("dagtrail"),
        };
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            .connect_lazy_with(connect);
        let index = Self {
            pool,
            diagnosis: Arc::default(),
            shape: Arc::default(),
            progress: options.progress.clone(),
        };
        if options.migrate {
            index.ensure_schema().await?;
        }
        Ok(index)
    }

    /// Why a query got no connection: `None` when a connection of its own
    /// opens now (the pool was busy, not the database gone), else why none
    /// opens, in the database's (or the network's) words.
    async fn why_no_connection(&self) -> Option<String> {
        let mut last = self.diagnosis.lock().await;
        if let Some((at, why)) = last.as_ref()
            && at.elapsed() < DIAGNOSIS_REUSED_FOR
        {
            return why.clone();
        }
        let limit = DIAGNOSIS_TIMEOUT.min(self.pool.options().get_acquire_timeout() / 2);
        let attempt = tokio::time::timeout(
            limit,
            sqlx::PgConnection::connect_with(&self.pool.connect_options()),
        )
        .await;
        let why = match attempt {
            Ok(Ok(conn)) => {
                let _ = conn.close().await;
                None
            }
            Ok(Err(e)) => Some(super::Described(&e).to_string()),
            Err(_) => Some(format!(
                "no answer to a connection attempt within {} ms",
                limit.as_millis()
            )),
        };
        *last = Some((Instant::now(), why.clone()));
        why
    }

    /// The schema version recorded in the database (0 when none is: a
    /// database from before versions were recorded, or an empty one).
    ///
    /// # Errors
    ///
    /// [`IndexError::Query`] when the database cannot be reached or
    /// refuses the read.
    pub async fn schema_version(&self) -> Result<i32, IndexError> {
        match recorded_version(&mut *self.conn().await?).await {
            Ok(version) => Ok(version),
            Err(e) if permission_denied(&e) => Err(IndexError::NotPermitted(e)),
            Err(e) => Err(e.into()),
        }
    }

    /// Migrates only when the recorded schema is behind [`SCHEMA_VERSION`].
    ///
    /// # Errors
    ///
    /// [`IndexError::SchemaBehind`] when it is behind and this role may not
    /// migrate; [`IndexError::Query`] when the database fails otherwise.
    pub async fn ensure_schema(&self) -> Result<(), IndexError> {
        let found = self.schema_version().await?;
        if found >= SCHEMA_VERSION {
            return Ok(());
        }
        behind_if_refused(found, self.migrate().await)
    }

    /// What `etl.logs` holds beyond the contract's columns, asked once: a
    /// table of another tool, or of a dagtrail before version 3 or 4,
    /// served with `DAGTRAIL_MIGRATE=false`, lacks durations or texts.
    ///
    /// # Errors
    ///
    /// The database's, when it cannot be asked.
    pub async fn shape(&self) -> Result<Shape, sqlx::Error> {
        self.shape
            .get_or_try_init(|| async {
                let mut conn = self.conn().await?;
                let (duration, columns): (bool, bool) = sqlx::query_as(
                    "SELECT count(*) FILTER (WHERE column_name = 'duration_ms') > 0, \
                            count(*) FILTER (WHERE column_name = 'extract_text') > 0 \
                     FROM information_schema.columns \
                     WHERE table_schema = 'etl' AND table_name = 'logs'",
                )
                .fetch_one(&mut *conn)
                .await?;
                // Columns being filled by a migration under way are not
                // searched yet: runs without their text would be missed.
                let texts = columns && recorded_version(&mut conn).await? >= 4;
                Ok(Shape {
                    source: if duration {
                        "etl.logs"
                    } else {
                        "(SELECT *, NULL::bigint AS duration_ms FROM etl.logs)"
                    },
                    texts,
                })
            })
            .await
            .copied()
    }

    /// What searches and summaries read runs from: `etl.logs`, or, when
    /// it has no `duration_ms`, the table with durations unknown.
    async fn runs_source(&self) -> Result<&'static str, sqlx::Error> {
        Ok(self.shape().await?.source)
    }

    /// The connection pool (for tests and tools that need raw SQL).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Brings the schema to [`SCHEMA_VERSION`] without blocking readers:
    /// the DDL in one short transaction; version 3's fleet and durations
    /// rebuilt with writers waiting; version 4's phase texts filled in
    /// batches of [`FILL_BATCH`] runs, each its own transaction; every
    /// index of `etl.logs` built by `CREATE INDEX CONCURRENTLY` (readers and
    /// writers go on); the version recorded last, so a migration cut short
    /// is taken up again by the next one. Progress goes to the log and to
    /// `progress` (its length set to the runs to fill).
    ///
    /// # Errors
    ///
    /// [`IndexError::Query`] when the database cannot be reached or the
    /// migration SQL fails.
    pub async fn migrate(&self) -> Result<(), IndexError> {
        // A connection of its own, outside the pool: the session's
        // migration lock goes with it, whatever fails.
        let mut conn = sqlx::PgConnection::connect_with(&self.pool.connect_options()).await?;
        let migrated = migrate_on(&mut conn, &self.progress).await;
        let _ = conn.close().await;
        migrated
    }
}

fn summary_from_row(row: &sqlx::postgres::PgRow) -> Result<RunSummary, IndexError> {
    let dag: Uuid = row.try_get("dag_id")?;
    let phase = |name: &str| -> Result<Option<PhaseObject>, IndexError> {
        let v: Option<Value> = row.try_get(name)?;
        Ok(v.as_ref().and_then(PhaseObject::from_json))
    };
    Ok(RunSummary {
        dag_id: DagId(dag),
        date: row.try_get::<NaiveDate, _>("date")?,
        run_id: row.try_get("run_id")?,
        created_at: row.try_get::<DateTime<Utc>, _>("created_at")?,
        updated_at: row.try_get::<DateTime<Utc>, _>("updated_at")?,
        duration_ms: row.try_get("duration_ms")?,
        phases: PhaseObjects {
            event: phase("event")?,
            extract: phase("extract")?,
            transform: phase("transform")?,
            load: phase("load")?,
        },
    })
}

#[async_trait]
impl RunIndex for PostgresIndex {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn search_runs(
        &self,
        company: &Company,
        dag_ids: &[DagId],
        search: &RunSearch,
    ) -> Result<RunPage, IndexError> {
        self.search(company, dag_ids, search).await
    }

    async fn cursor_key(&self) -> Result<Option<Arc<[u8]>>, IndexError> {
        let found = sqlx::query_scalar("SELECT key FROM etl.dagtrail_keys WHERE name = 'cursor'")
            .fetch_optional(&mut *self.conn().await?)
            .await;
        super::cursor_key_of(found)
    }

    async fn get_run(
        &self,
        company: &Company,
        run: &RunRef,
    ) -> Result<Option<RunSummary>, IndexError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM {} AS r \
             WHERE id_company = $1 AND dag_id = $2 AND date = $3 AND run_id = $4",
            *SUMMARY_COLUMNS,
            self.runs_source().await?
        )))
        .bind(company.as_str())
        .bind(run.dag_id.0)
        .bind(run.date)
        .bind(run.run_id.as_str())
        .fetch_optional(&mut *self.conn().await?)
        .await?;
        row.as_ref().map(summary_from_row).transpose()
    }

    async fn phase_object(
        &self,
        company: &Company,
        run: &RunRef,
        phase: Phase,
    ) -> Result<Option<PhaseObject>, IndexError> {
        let value: Option<Option<Value>> = sqlx::query_scalar(
            "SELECT log->$5 FROM etl.logs \
             WHERE id_company = $1 AND dag_id = $2 AND date = $3 AND run_id = $4",
        )
        .bind(company.as_str())
        .bind(run.dag_id.0)
        .bind(run.date)
        .bind(run.run_id.as_str())
        .bind(phase.as_str())
        .fetch_optional(&mut *self.conn().await?)
        .await?;
        Ok(value.flatten().as_ref().and_then(PhaseObject::from_json))
    }

    async fn record_phase(
        &self,
        company: &Company,
        run: &RunRef,
        phase: Phase,
        object: &PhaseObject,
        at: DateTime<Utc>,
    ) -> Result<(), IndexError> {
        self.record_phase_and_fleet(company, run, phase, object, at)
            .await
    }

    async fn record_dag(
        &self,
        company: &Company,
        dag_id: DagId,
        info: &DagInfo,
    ) -> Result<(), IndexError> {
        self.record_dag_info(company, dag_id, info).await
    }

    async fn list_dags(
        &self,
        company: &Company,
        query: &DagQuery,
    ) -> Result<Vec<DagEntry>, IndexError> {
        self.dags_of(company, query).await
    }

    async fn calendar(
        &self,
        company: &Company,
        dag_id: DagId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DayCount>, IndexError> {
        self.days_of(company, dag_id, from, to).await
    }

    async fn rebuild_fleet(&self) -> Result<(), IndexError> {
        let mut tx = sqlx::Transaction::begin(self.conn().await?, None).await?;
        // One rebuild at a time, and none beside a migration.
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await?;
        // Writers wait meanwhile, so that no count is lost between the
        // read of the runs and the write of the sums.
        sqlx::query("LOCK TABLE etl.logs IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await?;
        fleet::rebuild(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn dag_known(&self, company: &Company, dag_id: DagId) -> Result<bool, IndexError> {
        self.knows_dag(company, dag_id).await
    }

    async fn ping(&self) -> Result<(), IndexError> {
        // An idle connection of the pool when there is one; otherwise a
        // connection of its own, so that a database that refuses
        // connections says so at once ("Connection refused") instead of
        // after the pool's wait as "pool timed out".
        if let Some(mut conn) = self.pool.try_acquire() {
            sqlx::query("SELECT 1").execute(&mut *conn).await?;
            return Ok(());
        }
        let mut conn = sqlx::PgConnection::connect_with(&self.pool.connect_options()).await?;
        sqlx::query("SELECT 1").execute(&mut conn).await?;
        let _ = conn.close().await;
        Ok(())
    }

    async fn diagnose(&self, error: IndexError) -> IndexError {
        if !matches!(error, IndexError::Query(sqlx::Error::PoolTimedOut)) {
            return error;
        }
        // The pool's own counts cannot tell: connections being opened (and
        // retried while the database refuses) count as in use.
        match self.why_no_connection().await {
            None => IndexError::Busy {
                max: self.pool.options().get_max_connections(),
            },
            Some(why) => IndexError::Unreachable(why),
        }
    }

    fn pool_state(&self) -> PoolState {
        PoolState {
            size: self.pool.size(),
            idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
            max: self.pool.options().get_max_connections(),
        }
    }
}
