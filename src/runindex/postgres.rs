//! The run index on PostgreSQL: table `etl.logs` (contract section 2).

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, QueryBuilder, Row};
use uuid::Uuid;

use super::{
    IndexError, IndexOptions, PhaseObjects, RunIndex, RunPage, RunSearch, RunSummary, StatusFilter,
    keyword,
};
use crate::model::{Company, DagId, Phase, RunRef};

const MIGRATION: &str = include_str!("migrations/postgres.sql");
/// Serialises concurrent migrations (several servers starting at once):
/// `CREATE EXTENSION IF NOT EXISTS` alone races.
const MIGRATION_LOCK: i64 = 0x6461_6774_7261_696c; // "dagtrail"

/// Selects a run's columns with each phase object stripped of `data`.
const SUMMARY_COLUMNS: &str = "dag_id, date, run_id, created_at, updated_at, \
     (log->'event') - 'data' AS event, (log->'extract') - 'data' AS extract, \
     (log->'transform') - 'data' AS transform, (log->'load') - 'data' AS load";

/// The PostgreSQL backend.
#[derive(Debug, Clone)]
pub struct PostgresIndex {
    pool: PgPool,
}

impl PostgresIndex {
    /// Connects (lazily: a database that is down now may come back later)
    /// and migrates when asked.
    pub async fn connect(url: &str, options: &IndexOptions) -> Result<Self, IndexError> {
        let connect: PgConnectOptions = url.parse()?;
        let connect = connect.application_name("dagtrail");
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            .connect_lazy_with(connect);
        let index = Self { pool };
        if options.migrate {
            index.migrate().await?;
        }
        Ok(index)
    }

    /// The connection pool (for tests and tools that need raw SQL).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Creates the schema, table and indexes when missing.
    pub async fn migrate(&self) -> Result<(), IndexError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await?;
        sqlx::raw_sql(MIGRATION).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }
}

fn push_filters(
    q: &mut QueryBuilder<Postgres>,
    company: &Company,
    dag_id: DagId,
    search: &RunSearch,
) {
    q.push(" WHERE id_company = ")
        .push_bind(company.as_str())
        .push(" AND dag_id = ")
        .push_bind(dag_id.0)
        .push(" AND date >= ")
        .push_bind(search.date_from)
        .push(" AND date <= ")
        .push_bind(search.date_to);
    for (phase, status) in search.active_statuses() {
        let path = format!("(log #> '{{{},status,success}}')", phase.as_str());
        match status {
            StatusFilter::Success => q.push(format!(" AND {path} = 'true'::jsonb")),
            StatusFilter::Failed => q.push(format!(" AND {path} = 'false'::jsonb")),
            StatusFilter::Pending => q.push(format!(
                " AND COALESCE({path}, 'null'::jsonb) = 'null'::jsonb"
            )),
            StatusFilter::All => q,
        };
    }
    for (phase, kw) in search.active_keywords() {
        // The expression matches the trigram indexes of the migration.
        q.push(format!(" AND ((log->'{}')::text) ILIKE ", phase.as_str()))
            .push_bind(keyword::ilike_contains(kw));
    }
    if !search.run_ids.is_empty() {
        q.push(" AND run_id = ANY(")
            .push_bind(&search.run_ids)
            .push(")");
    }
}

fn summary_from_row(row: &sqlx::postgres::PgRow) -> Result<RunSummary, IndexError> {
    let dag: Uuid = row.try_get("dag_id")?;
    let phase = |name: &str| -> Result<Option<Value>, IndexError> {
        let v: Option<Value> = row.try_get(name)?;
        Ok(v.filter(|v| !v.is_null()))
    };
    Ok(RunSummary {
        dag_id: DagId(dag),
        date: row.try_get::<NaiveDate, _>("date")?,
        run_id: row.try_get("run_id")?,
        created_at: row.try_get::<DateTime<Utc>, _>("created_at")?,
        updated_at: row.try_get::<DateTime<Utc>, _>("updated_at")?,
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
        dag_id: DagId,
        search: &RunSearch,
    ) -> Result<RunPage, IndexError> {
        let mut count = QueryBuilder::new("SELECT count(*) FROM (SELECT 1 FROM etl.logs");
        push_filters(&mut count, company, dag_id, search);
        if let Some(cap) = search.count_limit {
            count
                .push(" LIMIT ")
                .push_bind(i64::try_from(cap.saturating_add(1)).unwrap_or(i64::MAX));
        }
        count.push(") AS matching");
        let mut page = QueryBuilder::new(format!("SELECT {SUMMARY_COLUMNS} FROM etl.logs"));
        push_filters(&mut page, company, dag_id, search);
        page.push(" ORDER BY date DESC, created_at DESC, run_id DESC LIMIT ")
            .push_bind(i64::from(search.limit) + 1)
            .push(" OFFSET ")
            .push_bind(search.offset());
        let (counted, rows) = tokio::try_join!(
            count.build_query_scalar::<i64>().fetch_one(&self.pool),
            page.build().fetch_all(&self.pool),
        )?;
        let items = rows
            .iter()
            .map(summary_from_row)
            .collect::<Result<_, _>>()?;
        Ok(RunPage::new(items, counted, search))
    }

    async fn get_run(
        &self,
        company: &Company,
        run: &RunRef,
    ) -> Result<Option<RunSummary>, IndexError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SUMMARY_COLUMNS} FROM etl.logs \
             WHERE id_company = $1 AND dag_id = $2 AND date = $3 AND run_id = $4"
        )))
        .bind(company.as_str())
        .bind(run.dag_id.0)
        .bind(run.date)
        .bind(run.run_id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(summary_from_row).transpose()
    }

    async fn phase_object(
        &self,
        company: &Company,
        run: &RunRef,
        phase: Phase,
    ) -> Result<Option<Value>, IndexError> {
        let value: Option<Option<Value>> = sqlx::query_scalar(
            "SELECT log->$5 FROM etl.logs \
             WHERE id_company = $1 AND dag_id = $2 AND date = $3 AND run_id = $4",
        )
        .bind(company.as_str())
        .bind(run.dag_id.0)
        .bind(run.date)
        .bind(run.run_id.as_str())
        .bind(phase.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(value.flatten())
    }

    async fn record_phase(
        &self,
        company: &Company,
        run: &RunRef,
        phase: Phase,
        object: &Value,
        at: DateTime<Utc>,
    ) -> Result<(), IndexError> {
        // One statement: the row lock taken by ON CONFLICT serialises
        // writers of the same run, and `||` merges only this phase's key.
        sqlx::query(
            "INSERT INTO etl.logs (id_company, dag_id, date, run_id, log, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, jsonb_build_object($5::text, $6::jsonb), $7, $7) \
             ON CONFLICT (id_company, dag_id, date, run_id) DO UPDATE \
             SET log = etl.logs.log || jsonb_build_object($5::text, $6::jsonb), updated_at = $7",
        )
        .bind(company.as_str())
        .bind(run.dag_id.0)
        .bind(run.date)
        .bind(run.run_id.as_str())
        .bind(phase.as_str())
        .bind(sqlx::types::Json(object))
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), IndexError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}
