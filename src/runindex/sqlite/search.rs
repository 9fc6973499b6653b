//! The SQL of a run search on SQLite: filters, statuses, the keyset
//! cursor's condition, and the indexes that serve them.

use serde_json::Value;
use sqlx::{QueryBuilder, Sqlite};

use crate::model::{Company, DagId, Phase};
use crate::runindex::{RunSearch, SUCCESS_PATH, StatusFilter, keyword, sqlite_timestamp};

/// The SQL condition of a run-level status (see the PostgreSQL twin):
/// `json_type` tells JSON `true`, `false` and `null` apart, and is NULL
/// for an absent path.
pub(super) fn run_status_sql(status: crate::runindex::fleet::RunStatus) -> String {
    use crate::runindex::fleet::RunStatus;
    let success = |p: Phase| format!("json_type(log, '$.{p}.{}')", SUCCESS_PATH.join("."));
    let present = |p: Phase| format!("COALESCE(json_type(log, '$.{p}'), 'null') <> 'null'");
    let failed = Phase::ALL
        .map(|p| format!("COALESCE({} = 'false', 0)", success(p)))
        .join(" OR ");
    let pending = Phase::ALL
        .map(|p| {
            format!(
                "({} AND COALESCE({}, 'null') NOT IN ('true', 'false'))",
                present(p),
                success(p)
            )
        })
        .join(" OR ");
    let any_present = Phase::ALL.map(present).join(" OR ");
    match status {
        RunStatus::Failed => format!("({failed})"),
        RunStatus::Running => format!("(NOT ({failed}) AND ({pending}))"),
        RunStatus::Succeeded => format!("(NOT ({failed}) AND NOT ({pending}) AND ({any_present}))"),
    }
}

/// ` AND <key> </> (<the key of search.after>)`: the keyset condition of
/// a page that continues a cursor (values as the table stores them).
pub(super) fn push_after(q: &mut QueryBuilder<Sqlite>, search: &RunSearch) {
    use crate::runindex::search::KeyColumn;
    let Some(after) = &search.after else {
        return;
    };
    let order = search.order;
    q.push(format!(" AND {}", order.after_sql("")));
    let mut values = q.separated(", ");
    for column in order.key_columns() {
        match column {
            KeyColumn::Duration => {
                values.push_bind(after.duration_ms.unwrap_or(order.missing_duration()))
            }
            KeyColumn::Date => values.push_bind(after.date.format("%Y-%m-%d").to_string()),
            KeyColumn::CreatedAt => values.push_bind(sqlite_timestamp(after.created_at)),
            KeyColumn::DagId => values.push_bind(after.dag_id.to_string()),
            KeyColumn::RunId => values.push_bind(after.run_id.clone()),
        };
    }
    q.push(")");
}

/// The SQL condition of one phase's status filter (`None` for `all`).
/// json_type tells JSON true and false from the numbers 1 and 0 (as
/// PostgreSQL's jsonb comparison does); JSON null and an absent path are
/// pending.
pub(super) fn status_sql(phase: Phase, status: StatusFilter) -> Option<String> {
    let path = format!("json_type(log, '$.{phase}.{}')", SUCCESS_PATH.join("."));
    match status {
        StatusFilter::Success => Some(format!("{path} = 'true'")),
        StatusFilter::Failed => Some(format!("{path} = 'false'")),
        StatusFilter::Pending => Some(format!("COALESCE({path}, 'null') = 'null'")),
        StatusFilter::All => None,
    }
}

/// The partial indexes of the rare statuses (schema version 4,
/// [`crate::runindex::search::rare_statuses`]).
pub(super) fn status_indexes() -> Vec<String> {
    crate::runindex::search::rare_statuses(status_sql, run_status_sql)
        .into_iter()
        .map(|(name, condition)| {
            format!(
                "CREATE INDEX IF NOT EXISTS etl_logs_{name} ON etl_logs \
                 (id_company, dag_id, date DESC, created_at DESC, run_id DESC) WHERE {condition}"
            )
        })
        .collect()
}

pub(super) fn push_filters(
    q: &mut QueryBuilder<Sqlite>,
    company: &Company,
    dag_ids: &[DagId],
    search: &RunSearch,
) {
    q.push(" WHERE id_company = ").push_bind(company.as_str());
    match dag_ids {
        [] => {}
        [one] => {
            q.push(" AND dag_id = ").push_bind(one.to_string());
        }
        several => {
            let list = Value::from(several.iter().map(ToString::to_string).collect::<Vec<_>>())
                .to_string();
            q.push(" AND dag_id IN (SELECT value FROM json_each(")
                .push_bind(list)
                .push("))");
        }
    }
    q.push(" AND date >= ")
        .push_bind(search.date_from.format("%Y-%m-%d").to_string())
        .push(" AND date <= ")
        .push_bind(search.date_to.format("%Y-%m-%d").to_string());
    for condition in crate::runindex::search::status_conditions(search, status_sql, run_status_sql)
    {
        q.push(format!(" AND {condition}"));
    }
    if let Some(t) = search.created_from {
        q.push(" AND created_at >= ").push_bind(sqlite_timestamp(t));
    }
    if let Some(t) = search.created_to {
        q.push(" AND created_at <= ").push_bind(sqlite_timestamp(t));
    }
    if let Some(t) = search.updated_since {
        q.push(" AND updated_at >= ").push_bind(sqlite_timestamp(t));
    }
    for (phase, kw) in search.active_keywords() {
        q.push(format!(" AND (log -> '$.{}') REGEXP ", phase.as_str()))
            .push_bind(keyword::sqlite_contains(kw));
    }
    if !search.run_ids.is_empty() {
        let list = Value::from(search.run_ids.clone()).to_string();
        q.push(" AND run_id IN (SELECT value FROM json_each(")
            .push_bind(list)
            .push("))");
    }
}
