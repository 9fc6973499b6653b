//! `dagtrail-bench run`: our read paths side by side with DuckDB.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use dagtrail_bench::{BenchOptions, default_script, run};

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Where the benchmark data is made (once) and reused.
    #[arg(long, default_value = "./dagtrail-bench")]
    data_dir: PathBuf,
    /// Small data and few repetitions: seconds, for CI.
    #[arg(long)]
    quick: bool,
    /// Repetitions of each scenario per side [default: 3 with --quick, else 9].
    #[arg(long)]
    reps: Option<usize>,
    /// Seconds of HTTP load per endpoint [default: 1 with --quick, else 10].
    #[arg(long)]
    load_secs: Option<u64>,
    /// Concurrent connections of the HTTP load.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// The DuckDB side's script.
    #[arg(long, default_value_os_t = default_script())]
    duckdb_script: PathBuf,
    /// The `dagtrail` binary to serve from [default: the one beside this
    /// program, as cargo builds them].
    #[arg(long)]
    dagtrail_bin: Option<PathBuf>,
    /// PostgreSQL for the run-index scenarios (a database the bench may fill).
    #[arg(long, env = "DAGTRAIL_BENCH_DATABASE_URL")]
    database_url: Option<String>,
    /// An S3-compatible store (s3://bucket/prefix; credentials and endpoint
    /// from the usual AWS_* variables) to count requests on as well: the
    /// bench copies its attempt there.
    #[arg(long, env = "DAGTRAIL_BENCH_S3_URL")]
    s3_url: Option<String>,
    /// Skip the run-index scenarios (SQLite and PostgreSQL): the artifact
    /// scenarios alone take minutes, the run index at full size much longer.
    #[arg(long)]
    no_run_index: bool,
    /// Sizes of the run-index data sets, in runs of one DAG, comma-separated
    /// [default: 20,000 with --quick, else 300,000 and 1,000,000].
    #[arg(long, value_delimiter = ',')]
    index_runs: Vec<u64>,
    /// Measure run search only (SQLite, and PostgreSQL with --database-url).
    #[arg(long, conflicts_with = "no_run_index")]
    only_run_index: bool,
    /// Skip the run-index scenarios on SQLite (PostgreSQL's only).
    #[arg(long)]
    no_sqlite: bool,
    /// Time the run explorer's pages of the benchmark phase only (no
    /// DuckDB side, no load, no run index).
    #[arg(long, conflicts_with_all = ["only_run_index"])]
    only_ui: bool,
    /// Write the results here as Markdown (besides printing them).
    #[arg(long)]
    out: Option<PathBuf>,
}

pub async fn run_bench(args: BenchArgs) -> anyhow::Result<()> {
    let index_runs = match (args.index_runs.is_empty(), args.quick) {
        (false, _) => args.index_runs,
        (true, true) => vec![20_000],
        (true, false) => vec![300_000, 1_000_000],
    };
    let options = BenchOptions {
        data_dir: args
            .data_dir
            .join(if args.quick { "quick" } else { "full" }),
        quick: args.quick,
        reps: args.reps.unwrap_or(if args.quick { 3 } else { 9 }).max(1),
        load_secs: args.load_secs.unwrap_or(if args.quick { 1 } else { 10 }),
        connections: args.connections,
        duckdb_script: args.duckdb_script,
        dagtrail_bin: match args.dagtrail_bin {
            Some(path) => path,
            None => std::env::current_exe()
                .context("cannot find this program")?
                .with_file_name("dagtrail"),
        },
        database_url: args.database_url,
        s3_url: args.s3_url,
        run_index: !args.no_run_index,
        index_runs,
        only_run_index: args.only_run_index,
        no_sqlite: args.no_sqlite,
        only_ui: args.only_ui,
    };
    let report = run(&options).await.context("the benchmark failed")?;
    let markdown = report.markdown();
    println!("{markdown}");
    if let Some(out) = args.out {
        std::fs::write(&out, &markdown)
            .with_context(|| format!("cannot write {}", out.display()))?;
    }
    Ok(())
}
