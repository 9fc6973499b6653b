//! Run search at scale, on both backends (issue 13, section 3): for each
//! size, one DAG's runs over a year with 3 to 20 inline rows per phase,
//! bulk-loaded by SQL into a database of its own, then:
//!
//! - the text index built as the migration to version 4 builds it (time,
//!   and its size beside the table's);
//! - a rare keyword (7 runs hold `NEEDLE-7`) with the text index, and the
//!   same search without it (SQLite: the statement of version 3, a scan;
//!   PostgreSQL: index scans switched off);
//! - a common keyword (`priority`, 30% of runs): page 0, and page 200
//!   reached by the cursor (and by `page=200`, for comparison);
//! - a status filter over the year (`extract_status=failed`, 1 run in 17);
//! - `GET /dags` over 1,000 DAGs with a year of days each.
//!
//! Times are p50 of the run index's own call (what a request spends in
//! it; the HTTP layer adds well under a millisecond, see the artifact
//! scenarios' run summary).

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use chrono::NaiveDate;
use sqlx::Row;
use uuid::Uuid;

use dagtrail::model::{Company, DagId, Phase};
use dagtrail::runindex::fleet::{DagQuery, DagSort};
use dagtrail::runindex::postgres::{PostgresIndex, match_keys};
use dagtrail::runindex::sqlite::SqliteIndex;
use dagtrail::runindex::{
    DEFAULT_SEARCH_COUNT_LIMIT, IndexOptions, RunIndex, RunSearch, StatusFilter, keyword,
};

const DAG: Uuid = Uuid::from_u128(0x6265_6e63_685f_7275_6e73_0000_0000_0001);
const RARE: &str = "needle-7";
const COMMON: &str = "priority";
/// Pages walked by the cursor before the deep page is timed.
const DEEP: u32 = 200;
/// DAGs of the fleet scenario.
const FLEET_DAGS: i64 = 1_000;

fn company() -> anyhow::Result<Company> {
    Ok(Company::new("bench-runs")?)
}

fn year() -> RunSearch {
    RunSearch::new(
        NaiveDate::from_ymd_opt(2025, 1, 1).unwrap_or_default(),
        NaiveDate::from_ymd_opt(2025, 12, 31).unwrap_or_default(),
    )
}

fn keyword_search(keyword: &str) -> RunSearch {
    let mut search = year();
    search.keywords = vec![(Phase::Extract, keyword.to_owned())];
    search.count_limit = Some(DEFAULT_SEARCH_COUNT_LIMIT);
    search
}

/// p50 in milliseconds of `reps` searches (after one to warm up), and the
/// last answer's total.
async fn p50(index: &dyn RunIndex, search: &RunSearch, reps: usize) -> anyhow::Result<(f64, u64)> {
    let company = company()?;
    let mut total = index
        .search_runs(&company, &[DagId(DAG)], search)
        .await?
        .total;
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps {
        let started = Instant::now();
        total = index
            .search_runs(&company, &[DagId(DAG)], search)
            .await?
            .total;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok((median(times), total))
}

fn median(mut times: Vec<f64>) -> f64 {
    times.sort_by(|a, b| a.total_cmp(b));
    times.get(times.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The search positioned at page [`DEEP`] by walking the cursor there.
async fn deep_by_cursor(index: &dyn RunIndex, search: &RunSearch) -> anyhow::Result<RunSearch> {
    let company = company()?;
    let mut at = search.clone();
    for _ in 0..DEEP {
        let page = index.search_runs(&company, &[DagId(DAG)], &at).await?;
        at.after = Some(
            page.next_key()
                .context("the walk ended before the deep page")?,
        );
        at.page += 1;
    }
    Ok(at)
}

/// The timed searches of one data set: one table row per scenario, the
/// no-index time of the rare keyword given by `without_index`.
async fn scenarios(
    index: &dyn RunIndex,
    runs: u64,
    reps: usize,
    without_index: f64,
) -> anyhow::Result<Vec<String>> {
    let mut rows = Vec::new();
    let rare = keyword_search(RARE);
    let (with_index, matches) = p50(index, &rare, reps).await?;
    rows.push(format!(
        "| {runs} | rare keyword `{RARE}` | {matches} | {with_index:.1} | {without_index:.0} ({:.0}× faster) |",
        without_index / with_index
    ));
    let common = keyword_search(COMMON);
    let (first, total) = p50(index, &common, reps).await?;
    rows.push(format!(
        "| {runs} | common keyword `{COMMON}`, page 0 | {total}{} | {first:.1} | |",
        if total >= DEFAULT_SEARCH_COUNT_LIMIT {
            "+"
        } else {
            ""
        }
    ));
    let deep = deep_by_cursor(index, &common).await?;
    let (by_cursor, _) = p50(index, &deep, reps).await?;
    let mut by_offset = common.clone();
    by_offset.page = DEEP;
    let (offset, _) = p50(index, &by_offset, reps).await?;
    rows.push(format!(
        "| {runs} | common keyword, page {DEEP} by cursor (by `page={DEEP}`) | | {by_cursor:.1} ({offset:.1}) | |"
    ));
    let mut failed = year();
    failed.statuses = vec![(Phase::Extract, StatusFilter::Failed)];
    failed.count_limit = Some(DEFAULT_SEARCH_COUNT_LIMIT);
    let (status, total) = p50(index, &failed, reps).await?;
    rows.push(format!(
        "| {runs} | `extract_status=failed` over the year | {total}{} | {status:.1} | |",
        if total >= DEFAULT_SEARCH_COUNT_LIMIT {
            "+"
        } else {
            ""
        }
    ));
    let fleet = Company::new("bench-fleet")?;
    let query = DagQuery {
        sort: DagSort::Failures,
        ..DagQuery::since(NaiveDate::from_ymd_opt(2025, 12, 24).unwrap_or_default())
    };
    let mut times = Vec::new();
    let mut listed = index.list_dags(&fleet, &query).await?.len();
    for _ in 0..reps {
        let started = Instant::now();
        listed = index.list_dags(&fleet, &query).await?.len();
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    rows.push(format!(
        "| {runs} | `GET /dags`, sort `-failures` | {listed} DAGs | {:.1} | |",
        median(times)
    ));
    Ok(rows)
}

fn header() -> Vec<String> {
    vec![
        "| runs | search | matches | p50 (ms) | without the text index (ms) |".to_owned(),
        "|---:|---|---:|---:|---:|".to_owned(),
    ]
}

/// Inserts runs `0..runs` with `insert(first, last)` (inclusive), in
/// chunks of 50,000, printing progress.
async fn load_in_chunks<F, Fut>(
    what: &str,
    have: i64,
    runs: u64,
    mut insert: F,
) -> anyhow::Result<()>
where
    F: FnMut(i64, i64) -> Fut,
    Fut: std::future::Future<Output = Result<(), sqlx::Error>>,
{
    let mut start = u64::try_from(have).unwrap_or(0);
    if start >= runs {
        return Ok(());
    }
    eprintln!("bench: loading {runs} runs into {what}...");
    while start < runs {
        let end = (start + 50_000).min(runs);
        insert(start as i64, end as i64 - 1).await?;
        start = end;
        eprintln!("bench:   {start}/{runs}");
    }
    Ok(())
}

/// The first data row of extract holds `NEEDLE-7` in 7 runs (`step` =
/// runs / 7 apart); every row of 30% of runs holds `priority`.
fn ref_case(phase: &str, step: u64) -> String {
    if phase == "extract" {
        format!(
            "CASE WHEN k = 1 AND i % {step} = 0 AND i / {step} < 7 THEN 'NEEDLE-7' \
             ELSE 'REF-' || ((i * 7919 + k * 104729) % 1000003) END"
        )
    } else {
        "'REF-' || ((i * 7919 + k * 104729) % 1000003)".to_owned()
    }
}

fn pg_phase(phase: &str, step: u64) -> String {
    format!(
        "jsonb_build_object('status', jsonb_build_object('success', i % 17 <> 0, 'message', '{phase} ' || (i % 5000) || ' rows from orders', 'total', 3 + i % 18), \
         's3_data_path', 's3://bench/acme/runs/' || i || '/{phase}/attempt=1/', 'attempt', 1, \
         'started_at', '2026-01-01T00:00:00.000Z', 'finished_at', '2026-01-01T00:01:00.000Z', \
         'data', (SELECT jsonb_agg(jsonb_build_object('order_id', i * 1000 + k, \
                   'customer', (ARRAY['Zoë Müller','José Núñez','Acme Corp','Søren Kierkegård','Ōsaka Shōji'])[1 + (i + k) % 5], \
                   'ref', {}, 'tier', CASE WHEN i % 10 < 3 THEN 'priority' ELSE 'standard' END, \
                   'amount', ((i + k) % 100000) / 100.0)) \
                  FROM generate_series(1, 3 + (i % 18)::int) k))",
        ref_case(phase, step)
    )
}

fn sqlite_phase(phase: &str, step: u64) -> String {
    format!(
        "json_object('status', json_object('success', json(CASE WHEN i % 17 <> 0 THEN 'true' ELSE 'false' END), \
           'message', '{phase} ' || (i % 5000) || ' rows from orders', 'total', 3 + i % 18), \
         's3_data_path', 's3://bench/acme/runs/' || i || '/{phase}/attempt=1/', 'attempt', 1, \
         'started_at', '2026-01-01T00:00:00.000Z', 'finished_at', '2026-01-01T00:01:00.000Z', \
         'data', (SELECT json_group_array(json_object('order_id', i * 1000 + k, \
                   'customer', CASE (i + k) % 5 WHEN 0 THEN 'Zoë Müller' WHEN 1 THEN 'José Núñez' WHEN 2 THEN 'Acme Corp' \
                                 WHEN 3 THEN 'Søren Kierkegård' ELSE 'Ōsaka Shōji' END, \
                   'ref', {}, 'tier', CASE WHEN i % 10 < 3 THEN 'priority' ELSE 'standard' END, \
                   'amount', ((i + k) % 100000) / 100.0)) \
                  FROM ks WHERE k <= 3 + i % 18))",
        ref_case(phase, step)
    )
}

/// The fleet scenario's DAGs: 1,000 named DAGs, a day row for each day of
/// 2025, and a newest run each (PostgreSQL SQL; `sqlite` for SQLite's).
fn fleet_sql(sqlite: bool) -> [String; 3] {
    let (series, uuid, date, day, failed) = if sqlite {
        (
            format!(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {FLEET_DAGS})"
            ),
            "printf('00000000-0000-4000-8000-%012d', i)",
            "date('2025-01-01', '+' || (d % 365) || ' days')",
            ", days(d) AS (SELECT 0 UNION ALL SELECT d + 1 FROM days WHERE d < 364)",
            "((i + d) % 3 = 0)",
        )
    } else {
        (
            format!("WITH n AS (SELECT generate_series(1, {FLEET_DAGS}) AS i)"),
            "('00000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid",
            "DATE '2025-01-01' + d",
            ", days AS (SELECT generate_series(0, 364) AS d)",
            "((i + d) % 3 = 0)::int",
        )
    };
    let (dags, days, logs) = if sqlite {
        ("dags", "dag_days", "etl_logs")
    } else {
        ("etl.dags", "etl.dag_days", "etl.logs")
    };
    let last = if sqlite {
        "'2025-12-31'"
    } else {
        "DATE '2025-12-31'"
    };
    let ts = if sqlite {
        "'2025-12-31T06:00:00.000000Z'"
    } else {
        "TIMESTAMPTZ '2025-12-31 06:00:00+00'"
    };
    let log = if sqlite {
        "'{\"extract\": {\"status\": {\"success\": false, \"message\": \"boom\"}}}'"
    } else {
        "'{\"extract\": {\"status\": {\"success\": false, \"message\": \"boom\"}}}'::jsonb"
    };
    [
        format!(
            "{series} INSERT INTO {dags} (id_company, dag_id, name, first_seen, last_seen, runs, last_date, last_created_at, last_run_id, last_status) \
             SELECT 'bench-fleet', {uuid}, 'dag_' || i, {ts}, {ts}, 365, {last}, {ts}, 'scheduled__last', 'failed' FROM n"
        ),
        format!(
            "{series}{day} INSERT INTO {days} (id_company, dag_id, date, runs, failed_runs) \
             SELECT 'bench-fleet', {uuid}, {date}, 1, {failed} FROM n, days"
        ),
        format!(
            "{series} INSERT INTO {logs} (id_company, dag_id, date, run_id, log, created_at, updated_at) \
             SELECT 'bench-fleet', {uuid}, {last}, 'scheduled__last', {log}, {ts}, {ts} FROM n"
        ),
    ]
}

/// Measures the embedded default, a file per size in `dir`.
///
/// # Errors
///
/// When a file cannot be made or a query fails.
pub async fn measure_sqlite(dir: &Path, sizes: &[u64], reps: usize) -> anyhow::Result<Vec<String>> {
    let mut lines = header();
    let mut notes = Vec::new();
    for &runs in sizes {
        let path = dir.join(format!("runs-{runs}.db"));
        let url = format!("sqlite://{}", path.display());
        let index = SqliteIndex::connect(&url, &IndexOptions::default())
            .await
            .context("cannot open the bench SQLite file")?;
        let have: i64 =
            sqlx::query_scalar("SELECT count(*) FROM etl_logs WHERE id_company = 'bench-runs'")
                .fetch_one(index.pool())
                .await?;
        let step = (runs / 7).max(1);
        let sql = format!(
            "WITH RECURSIVE n(i) AS (SELECT ?3 UNION ALL SELECT i + 1 FROM n WHERE i < ?4), \
               ks(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM ks WHERE k < 20) \
             INSERT OR IGNORE INTO etl_logs (id_company, dag_id, date, run_id, log, created_at, updated_at) \
             SELECT ?1, ?2, date('2025-01-01', '+' || (i % 365) || ' days'), 'scheduled__' || i, \
               json_object('event', json({}), 'extract', json({}), 'transform', json({}), 'load', json({})), \
               strftime('%Y-%m-%dT%H:%M:%S.000000Z', '2025-01-01', '+' || i || ' seconds'), \
               strftime('%Y-%m-%dT%H:%M:%S.000000Z', '2025-01-01', '+' || i || ' seconds') \
             FROM n",
            sqlite_phase("event", step),
            sqlite_phase("extract", step),
            sqlite_phase("transform", step),
            sqlite_phase("load", step)
        );
        let loaded = have == 0;
        let pool = index.pool().clone();
        load_in_chunks("SQLite", have, runs, |first, last| {
            let query = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind("bench-runs")
                .bind(DAG.to_string())
                .bind(first)
                .bind(last);
            let pool = pool.clone();
            async move { query.execute(&pool).await.map(drop) }
        })
        .await?;
        if loaded {
            for statement in fleet_sql(true) {
                sqlx::query(sqlx::AssertSqlSafe(statement))
                    .execute(index.pool())
                    .await?;
            }
            sqlx::query("ANALYZE").execute(index.pool()).await?;
            // As a version 3 file is brought to 4: the text index is built.
            sqlx::raw_sql("DELETE FROM dagtrail_schema; INSERT INTO dagtrail_schema VALUES (3)")
                .execute(index.pool())
                .await?;
            let started = Instant::now();
            index.migrate().await?;
            notes.push(format!(
                "- {runs} runs: text index built in {:.0} s (the migration to version 4).",
                started.elapsed().as_secs_f64()
            ));
        }
        let sizes: Vec<(String, i64)> =
            sqlx::query_as("SELECT name, sum(pgsize) FROM dbstat GROUP BY name")
                .fetch_all(index.pool())
                .await?;
        let size = |pred: &dyn Fn(&str) -> bool| -> f64 {
            sizes
                .iter()
                .filter(|(n, _)| pred(n))
                .map(|(_, b)| *b)
                .sum::<i64>() as f64
                / 1e6
        };
        notes.push(format!(
            "- {runs} runs: table `etl_logs` {:.0} MB, text index (`etl_logs_text*` and `text_id`'s index) {:.0} MB.",
            size(&|n| n == "etl_logs"),
            size(&|n| n.starts_with("etl_logs_text"))
        ));
        // The search of version 3: the same statement without the text
        // index's candidates, a scan of the DAG's year.
        let started = Instant::now();
        let without: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT 1 FROM etl_logs WHERE id_company = ?1 AND dag_id = ?2 \
             AND date >= '2025-01-01' AND date <= '2025-12-31' AND (log -> '$.extract') REGEXP ?3 LIMIT 1001)",
        )
        .bind("bench-runs")
        .bind(DAG.to_string())
        .bind(keyword::sqlite_contains(RARE))
        .fetch_one(index.pool())
        .await?;
        let without_ms = started.elapsed().as_secs_f64() * 1000.0;
        anyhow::ensure!(
            without == 7,
            "the scan found {without} runs with {RARE}, not 7"
        );
        lines.extend(scenarios(&index, runs, reps, without_ms).await?);
    }
    lines.push(String::new());
    lines.extend(notes);
    Ok(lines)
}

/// Measures PostgreSQL, a database per size beside the one `url` names
/// (its role must be allowed to create databases).
///
/// # Errors
///
/// When a database cannot be made or a query fails.
pub async fn measure_postgres(
    url: &str,
    sizes: &[u64],
    reps: usize,
) -> anyhow::Result<Vec<String>> {
    let admin = sqlx::PgPool::connect(url)
        .await
        .context("cannot connect to the bench database")?;
    let mut lines = header();
    let mut notes = Vec::new();
    for &runs in sizes {
        let name = format!("dagtrail_bench_runs_{runs}");
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(&name)
                .fetch_one(&admin)
                .await?;
        if !exists {
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&admin)
                .await?;
        }
        let mut own = url::Url::parse(url)?;
        own.set_path(&format!("/{name}"));
        let options = IndexOptions {
            max_connections: 4,
            ..IndexOptions::default()
        };
        let index = PostgresIndex::connect(own.as_str(), &options)
            .await
            .context("cannot open the bench database")?;
        let have: i64 =
            sqlx::query_scalar("SELECT count(*) FROM etl.logs WHERE id_company = 'bench-runs'")
                .fetch_one(index.pool())
                .await?;
        let loaded = have == 0;
        if loaded {
            // Trigram indexes build far faster in bulk than row by row.
            for phase in Phase::ALL {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP INDEX IF EXISTS etl.logs_{phase}_text_trgm"
                )))
                .execute(index.pool())
                .await?;
            }
            sqlx::query("DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET maintenance_work_mem = %L', current_database(), '1GB'); END $$")
                .execute(index.pool())
                .await?;
            // Rows as a version 3 dagtrail wrote them (no phase texts), so
            // that the migration below does all its work.
            sqlx::query("ALTER TABLE etl.logs DISABLE TRIGGER logs_phase_texts")
                .execute(index.pool())
                .await?;
        }
        let step = (runs / 7).max(1);
        let sql = format!(
            "INSERT INTO etl.logs (id_company, dag_id, date, run_id, log, created_at, updated_at) \
             SELECT $1, $2, DATE '2025-01-01' + (i % 365)::int, 'scheduled__' || i, \
               jsonb_build_object('event', {}, 'extract', {}, 'transform', {}, 'load', {}), \
               TIMESTAMPTZ '2025-01-01' + i * INTERVAL '1 second', TIMESTAMPTZ '2025-01-01' + i * INTERVAL '1 second' \
             FROM generate_series($3::bigint, $4::bigint) i ON CONFLICT DO NOTHING",
            pg_phase("event", step),
            pg_phase("extract", step),
            pg_phase("transform", step),
            pg_phase("load", step)
        );
        let pool = index.pool().clone();
        load_in_chunks("PostgreSQL", have, runs, |first, last| {
            let query = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind("bench-runs")
                .bind(DAG)
                .bind(first)
                .bind(last);
            let pool = pool.clone();
            async move { query.execute(&pool).await.map(drop) }
        })
        .await?;
        if loaded {
            for statement in fleet_sql(false) {
                sqlx::query(sqlx::AssertSqlSafe(statement))
                    .execute(index.pool())
                    .await?;
            }
            sqlx::query("ALTER TABLE etl.logs ENABLE TRIGGER logs_phase_texts")
                .execute(index.pool())
                .await?;
            // As a version 3 database is brought to 4 (a new connection:
            // maintenance_work_mem is the database's).
            sqlx::raw_sql(
                "DELETE FROM etl.dagtrail_schema; INSERT INTO etl.dagtrail_schema VALUES (3)",
            )
            .execute(index.pool())
            .await?;
            let builder = PostgresIndex::connect(
                own.as_str(),
                &IndexOptions {
                    migrate: false,
                    ..options.clone()
                },
            )
            .await?;
            let started = Instant::now();
            builder.migrate().await?;
            notes.push(format!(
                "- {runs} runs: text index built in {:.0} s (the migration to version 4: phase texts filled in batches, four trigram indexes built concurrently).",
                started.elapsed().as_secs_f64()
            ));
            sqlx::query("VACUUM ANALYZE etl.logs")
                .execute(index.pool())
                .await?;
        }
        let row = sqlx::query(
            "SELECT pg_table_size('etl.logs') AS tbl, \
               (SELECT sum(pg_relation_size(indexrelid)) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
                WHERE c.relname LIKE 'logs_%_text_trgm')::bigint AS text",
        )
        .fetch_one(index.pool())
        .await?;
        let (table, text): (i64, Option<i64>) = (row.try_get("tbl")?, row.try_get("text")?);
        notes.push(format!(
            "- {runs} runs: table `etl.logs` {:.0} MB (with the phase texts), text indexes {:.0} MB.",
            table as f64 / 1e6,
            text.unwrap_or(0) as f64 / 1e6
        ));
        // The same search without index scans: what a keyword costs when
        // no index narrows it.
        let mut seq = own.clone();
        seq.query_pairs_mut().append_pair(
            "options",
            "-c enable_indexscan=off -c enable_bitmapscan=off",
        );
        let scan = PostgresIndex::connect(
            seq.as_str(),
            &IndexOptions {
                migrate: false,
                ..options.clone()
            },
        )
        .await?;
        let mut exact = keyword_search(RARE);
        exact.count_limit = None;
        let (without_ms, without) = p50(&scan, &exact, 1).await?;
        anyhow::ensure!(
            without == 7,
            "the scan found {without} runs with {RARE}, not 7"
        );
        lines.extend(scenarios(&index, runs, reps, without_ms).await?);
        notes.extend(explain(&index).await?);
    }
    lines.push(String::new());
    lines.extend(notes);
    Ok(lines)
}

/// `EXPLAIN (ANALYZE, BUFFERS)` of the statement where a rare keyword's
/// search spends its time: collecting the keys of the matches. The
/// statement is the search's own ([`match_keys`]).
async fn explain(index: &PostgresIndex) -> anyhow::Result<Vec<String>> {
    let mut lines = vec![
        String::new(),
        format!(
            "`EXPLAIN (ANALYZE, BUFFERS)` of the search for `{RARE}` (collecting the matches' keys):"
        ),
        String::new(),
        "```".to_owned(),
    ];
    let plan: Vec<String> = match_keys(
        "EXPLAIN (ANALYZE, BUFFERS) ",
        &company()?,
        &[DagId(DAG)],
        &keyword_search(RARE),
        index.shape().await?,
    )
    .build_query_scalar()
    .fetch_all(index.pool())
    .await?;
    lines.extend(plan);
    lines.push("```".to_owned());
    Ok(lines)
}
