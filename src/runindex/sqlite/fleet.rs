//! The fleet tables on SQLite (`dags`, `dag_days`; the rules are
//! `runindex::fleet`'s), as `postgres/fleet.rs` has them on PostgreSQL:
//! dates are `YYYY-MM-DD` text, times RFC 3339 text, tags a JSON array.

use chrono::{DateTime, NaiveDate, Utc};
use futures::TryStreamExt;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use super::{SUMMARY_COLUMNS, SqliteIndex, invalid, summary_from_row};
use crate::model::{Company, DagId, Phase, RunRef};
use crate::runindex::fleet::{
    DagEntry, DagInfo, DagQuery, DagState, DayCount, Failure, PhaseChange, Rebuild, RunKey,
    RunStatus, arrange, newest_failure,
};
use crate::runindex::{IndexError, PhaseObject, PhaseObjects, run_duration_ms, sqlite_timestamp};

/// The columns of `dags` that [`DagState`] is read from.
const STATE_COLUMNS: &str = "first_seen, last_seen, runs, last_date, last_created_at, \
     last_run_id, last_status, failure_date, failure_created_at, failure_run_id, \
     failure_phase, failure_message";

fn day(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

fn optional_time(row: &SqliteRow, column: &str) -> Result<Option<DateTime<Utc>>, IndexError> {
    let text: Option<String> = row.try_get(column)?;
    text.map(|t| {
        DateTime::parse_from_rfc3339(&t)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| invalid(column, &t))
    })
    .transpose()
}

fn optional_date(row: &SqliteRow, column: &str) -> Result<Option<NaiveDate>, IndexError> {
    let text: Option<String> = row.try_get(column)?;
    text.map(|t| NaiveDate::parse_from_str(&t, "%Y-%m-%d").map_err(|_| invalid(column, &t)))
        .transpose()
}

fn state_from_row(row: &SqliteRow) -> Result<DagState, IndexError> {
    let key = |date: &str, created: &str, run: &str| -> Result<Option<RunKey>, IndexError> {
        let run_id: Option<String> = row.try_get(run)?;
        Ok(
            match (
                optional_date(row, date)?,
                optional_time(row, created)?,
                run_id,
            ) {
                (Some(date), Some(created_at), Some(run_id)) => Some(RunKey {
                    date,
                    created_at,
                    run_id,
                }),
                _ => None,
            },
        )
    };
    let status: Option<String> = row.try_get("last_status")?;
    let phase: Option<String> = row.try_get("failure_phase")?;
    let failure = key("failure_date", "failure_created_at", "failure_run_id")?
        .zip(phase.and_then(|p| p.parse::<Phase>().ok()));
    Ok(DagState {
        first_seen: optional_time(row, "first_seen")?,
        last_seen: optional_time(row, "last_seen")?,
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

async fn write_state(
    conn: &mut SqliteConnection,
    company: &Company,
    dag_id: DagId,
    state: &DagState,
) -> Result<(), sqlx::Error> {
    let last = state.last_run.as_ref();
    let failure = state.last_failure.as_ref();
    sqlx::query(
        "UPDATE dags SET first_seen = ?3, last_seen = ?4, runs = ?5, last_date = ?6, \
         last_created_at = ?7, last_run_id = ?8, last_status = ?9, failure_date = ?10, \
         failure_created_at = ?11, failure_run_id = ?12, failure_phase = ?13, \
         failure_message = ?14 WHERE id_company = ?1 AND dag_id = ?2",
    )
    .bind(company.as_str())
    .bind(dag_id.to_string())
    .bind(state.first_seen.map(sqlite_timestamp))
    .bind(state.last_seen.map(sqlite_timestamp))
    .bind(state.runs)
    .bind(last.map(|(k, _)| day(k.date)))
    .bind(last.map(|(k, _)| sqlite_timestamp(k.created_at)))
    .bind(last.map(|(k, _)| k.run_id.clone()))
    .bind(last.and_then(|(_, s)| *s).map(RunStatus::as_str))
    .bind(failure.map(|f| day(f.run.date)))
    .bind(failure.map(|f| sqlite_timestamp(f.run.created_at)))
    .bind(failure.map(|f| f.run.run_id.clone()))
    .bind(failure.map(|f| f.phase.as_str()))
    .bind(failure.and_then(|f| f.message.clone()))
    .execute(conn)
    .await?;
    Ok(())
}

/// The DAG's newest run still failed (see the PostgreSQL twin).
async fn newest_failed_run(
    conn: &mut SqliteConnection,
    company: &Company,
    dag_id: DagId,
) -> Result<Option<Failure>, IndexError> {
    let date: Option<String> = sqlx::query_scalar(
        "SELECT max(date) FROM dag_days WHERE id_company = ?1 AND dag_id = ?2 AND failed_runs > 0",
    )
    .bind(company.as_str())
    .bind(dag_id.to_string())
    .fetch_one(&mut *conn)
    .await?;
    let Some(date) = date else {
        return Ok(None);
    };
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {} FROM etl_logs WHERE id_company = ?1 AND dag_id = ?2 AND date = ?3",
        *SUMMARY_COLUMNS
    )))
    .bind(company.as_str())
    .bind(dag_id.to_string())
    .bind(date)
    .fetch_all(&mut *conn)
    .await?;
    let runs = rows
        .iter()
        .map(summary_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(newest_failure(&runs))
}

impl SqliteIndex {
    /// Records one phase and what the fleet tables keep about it, in one
    /// transaction (`BEGIN IMMEDIATE`: SQLite has one writer at a time, and
    /// taking the write lock first spares a deferred transaction the
    /// "database is locked" of an upgrade).
    pub(super) async fn record_phase_and_fleet(
        &self,
        company: &Company,
        run: &RunRef,
        phase: Phase,
        object: &PhaseObject,
        at: DateTime<Utc>,
    ) -> Result<(), IndexError> {
        let mut tx = sqlx::Transaction::begin(
            self.conn().await?,
            Some(sqlx::SqlSafeStr::into_sql_str("BEGIN IMMEDIATE")),
        )
        .await?;
        let dag = run.dag_id.to_string();
        let date = day(run.date);
        let created = sqlx::query(
            "INSERT INTO etl_logs (id_company, dag_id, date, run_id, log, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, '{}', ?5, ?5) ON CONFLICT DO NOTHING",
        )
        .bind(company.as_str())
        .bind(&dag)
        .bind(&date)
        .bind(run.run_id.as_str())
        .bind(sqlite_timestamp(at))
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        let before = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM etl_logs \
             WHERE id_company = ?1 AND dag_id = ?2 AND date = ?3 AND run_id = ?4",
            *SUMMARY_COLUMNS
        )))
        .bind(company.as_str())
        .bind(&dag)
        .bind(&date)
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
        // json_set replaces only this phase's key.
        sqlx::query(
            "UPDATE etl_logs SET log = json_set(log, '$.' || ?5, json(?6)), updated_at = max(updated_at, ?7), \
             duration_ms = ?8 WHERE id_company = ?1 AND dag_id = ?2 AND date = ?3 AND run_id = ?4",
        )
        .bind(company.as_str())
        .bind(&dag)
        .bind(&date)
        .bind(run.run_id.as_str())
        .bind(phase.as_str())
        .bind(object.to_json().to_string())
        .bind(sqlite_timestamp(at))
        .bind(run_duration_ms(&change.after()))
        .execute(&mut *tx)
        .await?;
        // The update dropped the run's text (the trigger): index it again.
        super::text::index_run(
            &mut tx,
            (company.as_str(), &dag, &date, run.run_id.as_str()),
        )
        .await?;
        let (runs, failed) = change.day_delta();
        if runs != 0 || failed != 0 {
            sqlx::query(
                "INSERT INTO dag_days (id_company, dag_id, date, runs, failed_runs) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (id_company, dag_id, date) DO UPDATE \
                 SET runs = runs + excluded.runs, failed_runs = failed_runs + excluded.failed_runs",
            )
            .bind(company.as_str())
            .bind(&dag)
            .bind(&date)
            .bind(runs)
            .bind(failed)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("INSERT INTO dags (id_company, dag_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING")
            .bind(company.as_str())
            .bind(&dag)
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {STATE_COLUMNS} FROM dags WHERE id_company = ?1 AND dag_id = ?2"
        )))
        .bind(company.as_str())
        .bind(&dag)
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
        let tags = serde_json::to_string(&info.tags).unwrap_or_else(|_| "[]".to_owned());
        sqlx::query(
            "INSERT INTO dags (id_company, dag_id, name, description, tags, owner) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (id_company, dag_id) DO UPDATE \
             SET name = COALESCE(excluded.name, dags.name), \
             description = COALESCE(excluded.description, dags.description), \
             tags = CASE WHEN excluded.tags <> '[]' THEN excluded.tags ELSE dags.tags END, \
             owner = COALESCE(excluded.owner, dags.owner)",
        )
        .bind(company.as_str())
        .bind(dag_id.to_string())
        .bind(info.name.as_deref())
        .bind(info.description.as_deref())
        .bind(tags)
        .bind(info.owner.as_deref())
        .execute(&mut *self.conn().await?)
        .await?;
        Ok(())
    }

    /// Every DAG of `company` with its window counts and newest run's
    /// phases (see the PostgreSQL twin).
    pub(super) async fn dags_of(
        &self,
        company: &Company,
        query: &DagQuery,
    ) -> Result<Vec<DagEntry>, IndexError> {
        let phases = Phase::ALL.map(|p| format!("json_remove(l.log -> '$.{p}', '$.data') AS {p}"));
        let mut sql = format!(
            "SELECT d.dag_id, d.name, d.description, d.tags, d.owner, {state}, \
             COALESCE(w.runs, 0) AS window_runs, COALESCE(w.failed, 0) AS window_failed, \
             {phases} \
             FROM dags d \
             LEFT JOIN (SELECT id_company, dag_id, sum(runs) AS runs, sum(failed_runs) AS failed FROM dag_days \
                        WHERE id_company = ?1 AND date >= ?2 GROUP BY id_company, dag_id) w \
                        ON w.id_company = d.id_company AND w.dag_id = d.dag_id \
             LEFT JOIN etl_logs l ON l.id_company = d.id_company AND l.dag_id = d.dag_id \
                        AND l.date = d.last_date AND l.run_id = d.last_run_id \
             WHERE d.id_company = ?1",
            state = STATE_COLUMNS
                .split(", ")
                .map(|c| format!("d.{}", c.trim()))
                .collect::<Vec<_>>()
                .join(", "),
            phases = phases.join(", "),
        );
        if query.dag.is_some() {
            sql.push_str(" AND d.dag_id = ?3");
        }
        let mut select = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(company.as_str())
            .bind(day(query.since));
        if let Some(dag) = query.dag {
            select = select.bind(dag.to_string());
        }
        let rows = select.fetch_all(&mut *self.conn().await?).await?;
        let mut entries = Vec::with_capacity(rows.len());
        for row in &rows {
            let state = state_from_row(row)?;
            let phase = |name: &str| -> Result<Option<PhaseObject>, IndexError> {
                let text: Option<String> = row.try_get(name)?;
                let value = text
                    .map(|t| {
                        serde_json::from_str::<serde_json::Value>(&t).map_err(|_| invalid(name, &t))
                    })
                    .transpose()?;
                Ok(value.as_ref().and_then(PhaseObject::from_json))
            };
            let last_run_phases = if state.last_run.is_some() {
                Some(PhaseObjects {
                    event: phase("event")?,
                    extract: phase("extract")?,
                    transform: phase("transform")?,
                    load: phase("load")?,
                })
            } else {
                None
            };
            let dag: String = row.try_get("dag_id")?;
            let tags: String = row.try_get("tags")?;
            entries.push(DagEntry {
                dag_id: dag.parse().map_err(|_| invalid("dag_id", &dag))?,
                info: DagInfo {
                    name: row.try_get("name")?,
                    description: row.try_get("description")?,
                    tags: serde_json::from_str(&tags).map_err(|_| invalid("tags", &tags))?,
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
            "SELECT date, runs, failed_runs FROM dag_days \
             WHERE id_company = ?1 AND dag_id = ?2 AND date >= ?3 AND date <= ?4 AND runs > 0 \
             ORDER BY date",
        )
        .bind(company.as_str())
        .bind(dag_id.to_string())
        .bind(day(from))
        .bind(day(to))
        .fetch_all(&mut *self.conn().await?)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DayCount {
                    date: optional_date(r, "date")?.ok_or_else(|| invalid("date", "NULL"))?,
                    runs: r.try_get("runs")?,
                    failed_runs: r.try_get("failed_runs")?,
                })
            })
            .collect()
    }

    /// Whether `company` has a DAG `dag_id` (see the PostgreSQL twin).
    pub(super) async fn knows_dag(
        &self,
        company: &Company,
        dag_id: DagId,
    ) -> Result<bool, IndexError> {
        let mut conn = self.conn().await?;
        let runs: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM etl_logs WHERE id_company = ?1 AND dag_id = ?2 LIMIT 1",
        )
        .bind(company.as_str())
        .bind(dag_id.to_string())
        .fetch_optional(&mut *conn)
        .await?;
        if runs.is_some() {
            return Ok(true);
        }
        let entry: Result<Option<i32>, sqlx::Error> =
            sqlx::query_scalar("SELECT 1 FROM dags WHERE id_company = ?1 AND dag_id = ?2")
                .bind(company.as_str())
                .bind(dag_id.to_string())
                .fetch_optional(&mut *conn)
                .await;
        match entry {
            Ok(found) => Ok(found.is_some()),
            Err(sqlx::Error::Database(e)) => {
                tracing::warn!(error = %e, "cannot read the dags table (run `dagtrail migrate`); taking the DAG as unknown");
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// Fills the fleet tables from `etl_logs`, in the migration's transaction
/// (see the PostgreSQL twin).
pub(super) async fn rebuild(conn: &mut SqliteConnection) -> Result<(), IndexError> {
    let mut built = Rebuild::default();
    {
        let sql = format!("SELECT id_company, {} FROM etl_logs", *SUMMARY_COLUMNS);
        let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch(&mut *conn);
        while let Some(row) = rows.try_next().await? {
            built.add_row(row.try_get("id_company")?, &summary_from_row(&row)?);
        }
    }
    for stale in &built.durations {
        sqlx::query(
            "UPDATE etl_logs SET duration_ms = ?5 \
             WHERE id_company = ?1 AND dag_id = ?2 AND date = ?3 AND run_id = ?4",
        )
        .bind(stale.company.as_str())
        .bind(stale.dag_id.to_string())
        .bind(day(stale.date))
        .bind(stale.run_id.as_str())
        .bind(stale.duration_ms)
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query("DELETE FROM dag_days")
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "UPDATE dags SET first_seen = NULL, last_seen = NULL, runs = 0, last_date = NULL, \
         last_created_at = NULL, last_run_id = NULL, last_status = NULL, failure_date = NULL, \
         failure_created_at = NULL, failure_run_id = NULL, failure_phase = NULL, failure_message = NULL",
    )
    .execute(&mut *conn)
    .await?;
    for ((company, dag_id), state) in &built.dags {
        sqlx::query("INSERT INTO dags (id_company, dag_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING")
            .bind(company.as_str())
            .bind(dag_id.to_string())
            .execute(&mut *conn)
            .await?;
        write_state(conn, company, *dag_id, state).await?;
    }
    for ((company, dag_id, date), (runs, failed)) in &built.days {
        sqlx::query(
            "INSERT INTO dag_days (id_company, dag_id, date, runs, failed_runs) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .bind(company.as_str())
        .bind(dag_id.to_string())
        .bind(day(*date))
        .bind(runs)
        .bind(failed)
        .execute(&mut *conn)
        .await?;
    }
    built.report();
    Ok(())
}
