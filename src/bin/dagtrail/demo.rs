//! `dagtrail demo`: fill the configured stores with demo runs.

use std::time::Instant;

use anyhow::Context;
use clap::Args;
use dagtrail::artifacts::writer::{Codec, WriterOptions};
use dagtrail::demo::{DemoOptions, already_written, generate};
use dagtrail::model::Phase;
use dagtrail::record::Recorder;
use dagtrail::settings::{StorageSettings, redact_url};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Debug, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    storage: StorageSettings,
    /// Companies (tenants) to create.
    #[arg(long, default_value_t = 2)]
    companies: usize,
    /// DAGs per company.
    #[arg(long, default_value_t = 2)]
    dags: usize,
    /// Runs per DAG.
    #[arg(long, default_value_t = 24)]
    runs: usize,
    /// Days the runs spread over, ending today.
    #[arg(long, default_value_t = 21)]
    days: u32,
    /// Data rows per phase attempt.
    #[arg(long, default_value_t = 400)]
    rows_per_phase: usize,
    /// Log rows per phase attempt.
    #[arg(long, default_value_t = 200)]
    log_rows_per_phase: usize,
    /// Error rows per phase attempt (three times as many when it fails).
    #[arg(long, default_value_t = 12)]
    error_rows_per_phase: usize,
    /// ETL steps to write for each run.
    #[arg(long, value_delimiter = ',', default_value = "extract,transform,load")]
    steps: Vec<Phase>,
    /// Data rows per data_NNN.parquet file.
    #[arg(long, default_value_t = WriterOptions::default().rows_per_file)]
    rows_per_file: usize,
    /// Compression of the written files.
    #[arg(long, value_enum, default_value_t = Codec::Zstd)]
    codec: Codec,
    /// Generator seed: the same seed writes the same data.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Runs written at once.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Write only when the run index holds no run yet.
    #[arg(long)]
    if_empty: bool,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let storage = args
        .storage
        .open()
        .await
        .context("cannot open the stores")?;
    let options = DemoOptions {
        companies: args.companies,
        dags: args.dags,
        runs: args.runs,
        days: args.days,
        end_date: chrono::Utc::now().date_naive(),
        rows_per_phase: args.rows_per_phase,
        log_rows_per_phase: args.log_rows_per_phase,
        error_rows_per_phase: args.error_rows_per_phase,
        steps: args.steps.iter().copied().filter(|p| p.is_step()).collect(),
        seed: args.seed,
        concurrency: args.concurrency,
    };
    let writer = WriterOptions {
        rows_per_file: args.rows_per_file,
        codec: args.codec,
        ..WriterOptions::default()
    };
    let recorder = Recorder::new(storage.index.clone(), storage.store.clone(), writer);
    if args.if_empty
        && already_written(&recorder, &options)
            .await
            .context("cannot read the run index")?
    {
        println!(
            "demo data already present in {}: nothing written",
            redact_url(&args.storage.database_url())
        );
        return Ok(());
    }
    let progress = ProgressBar::new(0).with_style(
        ProgressStyle::with_template(
            "{spinner} writing runs {bar:30} {pos}/{len} [{elapsed_precise}, {eta} left]",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let summary = generate(&recorder, &options, &progress)
        .await
        .context("cannot write the demo data")?;
    progress.finish_and_clear();
    println!(
        "wrote {} runs ({} phase attempts, {} data rows, {} error rows, {} log rows) in {:.1?}",
        summary.runs,
        summary.attempts,
        summary.data_rows,
        summary.error_rows,
        summary.log_rows,
        started.elapsed()
    );
    println!(
        "  run index: {} ({})",
        redact_url(&args.storage.database_url()),
        storage.index.backend()
    );
    println!("  artifacts: {}", storage.store.base_url());
    if let Some((from, to)) = summary.date_range {
        println!("  dates:     {from} .. {to}");
    }
    for (company, dag) in &summary.dags {
        println!("  company {company:<10} dag {dag}");
    }
    if let Some((company, run)) = &summary.example {
        println!(
            "  a run with a retried transform: company {company}, dag {}, date {}, run_id {}",
            run.dag_id, run.date, run.run_id
        );
    }
    Ok(())
}
