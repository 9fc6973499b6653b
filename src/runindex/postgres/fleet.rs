//! The fleet tables on PostgreSQL (`etl.dags`, `etl.dag_days`; the rules
//! are `runindex::fleet`'s): recording a phase with them in one
//! transaction, the catalog, `GET /api/v1/dags`, the calendar, and the
//! rebuild from `etl.logs`.

use chrono::{DateTime, NaiveDate, Utc};
use futures::TryStreamExt;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::{PostgresIndex, SUMMARY_COLUMNS, phase_without_data, summary_from_row};
use crate::model::{Company, DagId, Phase, RunRef};
use crate::runindex::fleet::{
    DagEntry, DagInfo, DagQuery, DagState, DayCount, Failure, PhaseChange, Rebuild, RunKey,
    RunStatus, arrange, newest_failure,
};
use crate::runindex::{IndexError, PhaseObject, run_duration_ms};

/// The columns of `etl.dags` that [`DagState`] is read from.
const STATE_COLUMNS: &str = "first_seen, last_seen, runs, last_date, last_created_at, \
     last_run_id, last_status, failure_date, failure_created_at, failure_run_id, \
     failure_phase, failure_message";

/// `dag_days` rows the rebuild writes per statement.
const DAY_ROWS_PER_STATEMENT: usize = 10_000;

fn state_from_row(row: &PgRow) -> Result<DagState, sqlx::Error> {
    let key = |date: &str, created: &str, run: &str| -> Result<Option<RunKey>, sqlx::Error> {
        let date: Option<NaiveDate> = row.try_get(date)?;
        let created_at: Option<DateTime<Utc>> = row.try_get(created)?;
        let run_id: Option<String> = row.try_get(run)?;
        Ok(match (date, created_at, run_id) {
            (Some(date), Some(created_at), Some(run_id)) => Some(RunKey {
                date,
                created_at,
                run_id,
            }),
            _ => None,
        })
    };
    let status: Option<String> = row.try_get("last_status")?;
    let phase: Option<String> = row.try_get("failure_phase")?;
    let failure = key("failure_date", "failure_created_at", "failure_run_id")?
        .zip(phase.and_then(|p| p.parse::<Phase>().ok()));
    Ok(DagState {
        first_seen: row.try_get("first_seen")?,
        last_seen: row.try_get("last_seen")?,
        runs: row.try_get("runs")?,
        last_run: key("last_date", "last_created_at", "last_run_id")?
            .map(|k| (k, status.as_deref().and_then(RunStatus::parse))),
        last_failure: failure.map(|(run, phase)| Failure {
            run,
            phase,
            message: row.try_get("failure_message").ok().flatten(),
        }),
    })
}

/// Writes a DAG's state (its catalog entry untouched).
async fn write_state(
    conn: &mut PgConnection,
    company: &Company,
    dag_id: DagId,
    state: &DagState,
) -> Result<(), sqlx::Error> {
    let last = state.last_run.as_ref();
    let failure = state.last_failure.as_ref();
    sqlx::query(
        "UPDATE etl.dags SET first_seen = $3, last_seen = $4, runs = $5, last_date = $6, \
         last_created_at = $7, last_run_id = $8, last_status = $9, failure_date = $10, \
         failure_created_at = $11, failure_run_id = $12, failure_phase = $13, \
         failure_message = $14 WHERE id_company = $1 AND dag_id = $2",
    )
    .bind(company.as_str())
    .bind(dag_id.0)
    .bind(state.first_seen)
    .bind(state.last_seen)
    .bind(state.runs)
    .bind(last.map(|(k, _)| k.date))
    .bind(last.map(|(k, _)| k.created_at))
    .bind(last.map(|(k, _)| k.run_id.as_str()))
    .bind(last.and_then(|(_, s)| *s).map(RunStatus::as_str))
    .bind(failure.map(|f| f.run.date))
    .bind(failure.map(|f| f.run.created_at))
    .bind(failure.map(|f| f.run.run_id.as_str()))
    .bind(failure.map(|f| f.phase.as_str()))
    .bind(failure.and_then(|f| f.message.as_deref()))
    .execute(conn)
    .await?;
    Ok(())
}

/// The DAG's newest run still failed: the newest run date whose count has
/// failed runs, then that date's runs (a few), so that a recovery costs
/// two small reads however many runs the DAG has.
async fn newest_failed_run(
    conn: &mut PgConnection,
    company: &Company,
    dag_id: DagId,
) -> Result<Option<Failure>, IndexError> {
    let date: Option<NaiveDate> = sqlx::query_scalar(
        "SELECT max(date) FROM etl.dag_days WHERE id_company = $1 AND dag_id = $2 AND failed_runs > 0",
    )
    .bind(company.as_str())
    .bind(dag_id.0)
    .fetch_one(&mut *conn)
    .await?;
    let Some(date) = date else {
        return Ok(None);
    };
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {} FROM etl.logs WHERE id_company = $1 AND dag_id = $2 AND date = $3",
        *SUMMARY_COLUMNS
    )))
    .bind(company.as_str())
    .bind(dag_id.0)
    .bind(date)
    .fetch_all(&mut *conn)
    .await?;
    let runs = rows
        .iter()
        .map(summary_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(newest_failure(&runs))
}

impl PostgresIndex {
    /// Records one phase and what the fleet tables keep about it, in one
    /// transaction. The run's row is created first (or found) and locked,
    /// then the DAG's: writers of one run, or of one DAG, wait for each
    /// other for a few statements, and no count is lost between them.
    pub(super) async fn record_phase_and_fleet(
        &self,
        company: &Company,
        run: &RunRef,
        phase: Phase,
        object: &PhaseObject,
        at: DateTime<Utc>,
    ) -> Result<(), IndexError> {
        let mut tx = sqlx::Transaction::begin(self.conn().await?, None).await?;
        let created = sqlx::query(
            "INSERT INTO etl.logs (id_company, dag_id, date, run_id, log, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, '{}'::jsonb, $5, $5) ON CONFLICT DO NOTHING",
        )
        .bind(company.as_str())
        .bind(run.dag_id.0)
        .bind(run.date)
        .bind(run.run_id.as_str())
        .bind(at)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        let before = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM etl.logs \
             WHERE id_company = $1 AND dag_id = $2 AND date = $3 AND run_id = $4 FOR UPDATE",
            *SUMMARY_COLUMNS
        )))
        .bind(company.as_str())
        .bind(run.dag_id.0)
        .bind(run.date)
        .bind(run.run_id.as_str())
        .fetch_one(&mut *tx)
        .await?;
        let before = summary_from_row(&before)?;
        let change = PhaseChange {
            run: RunKey {
                date: run.date,
                created_at: before.created_at,
                run_id: run.run_id.as_str().to_owned(),
            },
            created,
            before: &before.phases,
            phase,
            object,
            at,
        };
        // `||` merges only this phase's key.
        sqlx::query(
            "UPDATE etl.logs SET log = log || jsonb_build_object($5::text, $6::jsonb), \
             updated_at = GREATEST(updated_at, $7), duration_ms = $8 \
             WHERE id_company = $1 AND dag_id = $2 AND date = $3 AND run_id = $4",
        )
        .bind(company.as_str())
        .bind(run.dag_id.0)
        .bind(run.date)
        .bind(run.run_id.as_str())
        .bind(phase.as_str())
        .bind(sqlx::types::Json(object.to_json()))
        .bind(at)
        .bind(run_duration_ms(&change.after()))
        .execute(&mut *tx)
        .await?;
        let (runs, failed) = change.day_delta();
        if runs != 0 || failed != 0 {
            sqlx::query(
                "INSERT INTO etl.dag_days AS d (id_company, dag_id, date, runs, failed_runs) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id_company, dag_id, date) DO UPDATE \
                 SET runs = d.runs + EXCLUDED.runs, failed_runs = d.failed_runs + EXCLUDED.failed_runs",
            )
            .bind(company.as_str())
            .bind(run.dag_id.0)
            .bind(run.date)
            .bind(runs)
            .bind(failed)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "INSERT INTO etl.dags (id_company, dag_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(company.as_str())
        .bind(run.dag_id.0)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {STATE_COLUMNS} FROM etl.dags WHERE id_company = $1 AND dag_id = $2 FOR UPDATE"
        )))
        .bind(company.as_str())
        .bind(run.dag_id.0)
        .fetch_one(&mut *tx)
        .await?;
        let applied = change.apply(&state_from_row(&row)?);
        let mut next = applied.state;
        if applied.find_last_failure {
            next.last_failure = newest_failed_run(&mut tx, company, run.dag_id).await?;
        }
        write_state(&mut tx, company, run.dag_id, &next).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sets a DAG's catalog entry (creating its row when it has none):
    /// the fields given replace, the others are kept.
    pub(super) async fn record_dag_info(
        &self,
        company: &Company,
        dag_id: DagId,
        info: &DagInfo,
    ) -> Result<(), IndexError> {
        sqlx::query(
            "INSERT INTO etl.dags AS d (id_company, dag_id, name, description, tags, owner) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id_company, dag_id) DO UPDATE \
             SET name = COALESCE(EXCLUDED.name, d.name), \
             description = COALESCE(EXCLUDED.description, d.description), \
             tags = CASE WHEN cardinality(EXCLUDED.tags) > 0 THEN EXCLUDED.tags ELSE d.tags END, \
             owner = COALESCE(EXCLUDED.owner, d.owner)",
        )
        .bind(company.as_str())
        .bind(dag_id.0)
        .bind(info.name.as_deref())
        .bind(info.description.as_deref())
        .bind(&info.tags)
        .bind(info.owner.as_deref())
        .execute(&mut *self.conn().await?)
        .await?;
        Ok(())
    }

    /// Every DAG of `company` with its window counts and newest run's
    /// phases: one query over `etl.dags`, the window's `etl.dag_days` and
    /// one `etl.logs` row per DAG by primary key.
    pub(super) async fn dags_of(
        &self,
        company: &Company,
        query: &DagQuery,
    ) -> Result<Vec<DagEntry>, IndexError> {
        let phases = Phase::ALL.map(|p| format!("{} AS {p}", phase_without_data("l.log", p)));
        let mut sql = format!(
            "SELECT d.dag_id, d.name, d.description, d.tags, d.owner, {state}, \
             COALESCE(w.runs, 0)::bigint AS window_runs, COALESCE(w.failed, 0)::bigint AS window_failed, \
             {phases} \
             FROM etl.dags d \
             LEFT JOIN (SELECT id_company, dag_id, sum(runs) AS runs, sum(failed_runs) AS failed FROM etl.dag_days \
                        WHERE id_company = $1 AND date >= $2 GROUP BY id_company, dag_id) w \
                        ON w.id_company = d.id_company AND w.dag_id = d.dag_id \
             LEFT JOIN etl.logs l ON l.id_company = d.id_company AND l.dag_id = d.dag_id \
                        AND l.date = d.last_date AND l.run_id = d.last_run_id \
             WHERE d.id_company = $1",
            state = STATE_COLUMNS
                .split(", ")
                .map(|c| format!("d.{}", c.trim()))
                .collect::<Vec<_>>()
                .join(", "),
            phases = phases.join(", "),
        );
        if query.dag.is_some() {
            sql.push_str(" AND d.dag_id = $3");
        }
        let mut select = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(company.as_str())
            .bind(query.since);
        if let Some(dag) = query.dag {
            select = select.bind(dag.0);
        }
        let rows = select.fetch_all(&mut *self.conn().await?).await?;
        let mut entries = Vec::with_capacity(rows.len());
        for row in &rows {
            let state = state_from_row(row)?;
            let phase = |name: &str| -> Result<Option<PhaseObject>, sqlx::Error> {
                let v: Option<serde_json::Value> = row.try_get(name)?;
                Ok(v.as_ref().and_then(PhaseObject::from_json))
            };
            let last_run_phases = if state.last_run.is_some() {
                Some(crate::runindex::PhaseObjects {
                    event: phase("event")?,
                    extract: phase("extract")?,
                    transform: phase("transform")?,
                    load: phase("load")?,
                })
            } else {
                None
            };
            entries.push(DagEntry {
                dag_id: DagId(row.try_get::<Uuid, _>("dag_id")?),
                info: DagInfo {
                    name: row.try_get("name")?,
                    description: row.try_get("description")?,
                    tags: row.try_get("tags")?,
                    owner: row.try_get("owner")?,
                },
                state,
                last_run_phases,
                runs_in_window: row.try_get("window_runs")?,
                failed_in_window: row.try_get("window_failed")?,
            });
        }
        Ok(arrange(entries, query))
    }

    /// Runs and failed runs per run date of one DAG, days with runs only.
    pub(super) async fn days_of(
        &self,
        company: &Company,
        dag_id: DagId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DayCount>, IndexError> {
        let rows = sqlx::query(
            "SELECT date, runs, failed_runs FROM etl.dag_days \
             WHERE id_company = $1 AND dag_id = $2 AND date >= $3 AND date <= $4 AND runs > 0 \
             ORDER BY date",
        )
        .bind(company.as_str())
        .bind(dag_id.0)
        .bind(from)
        .bind(to)
        .fetch_all(&mut *self.conn().await?)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DayCount {
                    date: r.try_get("date")?,
                    runs: r.try_get("runs")?,
                    failed_runs: r.try_get("failed_runs")?,
                })
            })
            .collect()
    }

    /// Whether `company` has a DAG `dag_id`: runs in `etl.logs` (through
    /// the primary key's prefix; runs written by any tool count), else a
    /// row in `etl.dags`. The second question is best-effort: a table
    /// another tool made without the fleet tables, or a role not yet
    /// granted them, answers "unknown" (with a WARN), never an error.
    pub(super) async fn knows_dag(
        &self,
        company: &Company,
        dag_id: DagId,
    ) -> Result<bool, IndexError> {
        let mut conn = self.conn().await?;
        let runs: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM etl.logs WHERE id_company = $1 AND dag_id = $2 LIMIT 1",
        )
        .bind(company.as_str())
        .bind(dag_id.0)
        .fetch_optional(&mut *conn)
        .await?;
        if runs.is_some() {
            return Ok(true);
        }
        let entry: Result<Option<i32>, sqlx::Error> =
            sqlx::query_scalar("SELECT 1 FROM etl.dags WHERE id_company = $1 AND dag_id = $2")
                .bind(company.as_str())
                .bind(dag_id.0)
                .fetch_optional(&mut *conn)
                .await;
        match entry {
            Ok(found) => Ok(found.is_some()),
            Err(sqlx::Error::Database(e)) => {
                tracing::warn!(error = %e, "cannot read etl.dags (run `dagtrail migrate`, grant it); taking the DAG as unknown");
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// Fills the fleet tables from `etl.logs` (a database migrated from before
/// they existed), in the migration's transaction: summary columns and day
/// counts are replaced, catalog entries kept. Progress goes to the log.
pub(super) async fn rebuild(conn: &mut PgConnection) -> Result<(), IndexError> {
    let mut built = Rebuild::default();
    {
        let sql = format!("SELECT id_company, {} FROM etl.logs", *SUMMARY_COLUMNS);
        let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch(&mut *conn);
        while let Some(row) = rows.try_next().await? {
            built.add_row(row.try_get("id_company")?, &summary_from_row(&row)?);
        }
    }
    // Durations stored by no dagtrail (another tool wrote the run) or by
    // an older rule, in batches as the day rows below.
    for batch in built.durations.chunks(DAY_ROWS_PER_STATEMENT) {
        let companies: Vec<&str> = batch.iter().map(|d| d.company.as_str()).collect();
        let dags: Vec<Uuid> = batch.iter().map(|d| d.dag_id.0).collect();
        let dates: Vec<NaiveDate> = batch.iter().map(|d| d.date).collect();
        let run_ids: Vec<&str> = batch.iter().map(|d| d.run_id.as_str()).collect();
        let durations: Vec<Option<i64>> = batch.iter().map(|d| d.duration_ms).collect();
        sqlx::query(
            "UPDATE etl.logs l SET duration_ms = u.duration_ms \
             FROM UNNEST($1::text[], $2::uuid[], $3::date[], $4::text[], $5::bigint[]) \
               AS u(id_company, dag_id, date, run_id, duration_ms) \
             WHERE l.id_company = u.id_company AND l.dag_id = u.dag_id \
               AND l.date = u.date AND l.run_id = u.run_id",
        )
        .bind(companies)
        .bind(dags)
        .bind(dates)
        .bind(run_ids)
        .bind(durations)
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query("DELETE FROM etl.dag_days")
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "UPDATE etl.dags SET first_seen = NULL, last_seen = NULL, runs = 0, last_date = NULL, \
         last_created_at = NULL, last_run_id = NULL, last_status = NULL, failure_date = NULL, \
         failure_created_at = NULL, failure_run_id = NULL, failure_phase = NULL, failure_message = NULL",
    )
    .execute(&mut *conn)
    .await?;
    for ((company, dag_id), state) in &built.dags {
        sqlx::query(
            "INSERT INTO etl.dags (id_company, dag_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(company.as_str())
        .bind(dag_id.0)
        .execute(&mut *conn)
        .await?;
        write_state(conn, company, *dag_id, state).await?;
    }
    // Day rows in batches: a year of days of a thousand DAGs is 365,000
    // rows, which one statement each would take minutes to send.
    let days: Vec<_> = built.days.iter().collect();
    for batch in days.chunks(DAY_ROWS_PER_STATEMENT) {
        let companies: Vec<&str> = batch.iter().map(|((c, _, _), _)| c.as_str()).collect();
        let dags: Vec<Uuid> = batch.iter().map(|((_, d, _), _)| d.0).collect();
        let dates: Vec<NaiveDate> = batch.iter().map(|((_, _, date), _)| *date).collect();
        let runs: Vec<i64> = batch.iter().map(|(_, (r, _))| *r).collect();
        let failed: Vec<i64> = batch.iter().map(|(_, (_, f))| *f).collect();
        sqlx::query(
            "INSERT INTO etl.dag_days (id_company, dag_id, date, runs, failed_runs) \
             SELECT * FROM UNNEST($1::text[], $2::uuid[], $3::date[], $4::bigint[], $5::bigint[])",
        )
        .bind(companies)
        .bind(dags)
        .bind(dates)
        .bind(runs)
        .bind(failed)
        .execute(&mut *conn)
        .await?;
    }
    built.report();
    Ok(())
}
