//! The run index on SQLite: table `etl_logs` (contract section 2), the
//! embedded default. A file written by another tool that follows the
//! contract is served as it is.

use std::str::FromStr;
use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};

use super::fleet::{DagEntry, DagInfo, DagQuery, DayCount};
use super::{
    DATA_FIELD, IndexError, IndexOptions, PhaseObject, PhaseObjects, PoolState, RunIndex, RunPage,
    RunSearch, RunSummary, SCHEMA_VERSION, behind_if_refused,
};
use crate::model::{Company, DagId, Phase, RunRef};

mod fleet;
mod search;
mod text;

use search::{push_after, push_filters, status_indexes};

const MIGRATION: &str = include_str!("migrations/sqlite.sql");

/// Selects a run's columns with each phase object stripped of its inline
/// rows ([`DATA_FIELD`]).
static SUMMARY_COLUMNS: LazyLock<String> = LazyLock::new(|| {
    let phases =
        Phase::ALL.map(|p| format!("json_remove(log -> '$.{p}', '$.{DATA_FIELD}') AS {p}"));
    format!(
        "dag_id, date, run_id, created_at, updated_at, duration_ms, {}",
        phases.join(", ")
    )
});

/// The SQLite backend.
#[derive(Debug, Clone)]
pub struct SqliteIndex {
    pool: SqlitePool,
    /// What the file holds, once known ([`SqliteIndex::shape`]).
    shape: std::sync::Arc<tokio::sync::OnceCell<Shape>>,
    /// Where the text index's fill reports how far it got
    /// ([`IndexOptions::progress`]).
    progress: indicatif::ProgressBar,
}

/// What a run-index file holds beyond the contract's table.
#[derive(Debug, Clone, Copy)]
struct Shape {
    /// Where runs are read from ([`SqliteIndex::runs_source`]).
    source: &'static str,
    /// Whether the text index (schema version 4) is there.
    text_index: bool,
}

impl SqliteIndex {
    /// A connection of the pool, its wait recorded.
    async fn conn(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Sqlite>, sqlx::Error> {
        super::timed_acquire(&self.pool).await
    }

    /// Opens (creating the file and its folder when missing) and migrates
    /// when asked.
    ///
    /// # Errors
    ///
    /// [`IndexError::Query`] when the URL is malformed, the file's folder
    /// cannot be created, the database cannot be opened, or the migration
    /// fails.
    pub async fn connect(url: &str, options: &IndexOptions) -> Result<Self, IndexError> {
        let connect = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Writers wait for each other instead of failing with SQLITE_BUSY.
            .busy_timeout(Duration::from_secs(10))
            .with_regexp();
        if let Some(parent) = connect.get_filename().parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(|e| IndexError::Query(sqlx::Error::Io(e)))?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await?;
        let index = Self {
            pool,
            shape: Default::default(),
            progress: options.progress.clone(),
        };
        if options.migrate {
            index.ensure_schema().await?;
        }
        Ok(index)
    }

    /// Migrates only when the recorded schema is behind [`SCHEMA_VERSION`]
    /// (0 when none is recorded).
    ///
    /// # Errors
    ///
    /// [`IndexError::SchemaBehind`] when it is behind and the file is read
    /// only; [`IndexError::Query`] when the database fails otherwise.
    pub async fn ensure_schema(&self) -> Result<(), IndexError> {
        let found =
            sqlx::query_scalar::<_, Option<i32>>("SELECT max(version) FROM dagtrail_schema")
                .fetch_one(&mut *self.conn().await?)
                .await;
        let found = match found {
            Ok(version) => version.unwrap_or(0),
            Err(sqlx::Error::Database(e)) if e.message().contains("no such table") => 0,
            Err(e) => return Err(e.into()),
        };
        if found >= SCHEMA_VERSION {
            // Runs another tool wrote since, or a fill cut short: indexed
            // now when this process may write (a read-only file is served
            // as it is: those runs stay candidates of every keyword).
            if let Err(e) = self.fill_text_index().await {
                tracing::warn!(error = %e, "cannot add runs to the text index; searches still find them, more slowly");
            }
            return Ok(());
        }
        behind_if_refused(found, self.migrate().await)
    }

    /// What the file holds, asked once: a file of another tool served as
    /// it is has neither durations nor the text index.
    async fn shape(&self) -> Result<Shape, sqlx::Error> {
        self.shape
            .get_or_try_init(|| async {
                let mut conn = self.conn().await?;
                let duration = has_column(&mut conn, "duration_ms").await?;
                let text_id = has_column(&mut conn, "text_id").await?;
                let text_table: bool = sqlx::query_scalar(
                    "SELECT count(*) > 0 FROM sqlite_master WHERE name = 'etl_logs_text'",
                )
                .fetch_one(&mut *conn)
                .await?;
                Ok(Shape {
                    source: if duration {
                        "etl_logs"
                    } else {
                        "(SELECT *, NULL AS duration_ms FROM etl_logs)"
                    },
                    text_index: text_id && text_table,
                })
            })
            .await
            .copied()
    }

    /// What searches and summaries read runs from: `etl_logs`, or, when
    /// it has no `duration_ms`, the table with durations unknown.
    async fn runs_source(&self) -> Result<&'static str, sqlx::Error> {
        Ok(self.shape().await?.source)
    }

    /// The connection pool (for tests and tools that need raw SQL).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Creates the table and index when missing.
    ///
    /// # Errors
    ///
    /// [`IndexError::Query`] when the migration SQL fails.
    pub async fn migrate(&self) -> Result<(), IndexError> {
        // The write lock first: two processes starting at once would
        // otherwise both read, then one fail to upgrade its lock.
        let mut tx = sqlx::Transaction::begin(
            self.conn().await?,
            Some(sqlx::SqlSafeStr::into_sql_str("BEGIN IMMEDIATE")),
        )
        .await?;
        sqlx::raw_sql(MIGRATION).execute(&mut *tx).await?;
        let found: Option<i32> = sqlx::query_scalar("SELECT max(version) FROM dagtrail_schema")
            .fetch_one(&mut *tx)
            .await?;
        // SQLite has no ADD COLUMN IF NOT EXISTS.
        for (column, sql_type) in [("duration_ms", "INTEGER"), ("text_id", "INTEGER")] {
            if !has_column(&mut tx, column).await? {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "ALTER TABLE etl_logs ADD COLUMN {column} {sql_type}"
                )))
                .execute(&mut *tx)
                .await?;
            }
        }
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE UNIQUE INDEX IF NOT EXISTS etl_logs_text_id ON etl_logs (text_id); {}",
            text::TRIGGERS
        )))
        .execute(&mut *tx)
        .await?;
        // Version 4 brought the text index (filled below, after this
        // transaction) and the status indexes.
        for index in status_indexes() {
            sqlx::raw_sql(sqlx::AssertSqlSafe(index))
                .execute(&mut *tx)
                .await?;
        }
        // Version 2 brought the fleet tables, version 3 the durations:
        // filled from the runs once.
        if found.unwrap_or(0) < 3 {
            fleet::rebuild(&mut tx).await?;
        }
        let key: [u8; 32] = super::random_key()?;
        sqlx::query("INSERT OR IGNORE INTO dagtrail_keys (name, key) VALUES ('cursor', ?1)")
            .bind(&key[..])
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT OR IGNORE INTO dagtrail_schema (version) VALUES (?1)")
            .bind(SCHEMA_VERSION)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.fill_text_index().await?;
        Ok(())
    }

    /// Indexes every run the text index lacks, in batches of their own
    /// transactions (writers and readers go on between them), with
    /// progress in the log; an interrupted fill is taken up again by the
    /// next start. Returns how many runs were indexed.
    ///
    /// # Errors
    ///
    /// [`IndexError::Query`] when the database fails.
    pub async fn fill_text_index(&self) -> Result<u64, IndexError> {
        let mut done: u64 = 0;
        let mut started = false;
        loop {
            // Asked by a read first: most starts have nothing to index and
            // need not wait for another process's write lock.
            let unindexed: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM etl_logs WHERE text_id IS NULL)")
                    .fetch_one(&mut *self.conn().await?)
                    .await?;
            if !unindexed {
                break;
            }
            if !started {
                started = true;
                let todo: i64 =
                    sqlx::query_scalar("SELECT count(*) FROM etl_logs WHERE text_id IS NULL")
                        .fetch_one(&mut *self.conn().await?)
                        .await?;
                tracing::info!(runs = todo, "building the run index's text index");
                self.progress.set_length(u64::try_from(todo).unwrap_or(0));
                self.progress.set_position(0);
                self.progress.set_message("text index");
            }
            let mut tx = sqlx::Transaction::begin(
                self.conn().await?,
                Some(sqlx::SqlSafeStr::into_sql_str("BEGIN IMMEDIATE")),
            )
            .await?;
            let indexed = text::index_batch(&mut tx).await?;
            tx.commit().await?;
            if indexed == 0 {
                break;
            }
            let before = done;
            done += indexed;
            self.progress.set_position(done);
            if done / 100_000 > before / 100_000 {
                tracing::info!(runs = done, "building the run index's text index");
            }
        }
        if done > 0 {
            tracing::info!(runs = done, "runs added to the run index's text index");
        }
        Ok(done)
    }
}

/// Whether `etl_logs` has `column` (another tool's file may lack ours).
async fn has_column(conn: &mut sqlx::SqliteConnection, column: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) > 0 FROM pragma_table_info('etl_logs') WHERE name = ?1")
        .bind(column)
        .fetch_one(conn)
        .await
}

fn invalid(what: &str, value: &str) -> IndexError {
    IndexError::InvalidRow(format!("{what} {value:?} does not follow the contract"))
}

fn timestamp(row: &SqliteRow, column: &str) -> Result<DateTime<Utc>, IndexError> {
    let text: String = row.try_get(column)?;
    DateTime::parse_from_rfc3339(&text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| invalid(column, &text))
}

fn summary_from_row(row: &SqliteRow) -> Result<RunSummary, IndexError> {
    let dag: String = row.try_get("dag_id")?;
    let date: String = row.try_get("date")?;
    let phase = |name: &str| -> Result<Option<PhaseObject>, IndexError> {
        let text: Option<String> = row.try_get(name)?;
        let value = text
            .map(|t| serde_json::from_str::<Value>(&t).map_err(|_| invalid(name, &t)))
            .transpose()?;
        Ok(value.as_ref().and_then(PhaseObject::from_json))
    };
    Ok(RunSummary {
        dag_id: dag.parse().map_err(|_| invalid("dag_id", &dag))?,
        date: NaiveDate::parse_from_str(&date, "%Y-%m-%d").map_err(|_| invalid("date", &date))?,
        run_id: row.try_get("run_id")?,
        created_at: timestamp(row, "created_at")?,
        updated_at: timestamp(row, "updated_at")?,
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
impl RunIndex for SqliteIndex {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn search_runs(
        &self,
        company: &Company,
        dag_ids: &[DagId],
        search: &RunSearch,
    ) -> Result<RunPage, IndexError> {
        // The text index narrows a keyword to its candidates, unless they
        // are many (see text::MOST_CANDIDATES).
        let narrowed = match text::query(search) {
            Some(fts) if self.shape().await?.text_index => {
                let candidates = text::candidates(&mut *self.conn().await?, &fts).await?;
                (candidates <= text::MOST_CANDIDATES).then_some(fts)
            }
            _ => None,
        };
        let narrow = |q: &mut QueryBuilder<Sqlite>| {
            if let Some(fts) = &narrowed {
                q.push(text::CANDIDATES_SQL)
                    .push_bind(fts.clone())
                    .push(text::CANDIDATES_END);
            }
        };
        let mut count = QueryBuilder::new("SELECT count(*) FROM (SELECT 1 FROM etl_logs");
        push_filters(&mut count, company, dag_ids, search);
        narrow(&mut count);
        if let Some(cap) = search.count_limit {
            count
                .push(" LIMIT ")
                .push_bind(i64::try_from(cap.saturating_add(1)).unwrap_or(i64::MAX));
        }
        count.push(")");
        let mut page = QueryBuilder::new(format!(
            "SELECT {} FROM {} AS r",
            *SUMMARY_COLUMNS,
            self.runs_source().await?
        ));
        push_filters(&mut page, company, dag_ids, search);
        narrow(&mut page);
        push_after(&mut page, search);
        page.push(format!(" ORDER BY {} LIMIT ", search.order.sql("")))
            .push_bind(i64::from(search.limit) + 1)
            .push(" OFFSET ")
            .push_bind(search.sql_offset());
        let counted: i64 = count
            .build_query_scalar()
            .fetch_one(&mut *self.conn().await?)
            .await?;
        let rows = page.build().fetch_all(&mut *self.conn().await?).await?;
        let items = rows
            .iter()
            .map(summary_from_row)
            .collect::<Result<_, _>>()?;
        Ok(RunPage::new(items, counted, search.count_limit, search))
    }

    async fn cursor_key(&self) -> Result<Option<std::sync::Arc<[u8]>>, IndexError> {
        let found = sqlx::query_scalar("SELECT key FROM dagtrail_keys WHERE name = 'cursor'")
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
             WHERE id_company = ? AND dag_id = ? AND date = ? AND run_id = ?",
            *SUMMARY_COLUMNS,
            self.runs_source().await?
        )))
        .bind(company.as_str())
        .bind(run.dag_id.to_string())
        .bind(run.date.format("%Y-%m-%d").to_string())
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
        let text: Option<Option<String>> = sqlx::query_scalar(
            "SELECT log -> ('$.' || ?5) FROM etl_logs \
             WHERE id_company = ?1 AND dag_id = ?2 AND date = ?3 AND run_id = ?4",
        )
        .bind(company.as_str())
        .bind(run.dag_id.to_string())
        .bind(run.date.format("%Y-%m-%d").to_string())
        .bind(run.run_id.as_str())
        .bind(phase.as_str())
        .fetch_optional(&mut *self.conn().await?)
        .await?;
        let value: Option<Value> = text
            .flatten()
            .map(|t| serde_json::from_str(&t).map_err(|_| invalid(phase.as_str(), &t)))
            .transpose()?;
        Ok(value.as_ref().and_then(PhaseObject::from_json))
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
        let mut tx = sqlx::Transaction::begin(
            self.conn().await?,
            Some(sqlx::SqlSafeStr::into_sql_str("BEGIN IMMEDIATE")),
        )
        .await?;
        fleet::rebuild(&mut tx).await?;
        tx.commit().await?;
        self.fill_text_index().await?;
        Ok(())
    }

    async fn dag_known(&self, company: &Company, dag_id: DagId) -> Result<bool, IndexError> {
        self.knows_dag(company, dag_id).await
    }

    async fn ping(&self) -> Result<(), IndexError> {
        sqlx::query("SELECT 1")
            .execute(&mut *self.conn().await?)
            .await?;
        Ok(())
    }

    fn pool_state(&self) -> PoolState {
        PoolState {
            size: self.pool.size(),
            idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
            max: self.pool.options().get_max_connections(),
        }
    }
}
