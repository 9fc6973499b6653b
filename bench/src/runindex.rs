//! Run search on PostgreSQL: `index_runs` runs with three inline rows per
//! phase, and a tenth as many with the full 100 inline rows, searched by
//! keyword with our indexes and with index scans switched off (the same
//! query as a sequential scan), plus what the inline rows cost in size.

use std::time::Instant;

use anyhow::Context;
use chrono::NaiveDate;
use sqlx::Row;
use uuid::Uuid;

use dagtrail::model::{Company, DagId, Phase};
use dagtrail::runindex::DEFAULT_SEARCH_COUNT_LIMIT;
use dagtrail::runindex::postgres::{PostgresIndex, match_keys};
use dagtrail::runindex::sqlite::SqliteIndex;
use dagtrail::runindex::{IndexOptions, RunIndex, RunSearch};

const DAG: Uuid = Uuid::from_u128(0x6265_6e63_685f_7275_6e73_0000_0000_0001);

fn phase_sql(phase: &str, rows: u32) -> String {
    format!(
        "jsonb_build_object('status', jsonb_build_object('success', i % 17 <> 0, 'message', '{phase} ' || (i % 5000) || ' rows from orders', 'total', i % 5000), \
         's3_data_path', 's3://bench/acme/runs/' || i || '/{phase}/attempt=1/', 'attempt', 1, \
         'started_at', '2026-01-01T00:00:00.000Z', 'finished_at', '2026-01-01T00:01:00.000Z', \
         'data', (SELECT jsonb_agg(jsonb_build_object('order_id', i * 1000 + k, \
                   'customer', (ARRAY['Zoë Müller','José Núñez','Acme Corp','Søren Kierkegård','Ōsaka Shōji'])[1 + (i + k) % 5], \
                   'ref', 'REF-' || ((i * 7919 + k * 104729) % 1000003), 'amount', ((i + k) % 100000) / 100.0)) \
                  FROM generate_series(1, {rows}) k))"
    )
}

/// Inserts runs `have..runs` with `insert(first, last)` (inclusive), in
/// chunks of 50,000, printing progress.
async fn load_in_chunks<F, Fut>(
    what: &str,
    have: i64,
    runs: u64,
    inline: u32,
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
    eprintln!("bench: loading {runs} runs with {inline} inline rows per phase into {what}...");
    while start < runs {
        let end = (start + 50_000).min(runs);
        insert(start as i64, end as i64 - 1).await?;
        start = end;
        eprintln!("bench:   {start}/{runs}");
    }
    Ok(())
}

async fn fill(index: &PostgresIndex, company: &str, runs: u64, inline: u32) -> anyhow::Result<()> {
    let have: i64 = sqlx::query_scalar("SELECT count(*) FROM etl.logs WHERE id_company = $1")
        .bind(company)
        .fetch_one(index.pool())
        .await?;
    let sql = format!(
        "INSERT INTO etl.logs (id_company, dag_id, date, run_id, log, created_at, updated_at) \
         SELECT $1, $2, DATE '2025-01-01' + (i % 365)::int, 'scheduled__' || i, \
           jsonb_build_object('event', {}, 'extract', {}, 'transform', {}, 'load', {}), \
           TIMESTAMPTZ '2025-01-01' + i * INTERVAL '1 second', TIMESTAMPTZ '2025-01-01' + i * INTERVAL '1 second' \
         FROM generate_series($3::bigint, $4::bigint) i ON CONFLICT DO NOTHING",
        phase_sql("event", 1),
        phase_sql("extract", inline),
        phase_sql("transform", inline),
        phase_sql("load", inline)
    );
    load_in_chunks("PostgreSQL", have, runs, inline, |first, last| {
        let query = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .bind(company)
            .bind(DAG)
            .bind(first)
            .bind(last);
        async move { query.execute(index.pool()).await.map(drop) }
    })
    .await?;
    sqlx::query("ANALYZE etl.logs")
        .execute(index.pool())
        .await?;
    Ok(())
}

/// The measured search: `keyword` in the extract phase over the loaded year.
fn keyword_search(keyword: &str, count_limit: Option<u64>) -> RunSearch {
    let mut search = RunSearch::new(
        NaiveDate::from_ymd_opt(2025, 1, 1).unwrap_or_default(),
        NaiveDate::from_ymd_opt(2025, 12, 31).unwrap_or_default(),
    );
    search.keywords = vec![(Phase::Extract, keyword.to_owned())];
    search.count_limit = count_limit;
    search
}

async fn time_search(
    index: &dyn RunIndex,
    company: &Company,
    keyword: &str,
    count_limit: Option<u64>,
    reps: usize,
) -> anyhow::Result<(f64, u64)> {
    let search = keyword_search(keyword, count_limit);
    let mut times = Vec::new();
    let mut total = 0;
    index.search_runs(company, &[DagId(DAG)], &search).await?;
    for _ in 0..reps {
        let started = Instant::now();
        total = index
            .search_runs(company, &[DagId(DAG)], &search)
            .await?
            .total;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(|a, b| a.total_cmp(b));
    Ok((times[times.len() / 2], total))
}

/// The searches measured: a rare and a common keyword over each data set.
fn cases<'a>(
    few: &'a Company,
    runs: u64,
    full: &'a Company,
    full_runs: u64,
) -> Vec<(&'a Company, String, &'static str)> {
    let mut out = Vec::new();
    for (company, data) in [
        (few, format!("{runs} runs, 3 inline rows per phase")),
        (full, format!("{full_runs} runs, 100 inline rows per phase")),
    ] {
        for keyword in ["ref-123456", "søren"] {
            out.push((company, data.clone(), keyword));
        }
    }
    out
}

/// A phase object in SQLite's JSON functions, the same values as
/// [`phase_sql`] (`ks` holds 1..=100).
fn sqlite_phase_sql(phase: &str, rows: u32) -> String {
    format!(
        "json_object('status', json_object('success', json(CASE WHEN i % 17 <> 0 THEN 'true' ELSE 'false' END), \
           'message', '{phase} ' || (i % 5000) || ' rows from orders', 'total', i % 5000), \
         's3_data_path', 's3://bench/acme/runs/' || i || '/{phase}/attempt=1/', 'attempt', 1, \
         'started_at', '2026-01-01T00:00:00.000Z', 'finished_at', '2026-01-01T00:01:00.000Z', \
         'data', (SELECT json_group_array(json_object('order_id', i * 1000 + k, \
                   'customer', CASE (i + k) % 5 WHEN 0 THEN 'Zoë Müller' WHEN 1 THEN 'José Núñez' WHEN 2 THEN 'Acme Corp' \
                                 WHEN 3 THEN 'Søren Kierkegård' ELSE 'Ōsaka Shōji' END, \
                   'ref', 'REF-' || ((i * 7919 + k * 104729) % 1000003), 'amount', ((i + k) % 100000) / 100.0)) \
                  FROM ks WHERE k <= {rows}))"
    )
}

async fn fill_sqlite(
    index: &SqliteIndex,
    company: &str,
    runs: u64,
    inline: u32,
) -> anyhow::Result<()> {
    let have: i64 = sqlx::query_scalar("SELECT count(*) FROM etl_logs WHERE id_company = ?")
        .bind(company)
        .fetch_one(index.pool())
        .await?;
    let sql = format!(
        "WITH RECURSIVE n(i) AS (SELECT ?3 UNION ALL SELECT i + 1 FROM n WHERE i < ?4), \
           ks(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM ks WHERE k < 100) \
         INSERT OR IGNORE INTO etl_logs (id_company, dag_id, date, run_id, log, created_at, updated_at) \
         SELECT ?1, ?2, date('2025-01-01', '+' || (i % 365) || ' days'), 'scheduled__' || i, \
           json_object('event', json({}), 'extract', json({}), 'transform', json({}), 'load', json({})), \
           strftime('%Y-%m-%dT%H:%M:%SZ', '2025-01-01', '+' || i || ' seconds'), \
           strftime('%Y-%m-%dT%H:%M:%SZ', '2025-01-01', '+' || i || ' seconds') \
         FROM n",
        sqlite_phase_sql("event", 1),
        sqlite_phase_sql("extract", inline),
        sqlite_phase_sql("transform", inline),
        sqlite_phase_sql("load", inline)
    );
    load_in_chunks("SQLite", have, runs, inline, |first, last| {
        let query = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .bind(company)
            .bind(DAG.to_string())
            .bind(first)
            .bind(last);
        async move { query.execute(index.pool()).await.map(drop) }
    })
    .await?;
    sqlx::query("ANALYZE").execute(index.pool()).await?;
    Ok(())
}

/// The same searches on the embedded default (SQLite, in `path`): it has
/// no text index, so every keyword search reads the DAG's runs in the
/// date range.
pub async fn measure_sqlite(
    path: &std::path::Path,
    runs: u64,
    full_runs: u64,
    reps: usize,
) -> anyhow::Result<Vec<String>> {
    let url = format!("sqlite://{}", path.display());
    let index = SqliteIndex::connect(&url, &IndexOptions::default())
        .await
        .context("cannot open the bench SQLite file")?;
    let few = Company::new("bench-few-inline")?;
    let full = Company::new("bench-full-inline")?;
    fill_sqlite(&index, few.as_str(), runs, 3).await?;
    fill_sqlite(&index, full.as_str(), full_runs, 100).await?;
    let mut lines = vec![
        format!(
            "| data | keyword | matches | count limit {DEFAULT_SEARCH_COUNT_LIMIT} (default) p50 (ms) | exact count p50 (ms) |"
        ),
        "|---|---|---:|---:|---:|".to_owned(),
    ];
    for (company, data, keyword) in cases(&few, runs, &full, full_runs) {
        let limit = Some(DEFAULT_SEARCH_COUNT_LIMIT);
        let (capped, _) = time_search(&index, company, keyword, limit, reps).await?;
        let (exact, total) = time_search(&index, company, keyword, None, reps).await?;
        lines.push(format!(
            "| {data} | `{keyword}` | {total} | {capped:.1} | {exact:.1} |"
        ));
    }
    let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    lines.push(String::new());
    lines.push(format!(
        "- SQLite file {:.0} MB for {} + {} runs.",
        bytes as f64 / 1e6,
        runs,
        full_runs
    ));
    Ok(lines)
}

/// `EXPLAIN (ANALYZE, BUFFERS)` of the statement where a rare keyword's
/// search spends its time: collecting the keys of the matches (the page is
/// then those keys fetched by primary key). The statement is the search's
/// own ([`match_keys`]), so the plan shown is the plan the service runs.
async fn explain(
    index: &PostgresIndex,
    company: &Company,
    keyword: &str,
) -> anyhow::Result<Vec<String>> {
    let mut lines = vec![
        String::new(),
        format!(
            "`EXPLAIN (ANALYZE, BUFFERS)` of the search for `{keyword}` in `{company}` (collecting the matches' keys):"
        ),
        String::new(),
        "```".to_owned(),
    ];
    let search = keyword_search(keyword, Some(DEFAULT_SEARCH_COUNT_LIMIT));
    let plan: Vec<String> = match_keys(
        "EXPLAIN (ANALYZE, BUFFERS) ",
        company,
        &[DagId(DAG)],
        &search,
    )
    .build_query_scalar()
    .fetch_all(index.pool())
    .await?;
    lines.extend(plan);
    lines.push("```".to_owned());
    Ok(lines)
}

/// Loads the runs (once) and measures; returns Markdown lines.
pub async fn measure(
    url: &str,
    runs: u64,
    full_runs: u64,
    reps: usize,
) -> anyhow::Result<Vec<String>> {
    let options = IndexOptions {
        max_connections: 4,
        ..IndexOptions::default()
    };
    let index = PostgresIndex::connect(url, &options)
        .await
        .context("cannot open the bench database")?;
    let few = Company::new("bench-few-inline")?;
    let full = Company::new("bench-full-inline")?;
    let empty: i64 = sqlx::query_scalar("SELECT count(*) FROM etl.logs")
        .fetch_one(index.pool())
        .await?;
    if empty == 0 {
        // Trigram indexes build far faster in bulk than row by row.
        for phase in ["event", "extract", "transform", "load"] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP INDEX IF EXISTS etl.logs_{phase}_trgm"
            )))
            .execute(index.pool())
            .await?;
        }
    }
    fill(&index, few.as_str(), runs, 3).await?;
    fill(&index, full.as_str(), full_runs, 100).await?;
    // GIN builds are slow with the default 64 MB; new connections to this
    // database get more (the bench's own database only).
    sqlx::query("DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET maintenance_work_mem = %L', current_database(), '1GB'); END $$")
        .execute(index.pool())
        .await?;
    let builder = PostgresIndex::connect(
        url,
        &IndexOptions {
            migrate: false,
            ..options.clone()
        },
    )
    .await?;
    let started = Instant::now();
    builder.migrate().await?;
    let index_build = started.elapsed().as_secs_f64();
    let seq_url = format!(
        "{url}{}options=-c%20enable_indexscan%3Doff%20-c%20enable_bitmapscan%3Doff",
        if url.contains('?') { "&" } else { "?" }
    );
    let seq = PostgresIndex::connect(
        &seq_url,
        &IndexOptions {
            migrate: false,
            ..options.clone()
        },
    )
    .await?;
    let mut lines = vec![
        format!(
            "| data | keyword | matches | with our indexes, count limit {DEFAULT_SEARCH_COUNT_LIMIT} (default) p50 (ms) | with our indexes, exact count p50 (ms) | sequential scan, exact count p50 (ms) | speed-up (exact count) |"
        ),
        "|---|---|---:|---:|---:|---:|---:|".to_owned(),
    ];
    for (company, data, keyword) in cases(&few, runs, &full, full_runs) {
        let limit = Some(DEFAULT_SEARCH_COUNT_LIMIT);
        let (capped, _) = time_search(&index, company, keyword, limit, reps).await?;
        let (fast, total) = time_search(&index, company, keyword, None, reps).await?;
        let (slow, total_seq) = time_search(&seq, company, keyword, None, reps.min(3)).await?;
        anyhow::ensure!(
            total == total_seq,
            "the two plans disagree: {total} vs {total_seq}"
        );
        lines.push(format!(
            "| {data} | `{keyword}` | {total} | {capped:.1} | {fast:.1} | {slow:.1} | {:.0}× |",
            slow / fast
        ));
    }
    lines.extend(explain(&index, &few, "ref-123456").await?);
    let sizes = sqlx::query(
        "SELECT id_company, count(*) AS runs, avg(pg_column_size(log))::bigint AS bytes FROM etl.logs \
         WHERE id_company IN ($1, $2) GROUP BY id_company ORDER BY id_company",
    )
    .bind(few.as_str())
    .bind(full.as_str())
    .fetch_all(index.pool())
    .await?;
    lines.push(String::new());
    for row in sizes {
        let company: String = row.try_get("id_company")?;
        let count: i64 = row.try_get("runs")?;
        let bytes: i64 = row.try_get("bytes")?;
        lines.push(format!("- `{company}`: {count} runs, `log` averages {bytes} bytes stored (compressed jsonb) per run."));
    }
    let table: String = sqlx::query_scalar("SELECT pg_size_pretty(pg_table_size('etl.logs'))")
        .fetch_one(index.pool())
        .await?;
    let indexes: String = sqlx::query_scalar("SELECT pg_size_pretty(pg_indexes_size('etl.logs'))")
        .fetch_one(index.pool())
        .await?;
    lines.push(format!(
        "- table {table}, indexes {indexes} (trigram indexes rebuilt in {index_build:.0} s)."
    ));
    Ok(lines)
}
