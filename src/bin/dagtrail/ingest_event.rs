//! `dagtrail ingest-event`: record a run's event.

use std::path::PathBuf;

use anyhow::Context;
use arrow_array::RecordBatch;
use chrono::Utc;
use clap::Args;
use dagtrail::artifacts::writer::WriterOptions;
use dagtrail::ingest::{Input, InputFormat};
use dagtrail::record::Recorder;
use dagtrail::settings::StorageSettings;

use crate::ingest::{OutcomeArgs, RunArgs};

#[derive(Debug, Args)]
pub struct IngestEventArgs {
    #[command(flatten)]
    storage: StorageSettings,
    #[command(flatten)]
    run: RunArgs,
    /// The raw trigger message(s): NDJSON, CSV or Parquet.
    #[arg(long)]
    queue_data: Option<PathBuf>,
    /// The processed event: NDJSON, CSV or Parquet.
    #[arg(long)]
    event: Option<PathBuf>,
    /// Format of the inputs [default: from each file's extension].
    #[arg(long, value_enum)]
    format: Option<InputFormat>,
    #[command(flatten)]
    outcome: OutcomeArgs,
}

/// Events are small: read one input fully.
async fn read_all(
    path: Option<&PathBuf>,
    format: Option<InputFormat>,
) -> anyhow::Result<Vec<RecordBatch>> {
    let Some(path) = path else {
        return Ok(Vec::new());
    };
    let input = Input::new(path, format)?;
    let mut rx = input.stream();
    let mut batches = Vec::new();
    while let Some(batch) = rx.recv().await {
        batches.push(batch?.batch);
    }
    Ok(batches)
}

pub async fn run(args: IngestEventArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.queue_data.is_some() || args.event.is_some(),
        "give --queue-data, --event or both"
    );
    let queue = read_all(args.queue_data.as_ref(), args.format).await?;
    let event = read_all(args.event.as_ref(), args.format).await?;
    let storage = args
        .storage
        .open()
        .await
        .context("cannot open the stores")?;
    let recorder = Recorder::new(storage.index, storage.store, WriterOptions::default());
    let run = args.run.run_ref();
    crate::ingest::describe_dag(&recorder, &args.run).await?;
    recorder
        .record_event(
            &args.run.company,
            &run,
            &queue,
            &event,
            &args.outcome.outcome(),
            Utc::now(),
        )
        .await
        .context("cannot record the event")?;
    println!("recorded the event of run {}", args.run.run_id);
    Ok(())
}
