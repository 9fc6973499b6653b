//! Run search on PostgreSQL (contract 4.1, `GET /runs`): the filters as
//! SQL, the two ways to a page (the matches' keys, or a walk of the
//! newest-first index), keyset positions, and the partial status indexes
//! whose conditions are the filters' own SQL.

use chrono::NaiveDate;
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use super::{PostgresIndex, SUMMARY_COLUMNS, Shape, summary_from_row};
use crate::model::{Company, DagId, Phase};
use crate::runindex::{
    DEFAULT_SEARCH_COUNT_LIMIT, IndexError, RunPage, RunSearch, SUCCESS_PATH, StatusFilter, keyword,
};

/// Matches a search collects the keys of before it pages by walking the
/// newest-first index instead: as many as a search counts by default, so
/// the collection is that count.
const FEW: i64 = DEFAULT_SEARCH_COUNT_LIMIT as i64;

impl PostgresIndex {
    /// A page of a run search of the DAGs `dag_ids` (none: all).
    pub(super) async fn search(
        &self,
        company: &Company,
        dag_ids: &[DagId],
        search: &RunSearch,
    ) -> Result<RunPage, IndexError> {
        // PostgreSQL cannot estimate how many runs a keyword pattern matches
        // (it guesses a few hundred of a million), so left to itself it
        // answers a page of a common keyword by rechecking every match and
        // sorting them all: 37 s over a million runs. The search first
        // collects the keys of up to FEW matches, in no order, so the scan
        // stops at FEW + 1. Few matches: the page is those keys, sorted,
        // fetched by primary key. Many: the page walks the newest-first
        // index and stops when the page is full.
        //
        // A keyword's matches are collected from a bitmap of its trigram
        // index, which holds every candidate before the first is read:
        // 110 ms for a keyword of 30% of a million runs. So a keyword
        // search first walks PROBE runs of its order: when they are all
        // the runs, they give the answer; when they hold many matches, the
        // walk finds the page (and counts) without the bitmap.
        let shape = self.shape().await?;
        if !search.keywords.is_empty() && search.order.follows_the_date_index() {
            let probe = self.probe(company, dag_ids, search, shape).await?;
            if let Some(page) = self
                .page_from_probe(company, dag_ids, search, probe)
                .await?
            {
                return Ok(page);
            }
        }
        let keys: Vec<(Uuid, NaiveDate, String)> = match_keys("", company, dag_ids, search, shape)
            .build_query_as()
            .fetch_all(&mut *self.conn().await?)
            .await?;
        let found = i64::try_from(keys.len()).unwrap_or(i64::MAX);
        let (rows, counted, counted_up_to) = if found <= FEW {
            let rows = self.page_of_keys(company, &keys, search).await?;
            (rows, found, None)
        } else {
            self.walk_newest_first(company, dag_ids, search, Some(found))
                .await?
        };
        page_of(&rows, counted, counted_up_to, search)
    }

    /// The first PROBE runs of a search's order (from its cursor, if any)
    /// that pass its filters but the keywords: their keys, and whether
    /// each matches the keywords.
    async fn probe(
        &self,
        company: &Company,
        dag_ids: &[DagId],
        search: &RunSearch,
        shape: Shape,
    ) -> Result<Vec<Probed>, sqlx::Error> {
        // A phase the run lacks has no text: NULL, no match.
        let mut q = QueryBuilder::new("SELECT dag_id, date, run_id, COALESCE(TRUE");
        push_keywords(&mut q, search, shape);
        q.push(", FALSE) AS hit FROM etl.logs");
        push_filters_but_keywords(&mut q, company, dag_ids, search);
        push_after(&mut q, search);
        q.push(format!(" ORDER BY {} LIMIT ", search.order.sql("")))
            .push_bind(PROBE);
        let mut tx = sqlx::Transaction::begin(self.conn().await?, None).await?;
        walk_the_index(&mut tx).await?;
        let probed = q.build_query_as().fetch_all(&mut *tx).await?;
        tx.commit().await?;
        Ok(probed)
    }

    /// The page a probe settles, or `None` when the keys of the matches
    /// are to be collected: the probe saw every run of the search (no
    /// cursor: its matches are all the matches), or found the keyword
    /// common (COMMON_HITS of PROBE runs: the walk of the page reads a few
    /// runs per match, and the count stops past its limit).
    async fn page_from_probe(
        &self,
        company: &Company,
        dag_ids: &[DagId],
        search: &RunSearch,
        probe: Vec<Probed>,
    ) -> Result<Option<RunPage>, IndexError> {
        let seen = i64::try_from(probe.len()).unwrap_or(i64::MAX);
        let keys: Vec<(Uuid, NaiveDate, String)> = probe
            .into_iter()
            .filter(|p| p.3)
            .map(|p| (p.0, p.1, p.2))
            .collect();
        if seen < PROBE && search.after.is_none() {
            let found = i64::try_from(keys.len()).unwrap_or(i64::MAX);
            let rows = self.page_of_keys(company, &keys, search).await?;
            return page_of(&rows, found, None, search).map(Some);
        }
        if keys.len() >= COMMON_HITS {
            let (rows, counted, counted_up_to) = self
                .walk_newest_first(company, dag_ids, search, None)
                .await?;
            return page_of(&rows, counted, counted_up_to, search).map(Some);
        }
        Ok(None)
    }

    /// The page (with one run more, for `has_more`) out of a search's
    /// matching keys: sorted by the database, so the order is its own
    /// (`run_id` compares by the database's collation), then fetched by
    /// primary key.
    async fn page_of_keys(
        &self,
        company: &Company,
        keys: &[(Uuid, NaiveDate, String)],
        search: &RunSearch,
    ) -> Result<Vec<sqlx::postgres::PgRow>, sqlx::Error> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let dags: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let dates: Vec<NaiveDate> = keys.iter().map(|k| k.1).collect();
        let run_ids: Vec<&str> = keys.iter().map(|k| k.2.as_str()).collect();
        let mut page = QueryBuilder::new(format!(
            "SELECT {} FROM {runs} l JOIN ( \
               SELECT dag_id, date, run_id FROM {runs} AS r WHERE id_company = ",
            *SUMMARY_COLUMNS,
            runs = self.runs_source().await?,
        ));
        page.push_bind(company.as_str())
            .push(" AND (dag_id, date, run_id) IN (SELECT * FROM unnest(")
            .push_bind(dags)
            .push("::uuid[], ")
            .push_bind(dates)
            .push("::date[], ")
            .push_bind(run_ids)
            .push("::text[]))");
        push_after(&mut page, search);
        page.push(format!(" ORDER BY {} LIMIT ", search.order.sql("")))
            .push_bind(i64::from(search.limit) + 1)
            .push(" OFFSET ")
            .push_bind(search.sql_offset())
            .push(") AS page USING (dag_id, date, run_id) WHERE l.id_company = ")
            .push_bind(company.as_str())
            .push(format!(" ORDER BY {}", search.order.sql("l.")));
        page.build().fetch_all(&mut *self.conn().await?).await
    }

    /// The page of a search with many matches, walking the newest-first
    /// index until the page is full, and the count as far as the search
    /// asks: (rows, count, counted up to). `found` is FEW + 1 when the
    /// keys collected say "more than FEW"; `None` when nothing was counted
    /// yet (a common keyword's probe).
    async fn walk_newest_first(
        &self,
        company: &Company,
        dag_ids: &[DagId],
        search: &RunSearch,
        found: Option<i64>,
    ) -> Result<(Vec<sqlx::postgres::PgRow>, i64, Option<u64>), sqlx::Error> {
        let shape = self.shape().await?;
        let mut page = QueryBuilder::new(format!(
            "SELECT {} FROM {} AS r",
            *SUMMARY_COLUMNS, shape.source
        ));
        push_filters(&mut page, company, dag_ids, search, shape);
        push_after(&mut page, search);
        page.push(format!(" ORDER BY {} LIMIT ", search.order.sql("")))
            .push_bind(i64::from(search.limit) + 1)
            .push(" OFFSET ")
            .push_bind(search.sql_offset());
        let walks = search.order.follows_the_date_index();
        let walk = async {
            let mut tx = sqlx::Transaction::begin(self.conn().await?, None).await?;
            // Another order has no index to walk: the matches are sorted
            // (a top-N sort, bounded by the date range of one DAG).
            if walks {
                walk_the_index(&mut tx).await?;
            }
            let rows = page.build().fetch_all(&mut *tx).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(rows)
        };
        // FEW + 1 keys already say "more than FEW"; count further only when
        // the search asks to (no limit, or a limit above FEW).
        let (count_further, counted_up_to) = match (found, search.count_limit) {
            (Some(_), Some(cap)) if cap <= FEW as u64 => (false, Some(FEW as u64)),
            (_, limit) => (true, limit),
        };
        let count = async {
            if !count_further {
                return Ok(found.unwrap_or(0));
            }
            let mut count = QueryBuilder::new("SELECT count(*) FROM (SELECT 1 FROM etl.logs");
            push_filters(&mut count, company, dag_ids, search, shape);
            let mut tx = sqlx::Transaction::begin(self.conn().await?, None).await?;
            if let Some(cap) = counted_up_to {
                // Up to a limit, along the index too: the walk stops at
                // the limit's match, where a bitmap would first gather
                // every candidate.
                if walks {
                    count.push(format!(" ORDER BY {}", search.order.sql("")));
                    walk_the_index(&mut tx).await?;
                }
                count
                    .push(" LIMIT ")
                    .push_bind(i64::try_from(cap.saturating_add(1)).unwrap_or(i64::MAX));
            }
            count.push(") AS matching");
            let counted = count
                .build_query_scalar::<i64>()
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(counted)
        };
        // Concurrent, yet never holding one connection while waiting for
        // another (the page returns its connection when done; the count
        // holds none while it waits), so a small pool cannot deadlock.
        let (rows, counted) = tokio::try_join!(walk, count)?;
        Ok((rows, counted, counted_up_to))
    }
}

/// Runs a keyword search walks first ([`PostgresIndex::probe`]): a few
/// milliseconds of rechecks at most.
const PROBE: i64 = 256;
/// Matches among PROBE runs that make a keyword common enough to page by
/// walking (1 run in 8): the walk then reads about 8 runs per match.
const COMMON_HITS: usize = 32;

/// A probed run: its key and whether it matches the keywords.
type Probed = (Uuid, NaiveDate, String, bool);

/// Makes the transaction's statements walk the newest-first index in
/// order (backwards for oldest first), never a bitmap of every match nor
/// a sort of them.
async fn walk_the_index(tx: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(
        "SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off; SET LOCAL jit = off",
    )
    .execute(tx)
    .await
    .map(drop)
}

/// A search's page out of its rows and count.
fn page_of(
    rows: &[sqlx::postgres::PgRow],
    counted: i64,
    counted_up_to: Option<u64>,
    search: &RunSearch,
) -> Result<RunPage, IndexError> {
    let items = rows
        .iter()
        .map(summary_from_row)
        .collect::<Result<_, _>>()?;
    Ok(RunPage::new(items, counted, counted_up_to, search))
}

/// `{prefix}SELECT dag_id, date, run_id` of up to FEW + 1 runs matching a
/// search of the DAGs `dag_ids` (none: all), in no order: the statement a
/// search starts with (the bench EXPLAINs it with a prefix, so that it
/// shows the plan of exactly this statement).
pub fn match_keys(
    prefix: &str,
    company: &Company,
    dag_ids: &[DagId],
    search: &RunSearch,
    shape: Shape,
) -> QueryBuilder<Postgres> {
    let mut keys = QueryBuilder::new(format!("{prefix}SELECT dag_id, date, run_id FROM etl.logs"));
    push_filters(&mut keys, company, dag_ids, search, shape);
    keys.push(" LIMIT ").push_bind(FEW + 1);
    keys
}

/// ` AND <key> </> (<the key of search.after>)`: the keyset condition of
/// a page that continues a cursor.
fn push_after(q: &mut QueryBuilder<Postgres>, search: &RunSearch) {
    use crate::runindex::search::KeyColumn;
    let Some(after) = &search.after else {
        return;
    };
    let order = search.order;
    q.push(format!(" AND {}", order.after_sql("")));
    let mut values = q.separated(", ");
    for column in order.key_columns() {
        match column {
            KeyColumn::Duration => values
                .push_bind(after.duration_ms.unwrap_or(order.missing_duration()))
                .push_unseparated("::bigint"),
            KeyColumn::Date => values.push_bind(after.date),
            KeyColumn::CreatedAt => values.push_bind(after.created_at),
            KeyColumn::DagId => values.push_bind(after.dag_id.0),
            KeyColumn::RunId => values.push_bind(after.run_id.clone()),
        };
    }
    q.push(")");
}

/// The SQL condition of one phase's status filter (`None` for `all`).
fn status_sql(phase: Phase, status: StatusFilter) -> Option<String> {
    let path = success_path(phase);
    match status {
        StatusFilter::Success => Some(format!("{path} = 'true'::jsonb")),
        StatusFilter::Failed => Some(format!("{path} = 'false'::jsonb")),
        StatusFilter::Pending => Some(format!("COALESCE({path}, 'null'::jsonb) = 'null'::jsonb")),
        StatusFilter::All => None,
    }
}

/// The partial indexes of the rare statuses (schema version 4,
/// [`super::search::rare_statuses`]): (name, definition after `ON
/// etl.logs`).
pub(super) fn status_indexes() -> Vec<(String, String)> {
    crate::runindex::search::rare_statuses(status_sql, run_status_sql)
        .into_iter()
        .map(|(name, condition)| {
            (
                format!("logs_{name}"),
                format!(
                    "(id_company, dag_id, date DESC, created_at DESC, run_id DESC) WHERE {condition}"
                ),
            )
        })
        .collect()
}

fn push_filters(
    q: &mut QueryBuilder<Postgres>,
    company: &Company,
    dag_ids: &[DagId],
    search: &RunSearch,
    shape: Shape,
) {
    push_filters_but_keywords(q, company, dag_ids, search);
    push_keywords(q, search, shape);
}

/// ` AND <phase text> ~ <pattern>` for each keyword.
fn push_keywords(q: &mut QueryBuilder<Postgres>, search: &RunSearch, shape: Shape) {
    for (phase, kw) in search.active_keywords() {
        // The phase's text column (version 4), else the expression it
        // holds: each is what a trigram index of its version is on.
        if shape.texts {
            q.push(format!(" AND {phase}_text ~ "));
        } else {
            q.push(format!(" AND ((log->'{phase}')::text) ~ "));
        }
        q.push_bind(keyword::postgres_contains(kw));
    }
}

/// ` WHERE` and every filter of a search but its keywords.
fn push_filters_but_keywords(
    q: &mut QueryBuilder<Postgres>,
    company: &Company,
    dag_ids: &[DagId],
    search: &RunSearch,
) {
    q.push(" WHERE id_company = ").push_bind(company.as_str());
    match dag_ids {
        [] => {}
        // One DAG: the plan of the contract's endpoint, on the DAG's index.
        [one] => {
            q.push(" AND dag_id = ").push_bind(one.0);
        }
        several => {
            let ids: Vec<Uuid> = several.iter().map(|d| d.0).collect();
            q.push(" AND dag_id = ANY(").push_bind(ids).push(")");
        }
    }
    q.push(" AND date >= ")
        .push_bind(search.date_from)
        .push(" AND date <= ")
        .push_bind(search.date_to);
    for condition in crate::runindex::search::status_conditions(search, status_sql, run_status_sql)
    {
        q.push(format!(" AND {condition}"));
    }
    if let Some(t) = search.created_from {
        q.push(" AND created_at >= ").push_bind(t);
    }
    if let Some(t) = search.created_to {
        q.push(" AND created_at <= ").push_bind(t);
    }
    if let Some(t) = search.updated_since {
        q.push(" AND updated_at >= ").push_bind(t);
    }
    if !search.run_ids.is_empty() {
        q.push(" AND run_id = ANY(")
            .push_bind(&search.run_ids)
            .push(")");
    }
}

/// `log`'s path to a phase's `status.success`.
fn success_path(phase: Phase) -> String {
    format!("(log #> '{{{phase},{}}}')", SUCCESS_PATH.join(","))
}

/// The SQL condition of a run-level status, by the rule of
/// [`RunStatus::of`](crate::runindex::fleet::RunStatus::of): a phase is
/// present when its object is not absent or JSON null, pending when
/// present without a boolean `success`.
fn run_status_sql(status: crate::runindex::fleet::RunStatus) -> String {
    use crate::runindex::fleet::RunStatus;
    let each = |f: &dyn Fn(Phase) -> String, joiner: &str| Phase::ALL.map(f).join(joiner);
    let failed = each(
        &|p| format!("COALESCE({} = 'false'::jsonb, false)", success_path(p)),
        " OR ",
    );
    let present = |p: Phase| format!("COALESCE(jsonb_typeof(log -> '{p}'), 'null') <> 'null'");
    let pending = each(
        &|p| {
            format!(
                "({} AND COALESCE({}, 'null'::jsonb) NOT IN ('true'::jsonb, 'false'::jsonb))",
                present(p),
                success_path(p)
            )
        },
        " OR ",
    );
    let any_present = each(&present, " OR ");
    match status {
        RunStatus::Failed => format!("({failed})"),
        RunStatus::Running => format!("(NOT ({failed}) AND ({pending}))"),
        RunStatus::Succeeded => format!("(NOT ({failed}) AND NOT ({pending}) AND ({any_present}))"),
    }
}
