//! dagtrail's measuring tools, kept out of the service library: the
//! benchmark harness (`dagtrail-bench run`: our read paths side by side
//! with DuckDB on the same files, in one run, alternating the two,
//! reporting medians and the ratio ours/DuckDB; ratios, not absolute
//! times, are what we track on noisy machines; also latency over HTTP,
//! object-store requests per call, NDJSON peak memory, HTTP load at 64
//! connections, and run search on PostgreSQL with and without our
//! indexes) and the load generator (`dagtrail-bench load`).
//!
//! Its own crate of the workspace rather than a module of the library:
//! it uses `anyhow` throughout (it is an edge, like the CLI), spawns
//! processes and talks HTTP as a client, none of which the service needs.

pub mod compare;
mod duckdb;
mod load;
mod runindex;
pub mod soak;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::NaiveDate;
use futures::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt};
use serde_json::json;

use dagtrail::artifacts::instrumented::{InstrumentedStore, RequestCounts};
use dagtrail::artifacts::writer::WriterOptions;
use dagtrail::artifacts::{ArtifactStore, RunFolder};
use dagtrail::demo::{DemoOptions, first_dag, generate};
use dagtrail::model::{Company, Phase, RunRef};
use dagtrail::read::{AttemptReader, LogFilter, ReadService};
use dagtrail::record::Recorder;
use dagtrail::runindex::RunSearch;
use dagtrail::settings::StorageSettings;

pub use self::duckdb::DuckDb;
pub use self::load::{LoadResult, run_load};

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Where the benchmark data lives (made on first use, then reused).
    pub data_dir: PathBuf,
    /// Small data and few repetitions: seconds, for CI.
    pub quick: bool,
    /// Repetitions of each scenario per side.
    pub reps: usize,
    /// Seconds of HTTP load per endpoint.
    pub load_secs: u64,
    /// Concurrent connections of the load.
    pub connections: usize,
    /// `bench/duckdb_side.py`.
    pub duckdb_script: PathBuf,
    /// The `dagtrail` binary, served in its own process for the NDJSON
    /// memory scenario.
    pub dagtrail_bin: PathBuf,
    /// PostgreSQL for the run-index scenarios (skipped when `None`).
    pub database_url: Option<String>,
    /// An S3-compatible store to count requests on too (`None`: the local
    /// folder only).
    pub s3_url: Option<String>,
    /// Whether to measure run search (SQLite, and PostgreSQL when
    /// `database_url` is set).
    pub run_index: bool,
    /// Sizes of the run-index data sets, in runs of one DAG.
    pub index_runs: Vec<u64>,
    /// Measure run search only (no artifact scenarios).
    pub only_run_index: bool,
    /// Skip the run-index scenarios on SQLite.
    pub no_sqlite: bool,
    /// Measure the run explorer's pages only (no DuckDB, no run index).
    pub only_ui: bool,
}

/// Sizes of the data set.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    rows: usize,
    rows_per_file: usize,
    log_rows: usize,
}

impl BenchOptions {
    fn sizes(&self) -> Sizes {
        if self.quick {
            Sizes {
                rows: 20_000,
                rows_per_file: 2_000,
                log_rows: 100_000,
            }
        } else {
            Sizes {
                rows: 1_000_000,
                rows_per_file: 100_000,
                log_rows: 5_000_000,
            }
        }
    }
}

/// One scenario's medians.
#[derive(Debug, Clone)]
pub struct Timing {
    /// Scenario name.
    pub scenario: String,
    /// Our median in-process (service layer), ms.
    pub ours_ms: f64,
    /// Our median over HTTP on loopback, ms.
    pub http_ms: Option<f64>,
    /// DuckDB's median, ms.
    pub duckdb_ms: Option<f64>,
    /// The target, as the issue states it.
    pub target: String,
    /// What else was measured.
    pub note: String,
}

impl Timing {
    fn ratio(&self) -> Option<f64> {
        self.duckdb_ms.map(|d| self.ours_ms / d)
    }
}

/// Everything one run measured.
#[derive(Debug, Default)]
pub struct Report {
    /// Side-by-side timings.
    pub timings: Vec<Timing>,
    /// Object-store requests per call: (what, cold, warm).
    pub requests: Vec<(String, RequestCounts, RequestCounts)>,
    /// HTTP load results.
    pub load: Vec<LoadResult>,
    /// Run-index lines for PostgreSQL (already formatted).
    pub index: Vec<String>,
    /// Run-index lines for SQLite (already formatted).
    pub sqlite_index: Vec<String>,
    /// The run explorer's pages of the benchmark phase: (page, median ms
    /// over loopback, size of the HTML in bytes).
    pub ui: Vec<(String, f64, usize)>,
    /// Data set description.
    pub data: String,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}

async fn time_ms<T, F: std::future::Future<Output = T>>(f: F) -> (f64, T) {
    let started = Instant::now();
    let out = f.await;
    (started.elapsed().as_secs_f64() * 1000.0, out)
}

/// The benchmark's data: made with the demo generator at benchmark size
/// on first use, then reused.
async fn ensure_data(
    options: &BenchOptions,
) -> anyhow::Result<(ReadService, Company, RunRef, PathBuf)> {
    let sizes = options.sizes();
    let settings = StorageSettings::embedded(&options.data_dir);
    let storage = settings.open().await?;
    let demo = DemoOptions {
        companies: 1,
        dags: 1,
        runs: 1,
        days: 1,
        end_date: NaiveDate::from_ymd_opt(2026, 1, 15).unwrap_or_default(),
        rows_per_phase: sizes.rows,
        log_rows_per_phase: sizes.log_rows,
        error_rows_per_phase: 1000,
        steps: vec![Phase::Extract],
        seed: 7,
        concurrency: 1,
    };
    let (company, dag) = first_dag(&demo)?.context("no demo run planned")?;
    let search = RunSearch::new(demo.end_date, demo.end_date);
    let mut runs = storage.index.search_runs(&company, &[dag], &search).await?;
    if runs.items.is_empty() {
        eprintln!(
            "bench: writing {} data rows in files of {} and {} log rows (first run only)...",
            sizes.rows, sizes.rows_per_file, sizes.log_rows
        );
        let writer = WriterOptions {
            rows_per_file: sizes.rows_per_file,
            ..WriterOptions::default()
        };
        let recorder = Recorder::new(storage.index.clone(), storage.store.clone(), writer);
        generate(&recorder, &demo, &indicatif::ProgressBar::new(0)).await?;
        runs = storage.index.search_runs(&company, &[dag], &search).await?;
    }
    let run = runs.items.first().context("the bench run is missing")?;
    let run = RunRef::new(
        run.dag_id,
        run.date,
        dagtrail::model::RunId::new(run.run_id.clone())?,
    );
    let folder = RunFolder::new(&company, &run)?.attempt(Phase::Extract, 1)?;
    let on_disk = options.data_dir.join("artifacts").join(folder.folder());
    let reads = ReadService::new(storage.index, storage.store, 256 * 1024 * 1024);
    Ok((reads, company, run, on_disk))
}

/// Runs every scenario.
pub async fn run(options: &BenchOptions) -> anyhow::Result<Report> {
    if options.only_run_index {
        let mut report = Report::default();
        measure_run_index(options, &mut report).await?;
        return Ok(report);
    }
    let sizes = options.sizes();
    let (reads, company, run, folder) = ensure_data(options).await?;
    if options.only_ui {
        let http = load::Server::start(reads.clone()).await?;
        let token = http.token(&company)?;
        let reader = reads.attempt(&company, &run, Phase::Extract, 1).await?;
        let meta = reader.metadata().clone();
        return Ok(Report {
            data: format!(
                "one phase of {} data rows in {} files, {} log rows in {} file(s), {} error rows",
                meta.data_rows, meta.data_files, meta.log_count, meta.log_files, meta.error_count
            ),
            ui: measure_ui(&http, &token, &run, sizes, meta.log_count, options.reps).await?,
            ..Report::default()
        });
    }
    let mut duck = DuckDb::start(&options.duckdb_script)
        .context("cannot start the DuckDB worker (pip install duckdb)")?;
    let reader = reads.attempt(&company, &run, Phase::Extract, 1).await?;
    let meta = reader.metadata().clone();
    let mut report = Report {
        data: format!(
            "one phase of {} data rows in {} files, {} log rows in {} file(s), {} error rows",
            meta.data_rows, meta.data_files, meta.log_count, meta.log_files, meta.error_count
        ),
        ..Report::default()
    };
    let http = load::Server::start(reads.clone()).await?;
    let base = http.run_url(&run);
    let token = http.token(&company)?;

    let deep_page = (sizes.rows as u64 * 9 / 10) / 50;
    let common = reader.search_data("münchen", 0, 50).await?.total;
    let common_page = (common * 9 / 10) / 50;
    let scenarios: Vec<(&str, String, serde_json::Value, String, &str)> = vec![
        (
            "data page 0, limit 50",
            "data_page".into(),
            json!({"offset": 0, "limit": 50}),
            format!("{base}/phases/extract/data?limit=50"),
            "ratio ≤ 0.5",
        ),
        (
            "data page at offset 90%, limit 50",
            "data_page".into(),
            json!({"offset": deep_page * 50, "limit": 50}),
            format!("{base}/phases/extract/data?limit=50&page={deep_page}"),
            "ratio ≤ 0.1, and ≤ 1.5 × our page 0",
        ),
        (
            "keyword, rare (`12345`), page 0",
            "keyword".into(),
            json!({"keyword": "12345", "offset": 0, "limit": 50}),
            format!("{base}/phases/extract/data?limit=50&keyword=12345"),
            "ratio ≤ 0.5",
        ),
        (
            "keyword, common (`münchen`, ~10%), page at 90%",
            "keyword".into(),
            json!({"keyword": "münchen", "offset": common_page * 50, "limit": 50}),
            format!("{base}/phases/extract/data?limit=50&keyword=m%C3%BCnchen&page={common_page}"),
            "ratio ≤ 1.0",
        ),
        (
            "logs page, level ERROR + keyword `rejected`",
            "logs_page".into(),
            json!({"levels": ["ERROR"], "keyword": "rejected", "offset": 0, "limit": 50}),
            format!("{base}/phases/extract/logs?limit=50&level=ERROR&keyword=rejected"),
            "ratio ≤ 0.5",
        ),
    ];
    for (name, duck_scenario, params, url, target) in scenarios {
        let ours = |name: &str| {
            let reader: AttemptReader = reader.clone();
            let params = params.clone();
            let name = name.to_owned();
            async move {
                let limit = params["limit"].as_u64().unwrap_or(50) as u32;
                let page = params["offset"].as_u64().unwrap_or(0) / u64::from(limit);
                match name.as_str() {
                    n if n.starts_with("data page") => reader.data_page(page, limit).await,
                    n if n.starts_with("keyword") => {
                        reader
                            .search_data(params["keyword"].as_str().unwrap_or(""), page, limit)
                            .await
                    }
                    _ => {
                        let filter =
                            LogFilter::new(Some(["ERROR".to_owned()].into()), Some("rejected"));
                        reader.logs_page(&filter, page, limit).await
                    }
                }
            }
        };
        // Warm both sides once (footer caches, DuckDB's file handles).
        ours(name).await?;
        duck.run(&duck_scenario, &folder, params.clone())?;
        let (mut o, mut h, mut d) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..options.reps {
            d.push(duck.run(&duck_scenario, &folder, params.clone())?.0);
            let (ms, page) = time_ms(ours(name)).await;
            page?;
            o.push(ms);
            h.push(http.time_get(&url, &token).await?);
        }
        report.timings.push(Timing {
            scenario: name.to_owned(),
            ours_ms: median(o),
            http_ms: Some(median(h)),
            duckdb_ms: Some(median(d)),
            target: target.to_owned(),
            note: String::new(),
        });
    }

    report.ui = measure_ui(&http, &token, &run, sizes, meta.log_count, options.reps).await?;

    // NDJSON: our server in its own process (for its peak RSS) against DuckDB's COPY.
    let ndjson =
        load::ndjson_in_child(&options.dagtrail_bin, &options.data_dir, &base, &company).await?;
    let out = std::env::temp_dir().join(format!("dagtrail-bench-{}.ndjson", std::process::id()));
    let (duck_ms, _) = duck.run("ndjson", &folder, json!({"out": out}))?;
    let _ = std::fs::remove_file(&out);
    report.timings.push(Timing {
        scenario: format!("NDJSON of all {} log rows", meta.log_count),
        ours_ms: ndjson.ms,
        http_ms: Some(ndjson.ms),
        duckdb_ms: Some(duck_ms),
        target: "ratio ≤ 1.0, peak RSS < 100 MiB".into(),
        note: format!(
            "{} lines; server peak RSS {:.1} MiB (idle before: {:.1} MiB)",
            ndjson.lines, ndjson.peak_rss_mib, ndjson.base_rss_mib
        ),
    });

    // Requests per call, cold (fresh caches) then warm, on each store.
    let mut stores = vec![("local folder", Arc::clone(reads.store().object_store()))];
    if let Some(url) = &options.s3_url {
        let s3 = ArtifactStore::open(url).with_context(|| format!("cannot open {url}"))?;
        let prefix = RunFolder::new(&company, &run)?.attempt(Phase::Extract, 1)?;
        copy_folder(
            reads.store().object_store(),
            s3.object_store(),
            prefix.prefix(),
        )
        .await?;
        // The store's marker too, as every writer puts it: without it a
        // reader cannot learn whether the store folds case, and asks on
        // every request (two HEADs a call that a real store never pays).
        s3.mark()
            .await
            .with_context(|| format!("cannot mark {url}"))?;
        stores.push(("S3-compatible server", Arc::clone(s3.object_store())));
    }
    for (name, store) in stores {
        report
            .requests
            .extend(count_requests(&reads, store, name, &company, &run, deep_page).await?);
    }

    report.load.push(
        run_load(
            "run summary",
            std::slice::from_ref(&base),
            &token,
            options.connections,
            Duration::from_secs(options.load_secs),
        )
        .await?,
    );
    report.load.push(
        run_load(
            "data page 0",
            &[format!("{base}/phases/extract/data?limit=50")],
            &token,
            options.connections,
            Duration::from_secs(options.load_secs),
        )
        .await?,
    );

    if !options.run_index {
        return Ok(report);
    }
    measure_run_index(options, &mut report).await?;
    Ok(report)
}

/// The run explorer's pages of the benchmark phase (issue 14: at most 50 ms
/// of server time each), read with the token as a header, as a single
/// sign-on proxy sends it: (page, median ms, HTML bytes).
async fn measure_ui(
    http: &load::Server,
    token: &str,
    run: &RunRef,
    sizes: Sizes,
    log_count: i64,
    reps: usize,
) -> anyhow::Result<Vec<(String, f64, usize)>> {
    let ui = http.ui_run_url(run);
    let row = sizes.rows as u64 * 9 / 10 + 500;
    let ui_pages = [
        ("run page (phases, attempts, event)".to_owned(), ui.clone()),
        (
            "Data tab, page 0".to_owned(),
            format!("{ui}/phases/extract"),
        ),
        (
            format!("Data tab, jump to row {row}"),
            format!("{ui}/phases/extract?row={row}"),
        ),
        (
            "Data tab, keyword rare (`12345`)".to_owned(),
            format!("{ui}/phases/extract?keyword=12345"),
        ),
        (
            "Data tab, keyword common (`münchen`), page 1,000".to_owned(),
            format!("{ui}/phases/extract?keyword=m%C3%BCnchen&go=1000"),
        ),
        (
            "Errors tab (each error's data row beside it)".to_owned(),
            format!("{ui}/phases/extract/errors"),
        ),
        (
            format!("Logs tab, level ERROR + keyword, of {log_count} rows"),
            format!("{ui}/phases/extract/logs?level=ERROR&keyword=rejected"),
        ),
    ];
    let mut pages = Vec::new();
    for (name, url) in ui_pages {
        // Once to warm the footers, as for every scenario.
        let bytes = http.get_len(&url, token).await?;
        let mut times = Vec::new();
        for _ in 0..reps {
            times.push(http.time_get(&url, token).await?);
        }
        pages.push((name, median(times), bytes));
    }
    Ok(pages)
}

/// The run-index scenarios (SQLite, and PostgreSQL when a database is
/// given), into `report`.
async fn measure_run_index(options: &BenchOptions, report: &mut Report) -> anyhow::Result<()> {
    if !options.no_sqlite {
        let folder = options.data_dir.join("runindex");
        std::fs::create_dir_all(&folder)?;
        report.sqlite_index =
            runindex::measure_sqlite(&folder, &options.index_runs, options.reps).await?;
    }
    if let Some(url) = &options.database_url {
        // What is measured so far is printed first: the index part is long.
        eprintln!("{}", report.markdown());
        report.index = runindex::measure_postgres(url, &options.index_runs, options.reps).await?;
    }
    Ok(())
}

/// Copies every object under `prefix` that `to` lacks (same key, same size).
async fn copy_folder(
    from: &Arc<dyn ObjectStore>,
    to: &Arc<dyn ObjectStore>,
    prefix: &object_store::path::Path,
) -> anyhow::Result<()> {
    let objects: Vec<_> = from.list(Some(prefix)).try_collect().await?;
    for object in objects {
        match to.head(&object.location).await {
            Ok(there) if there.size == object.size => continue,
            Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        eprintln!(
            "bench: copying {} ({} bytes) to S3",
            object.location, object.size
        );
        let bytes = from.get(&object.location).await?.bytes().await?;
        to.put(&object.location, bytes.into()).await?;
    }
    Ok(())
}

/// GET/HEAD/LIST requests of a data page at page 0 and deep, cold (fresh
/// caches) then warm (the same page again: footers and metadata are
/// cached, pages are not).
async fn count_requests(
    reads: &ReadService,
    store: Arc<dyn ObjectStore>,
    store_name: &str,
    company: &Company,
    run: &RunRef,
    deep_page: u64,
) -> anyhow::Result<Vec<(String, RequestCounts, RequestCounts)>> {
    let counting = InstrumentedStore::new(store);
    let mut lines = Vec::new();
    // 90% is the first row of a file; 95% lies deep inside a row group,
    // far from the dictionary pages at the start of each column chunk.
    let mid_group = deep_page * 95 / 90;
    for (what, page) in [
        ("data page 0", 0u64),
        ("data page at 90%", deep_page),
        ("data page at 95%", mid_group),
    ] {
        let counted = ReadService::new(
            reads.run_index().clone(),
            ArtifactStore::from_object_store(Arc::new(counting.clone()), reads.store().base_url()),
            64 * 1024 * 1024,
        );
        // The first call is cold, the second warm.
        let mut counts = Vec::with_capacity(2);
        for _ in 0..2 {
            counting.reset();
            counted
                .attempt(company, run, Phase::Extract, 1)
                .await?
                .data_page(page, 50)
                .await?;
            counts.push(counting.counts());
        }
        lines.push((format!("{what} ({store_name})"), counts[0], counts[1]));
    }
    Ok(lines)
}

impl Report {
    /// The results as Markdown (the body of `docs/PERFORMANCE.md`'s table section).
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!("Data: {}.\n\n", self.data));
        if !self.timings.is_empty() {
            out.push_str("| scenario | ours in-process (ms) | ours over HTTP (ms) | DuckDB (ms) | ratio ours/DuckDB | target | notes |\n|---|---:|---:|---:|---:|---|---|\n");
        }
        let page0 = self.timings.first().map(|t| t.ours_ms);
        for t in &self.timings {
            let mut note = t.note.clone();
            if t.scenario.contains("offset 90%")
                && let Some(p0) = page0
            {
                note = format!("{:.2} × our page 0", t.ours_ms / p0);
            }
            out.push_str(&format!(
                "| {} | {:.2} | {} | {} | {} | {} | {} |\n",
                t.scenario,
                t.ours_ms,
                t.http_ms.map_or("-".into(), |v| format!("{v:.2}")),
                t.duckdb_ms.map_or("-".into(), |v| format!("{v:.2}")),
                t.ratio().map_or("-".into(), |v| format!("**{v:.3}**")),
                t.target,
                note
            ));
        }
        if !self.ui.is_empty() {
            out.push_str("\nRun explorer pages of the same phase over loopback (HTML, median; target ≤ 50 ms of server time each):\n\n| page | ms | HTML (KiB) |\n|---|---:|---:|\n");
            for (page, ms, bytes) in &self.ui {
                out.push_str(&format!(
                    "| {page} | {ms:.2} | {:.1} |\n",
                    *bytes as f64 / 1024.0
                ));
            }
        }
        if !self.requests.is_empty() {
            out.push_str("\nObject-store requests per API call (GET / HEAD / LIST):\n\n| call | cold | warm |\n|---|---|---|\n");
        }
        for (what, cold, warm) in &self.requests {
            out.push_str(&format!(
                "| {what} | {} / {} / {} | {} / {} / {} |\n",
                cold.gets, cold.heads, cold.lists, warm.gets, warm.heads, warm.lists
            ));
        }
        if !self.load.is_empty() {
            out.push_str("\nHTTP load on loopback (in-process load generator, keep-alive connections):\n\n| endpoint | connections | seconds | requests | req/s | p50 (ms) | p99 (ms) | errors |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
        }
        for l in &self.load {
            out.push_str(&format!(
                "| {} | {} | {:.1} | {} | {:.0} | {:.2} | {:.2} | {} |\n",
                l.name,
                l.connections,
                l.seconds,
                l.requests,
                l.per_second,
                l.p50_ms,
                l.p99_ms,
                l.errors
            ));
        }
        for (title, lines) in [
            (
                "Run index (SQLite, the embedded default)",
                &self.sqlite_index,
            ),
            ("Run index (PostgreSQL)", &self.index),
        ] {
            if !lines.is_empty() {
                out.push_str(&format!("\n{title}:\n\n"));
                for line in lines {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        out
    }
}

/// The default location of `bench/duckdb_side.py` (next to `Cargo.toml`).
pub fn default_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("duckdb_side.py")
}
