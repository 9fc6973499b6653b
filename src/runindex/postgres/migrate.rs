//! Bringing a PostgreSQL run index to this dagtrail's schema: the DDL of
//! each version, run once under an advisory lock, and the fills and
//! indexes built after it without blocking writers (resumable).

use std::time::{Duration, Instant};

use chrono::NaiveDate;
use sqlx::Row as _;
use uuid::Uuid;

use super::{fleet, search};
use crate::model::Phase;
use crate::runindex::{IndexError, SCHEMA_VERSION};

const MIGRATION: &str = include_str!("../migrations/postgres.sql");

/// Serialises concurrent migrations (several servers starting at once):
/// `CREATE EXTENSION IF NOT EXISTS` alone races.
pub(super) const MIGRATION_LOCK: i64 = 0x6461_6774_7261_696c; // "dagtrail"

/// Runs a migration to fill the phase texts of this many runs at a time.
pub const FILL_BATCH: i64 = 5_000;

/// The indexes of `etl.logs` beside its primary key: (name, definition
/// after `ON etl.logs`).
fn logs_indexes() -> Vec<(String, String)> {
    let mut indexes = vec![
        // Newest-first pages within one DAG read this index in order and stop.
        (
            "logs_newest_first".to_owned(),
            "(id_company, dag_id, date DESC, created_at DESC, run_id DESC)".to_owned(),
        ),
        // Newest-first pages across every DAG of a company (GET /runs).
        (
            "logs_company_newest_first".to_owned(),
            "(id_company, date DESC, created_at DESC, dag_id DESC, run_id DESC)".to_owned(),
        ),
    ];
    indexes.extend(Phase::ALL.map(|phase| {
        (
            format!("logs_{phase}_text_trgm"),
            format!("USING gin ({phase}_text gin_trgm_ops)"),
        )
    }));
    indexes.extend(search::status_indexes());
    indexes
}

pub(super) async fn migrate_on(
    conn: &mut sqlx::PgConnection,
    progress: &indicatif::ProgressBar,
) -> Result<(), IndexError> {
    // Waiting for the lock by asking again, never inside a statement: a
    // statement waiting holds a snapshot, and `CREATE INDEX CONCURRENTLY`
    // in the session holding the lock waits for every such snapshot.
    let mut waited = false;
    while !sqlx::query_scalar::<_, bool>("SELECT pg_try_advisory_lock($1)")
        .bind(MIGRATION_LOCK)
        .fetch_one(&mut *conn)
        .await?
    {
        if !waited {
            tracing::info!("another process is migrating the run index; waiting for it");
            waited = true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let found = recorded_version(conn).await?;
    if found >= SCHEMA_VERSION {
        return Ok(());
    }
    // DDL only: `ALTER TABLE` holds the table's exclusive lock (readers
    // wait) until its transaction ends, so nothing slow runs in it.
    let mut tx: sqlx::Transaction<'_, sqlx::Postgres> =
        sqlx::Transaction::begin(&mut *conn, None).await?;
    sqlx::raw_sql(MIGRATION).execute(&mut *tx).await?;
    tx.commit().await?;
    // Version 2 brought the fleet tables, version 3 the durations: filled
    // from the runs once, writers waiting so that no count is lost.
    if found < 3 {
        let mut tx: sqlx::Transaction<'_, sqlx::Postgres> =
            sqlx::Transaction::begin(&mut *conn, None).await?;
        sqlx::query("LOCK TABLE etl.logs IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await?;
        fleet::rebuild(&mut tx).await?;
        tx.commit().await?;
    }
    // Version 4: the phases' texts (the trigger keeps them for rows
    // written from now on) and every index.
    if found < 4 {
        fill_phase_texts(conn, progress).await?;
    }
    build_indexes(conn).await?;
    let key: [u8; 32] = crate::runindex::random_key()?;
    sqlx::query(
        "INSERT INTO etl.dagtrail_keys (name, key) VALUES ('cursor', $1) ON CONFLICT DO NOTHING",
    )
    .bind(&key[..])
    .execute(&mut *conn)
    .await?;
    sqlx::query("INSERT INTO etl.dagtrail_schema (version) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind(SCHEMA_VERSION)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The schema version recorded (0: none, or no table yet).
pub(super) async fn recorded_version(conn: &mut sqlx::PgConnection) -> Result<i32, sqlx::Error> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('etl.dagtrail_schema') IS NOT NULL")
        .fetch_one(&mut *conn)
        .await?;
    if !exists {
        return Ok(0);
    }
    let found: Option<i32> = sqlx::query_scalar("SELECT max(version) FROM etl.dagtrail_schema")
        .fetch_one(&mut *conn)
        .await?;
    Ok(found.unwrap_or(0))
}

/// Sets the phase texts of every run that lacks them, walking the
/// primary key in batches of [`FILL_BATCH`], each its own transaction
/// (row locks for a moment; readers never wait). A run lacks them when it
/// has a phase but no text: rows the trigger set since are skipped, so a
/// fill cut short resumes where it was, at the cost of reading the keys.
async fn fill_phase_texts(
    conn: &mut sqlx::PgConnection,
    progress: &indicatif::ProgressBar,
) -> Result<(), IndexError> {
    let started = Instant::now();
    let runs: i64 = sqlx::query_scalar("SELECT count(*) FROM etl.logs")
        .fetch_one(&mut *conn)
        .await?;
    tracing::info!(
        runs,
        "filling the run index's phase texts (schema version 4)"
    );
    progress.set_length(u64::try_from(runs).unwrap_or(0));
    progress.set_position(0);
    progress.set_message("phase texts");
    // Setting `log` to itself fires the trigger, which sets the texts.
    const FILL: &str = "WITH batch AS ( \
           SELECT id_company, dag_id, date, run_id FROM etl.logs \
           WHERE (id_company, dag_id, date, run_id) {after} \
           ORDER BY id_company, dag_id, date, run_id LIMIT {limit} \
         ), filled AS ( \
           UPDATE etl.logs l SET log = l.log FROM batch b \
           WHERE (l.id_company, l.dag_id, l.date, l.run_id) = (b.id_company, b.dag_id, b.date, b.run_id) \
             AND num_nonnulls(l.event_text, l.extract_text, l.transform_text, l.load_text) = 0 \
             AND l.log ?| ARRAY['event', 'extract', 'transform', 'load'] \
           RETURNING 1 \
         ) \
         SELECT (SELECT count(*) FROM batch) AS walked, (SELECT count(*) FROM filled) AS filled, \
           last.* FROM (SELECT * FROM batch \
             ORDER BY id_company DESC, dag_id DESC, date DESC, run_id DESC LIMIT 1) AS last";
    let fill = |after: &str| {
        FILL.replace("{after}", after)
            .replace("{limit}", &FILL_BATCH.to_string())
    };
    // The least key there can be, then after the last key filled.
    let first =
        fill(">= ('', '00000000-0000-0000-0000-000000000000'::uuid, '-infinity'::date, '')");
    let next = fill("> ($1, $2, $3, $4)");
    let mut after: Option<(String, Uuid, NaiveDate, String)> = None;
    let (mut walked, mut filled) = (0_i64, 0_i64);
    loop {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(if after.is_some() {
            next.clone()
        } else {
            first.clone()
        }));
        if let Some((company, dag, date, run)) = after.take() {
            query = query.bind(company).bind(dag).bind(date).bind(run);
        }
        let Some(row) = query.fetch_optional(&mut *conn).await? else {
            break;
        };
        let batch_walked: i64 = row.try_get("walked")?;
        walked += batch_walked;
        filled += row.try_get::<i64, _>("filled")?;
        after = Some((
            row.try_get("id_company")?,
            row.try_get("dag_id")?,
            row.try_get("date")?,
            row.try_get("run_id")?,
        ));
        progress.set_position(u64::try_from(walked).unwrap_or(0));
        if walked / 100_000 > (walked - batch_walked) / 100_000 {
            tracing::info!(runs = walked, of = runs, "filling the phase texts");
        }
        if batch_walked < FILL_BATCH {
            break;
        }
    }
    tracing::info!(
        runs = walked,
        filled,
        seconds = started.elapsed().as_secs(),
        "phase texts filled"
    );
    Ok(())
}

/// Builds every index of `etl.logs` that is missing, concurrently (readers
/// and writers go on; each waits for the transactions older than it), then
/// drops version 1-3's trigram indexes. An index a cut-short build left
/// invalid is dropped and built again (`IF NOT EXISTS` alone would keep it,
/// unused, for ever).
async fn build_indexes(conn: &mut sqlx::PgConnection) -> Result<(), IndexError> {
    let started = Instant::now();
    for (name, definition) in logs_indexes() {
        let valid: Option<bool> = sqlx::query_scalar(
            "SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = to_regclass('etl.' || $1)",
        )
        .bind(&name)
        .fetch_optional(&mut *conn)
        .await?;
        match valid {
            Some(true) => continue,
            Some(false) => {
                tracing::warn!(index = %name, "dropping an index a cut-short build left invalid");
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP INDEX CONCURRENTLY IF EXISTS etl.{name}"
                )))
                .execute(&mut *conn)
                .await?;
            }
            None => {}
        }
        let building = Instant::now();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON etl.logs {definition}"
        )))
        .execute(&mut *conn)
        .await?;
        tracing::info!(
            index = %name,
            seconds = building.elapsed().as_secs(),
            "run index: index built"
        );
    }
    for phase in Phase::ALL {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP INDEX CONCURRENTLY IF EXISTS etl.logs_{phase}_trgm"
        )))
        .execute(&mut *conn)
        .await?;
    }
    tracing::info!(
        seconds = started.elapsed().as_secs(),
        "run index: indexes ready"
    );
    Ok(())
}
