//! `dagtrail ingest`: record one phase attempt from files.

use std::path::PathBuf;

use anyhow::{Context, bail};
use chrono::{DateTime, NaiveDate, Utc};
use clap::Args;
use dagtrail::artifacts::writer::{Codec, PhaseOutcome, WriteError, WriterOptions};
use dagtrail::ingest::{IngestError, Input, InputBatch, InputFormat};
use dagtrail::model::{Company, DagId, Phase, RunId, RunRef, parse_date};
use dagtrail::read::ReadService;
use dagtrail::reconcile::{Reconciler, Recorded};
use dagtrail::record::{EndStatus, PhaseRecording, RecordError, Recorder};
use dagtrail::runindex::fleet::DagInfo;
use dagtrail::settings::StorageSettings;

/// Which run: shared by `ingest` and `ingest-event`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The company (tenant) the run belongs to.
    #[arg(long)]
    pub company: Company,
    /// The DAG's UUID.
    #[arg(long)]
    pub dag_id: DagId,
    /// The run's partition date (YYYY-MM-DD).
    #[arg(long, value_parser = |s: &str| parse_date("date", s))]
    pub date: NaiveDate,
    /// The Airflow run id.
    #[arg(long)]
    pub run_id: RunId,
    /// The DAG's name, for the fleet view (`GET /dags`); kept until
    /// another writer names it.
    #[arg(long)]
    pub dag_name: Option<String>,
    /// What the DAG does.
    #[arg(long)]
    pub dag_description: Option<String>,
    /// The DAG's tags, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub dag_tags: Vec<String>,
    /// Who owns the DAG.
    #[arg(long)]
    pub dag_owner: Option<String>,
}

/// Records the DAG's catalog entry when the command was given one.
pub async fn describe_dag(recorder: &Recorder, run: &RunArgs) -> anyhow::Result<()> {
    if let Some(info) = run.dag_info() {
        recorder
            .describe_dag(&run.company, run.dag_id, &info)
            .await
            .context("cannot record the DAG's catalog entry")?;
    }
    Ok(())
}

impl RunArgs {
    pub fn run_ref(&self) -> RunRef {
        RunRef::new(self.dag_id, self.date, self.run_id.clone())
    }

    /// The DAG's catalog entry, when any of its flags is given.
    pub fn dag_info(&self) -> Option<DagInfo> {
        let tags: Vec<String> = self
            .dag_tags
            .iter()
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .collect();
        let info = DagInfo {
            name: self.dag_name.clone(),
            description: self.dag_description.clone(),
            tags,
            owner: self.dag_owner.clone(),
        };
        (info != DagInfo::default()).then_some(info)
    }
}

/// The phase's outcome: shared by `ingest` and `ingest-event`.
#[derive(Debug, Args)]
pub struct OutcomeArgs {
    /// How the phase ended.
    #[arg(long, value_enum, default_value_t = EndStatus::Success)]
    pub status: EndStatus,
    /// Status message.
    #[arg(long, default_value = "")]
    pub message: String,
    /// Rows the phase produced [default: the data rows written].
    #[arg(long)]
    pub total: Option<i64>,
    /// Start time (RFC 3339).
    #[arg(long)]
    pub started_at: Option<DateTime<Utc>>,
    /// End time (RFC 3339) [default: now, unless the status is pending].
    #[arg(long)]
    pub finished_at: Option<DateTime<Utc>>,
}

impl OutcomeArgs {
    pub fn outcome(&self) -> PhaseOutcome {
        PhaseOutcome::ended(
            self.status,
            self.message.clone(),
            self.total,
            self.started_at,
            self.finished_at,
        )
    }
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    #[command(flatten)]
    storage: StorageSettings,
    #[command(flatten)]
    limits: dagtrail::settings::IngestSettings,
    #[command(flatten)]
    run: RunArgs,
    /// The phase: extract, transform or load.
    #[arg(long, value_parser = |s: &str| s.parse::<Phase>().map_err(|e| e.to_string()).and_then(|p| if p.is_step() { Ok(p) } else { Err("the event is recorded with ingest-event".to_owned()) }))]
    phase: Phase,
    /// Attempt number [default: one more than the run index knows].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    attempt: Option<u32>,
    /// Data rows, any columns: NDJSON, CSV or Parquet files, `-` for stdin
    /// (NDJSON, or CSV with --format csv) (repeatable).
    ///
    /// Column types are inferred from the first 1,000 rows without loss:
    /// integers past int64 become uint64 or decimal, numbers a float64
    /// cannot hold exactly become decimal, RFC 3339 timestamps with Z
    /// become timestamps, anything else keeps its text.
    #[arg(long, verbatim_doc_comment)]
    data: Vec<PathBuf>,
    /// Error rows (repeatable). Columns:
    ///   error_title   text                   required
    ///   error_status  integer (e.g. 422)     required
    ///   error_detail  text                   required
    ///   occurred_at   RFC 3339 timestamp     required
    ///   error_type    URI reference          default about:blank
    ///   traceback     text                   optional
    ///   _file, _row   integers: the data row it concerns (optional)
    ///   record        the offending input, JSON text or object (optional)
    /// Example (CSV): examples/ingest/errors.csv
    #[arg(long, verbatim_doc_comment)]
    errors: Vec<PathBuf>,
    /// Log rows (repeatable). Columns, all required:
    ///   ts       RFC 3339 timestamp (also read from `timestamp` or `time`)
    ///   level    DEBUG, INFO, WARNING, ERROR, CRITICAL, any case; WARN
    ///            and FATAL too (also read from `levelname` or `severity`)
    ///   logger   text (also read from `name`)
    ///   message  text (also read from `msg`)
    /// Example (NDJSON): examples/ingest/logs.ndjson
    #[arg(long, verbatim_doc_comment)]
    logs: Vec<PathBuf>,
    /// Format of every input [default: from each file's extension; stdin
    /// is NDJSON].
    #[arg(long, value_enum)]
    format: Option<InputFormat>,
    #[command(flatten)]
    outcome: OutcomeArgs,
    /// Data rows per data_NNN.parquet file.
    #[arg(long, default_value_t = WriterOptions::default().rows_per_file)]
    rows_per_file: usize,
    /// Compression of the written files.
    #[arg(long, value_enum, default_value_t = Codec::Zstd)]
    codec: Codec,
}

#[derive(Debug, Clone, Copy)]
enum Part {
    Data,
    Errors,
    Logs,
}

/// Feeds one input into the attempt; errors come back with the file, and
/// the line (or Parquet row) of the input, named.
async fn feed(rec: &mut PhaseRecording, input: &Input, part: &Part) -> Result<u64, anyhow::Error> {
    let mut rows = 0u64;
    let mut batches = input.stream();
    while let Some(batch) = batches.recv().await {
        let InputBatch { batch, places } = batch?;
        rows += batch.num_rows() as u64;
        let written = match part {
            Part::Data => rec.write_data(&batch).await,
            Part::Errors => rec.write_errors(&batch).await,
            Part::Logs => rec.write_logs(&batch).await,
        };
        let file = input.path.display().to_string();
        written.map_err(|e| match e {
            RecordError::Write(WriteError::Schema { source, .. }) => {
                anyhow::Error::new(IngestError::BadFile {
                    file,
                    reason: source.describe(&|row| places.of(row).to_string()),
                })
            }
            RecordError::Write(e) => anyhow::Error::new(IngestError::BadFile {
                file,
                reason: e.to_string(),
            }),
            other => other.into(),
        })?;
    }
    Ok(rows)
}

pub async fn run(args: IngestArgs) -> anyhow::Result<()> {
    let stdin_uses = [&args.data, &args.errors, &args.logs]
        .iter()
        .flat_map(|v| v.iter())
        .filter(|p| p.as_os_str() == "-")
        .count();
    if stdin_uses > 1 {
        bail!("stdin (`-`) can be given only once");
    }
    let mut inputs = Vec::new();
    for (paths, part) in [
        (&args.data, Part::Data),
        (&args.errors, Part::Errors),
        (&args.logs, Part::Logs),
    ] {
        for path in paths {
            inputs.push((
                Input::new(path, args.format)?.with_limits(dagtrail::ingest::IngestLimits {
                    // An operator's own file may hold billions of rows.
                    max_decoded_bytes: None,
                    ..args.limits.limits(None)
                }),
                part,
            ));
        }
    }
    if inputs.is_empty() {
        eprintln!(
            "warning: no --data, --errors or --logs given: recording {} of run {} with no rows",
            args.phase, args.run.run_id
        );
    }
    let storage = args
        .storage
        .open()
        .await
        .context("cannot open the stores")?;
    let recorder = Recorder::new(
        storage.index.clone(),
        storage.store.clone(),
        WriterOptions {
            rows_per_file: args.rows_per_file,
            codec: args.codec,
            ..WriterOptions::default()
        },
    );
    let run = args.run.run_ref();
    // Before the attempt: a failure here leaves nothing written, so a
    // retry does not record a second attempt.
    describe_dag(&recorder, &args.run).await?;
    let attempt = match args.attempt {
        Some(n) => n,
        None => {
            recorder
                .next_attempt(&args.run.company, &run, args.phase)
                .await?
        }
    };
    let mut rec = match recorder
        .begin(&args.run.company, &run, args.phase, attempt)
        .await
    {
        Ok(rec) => rec,
        Err(committed @ RecordError::Write(WriteError::AlreadyCommitted { .. })) => {
            // A retry after a failure between the commit and the run
            // index: the attempt is in the store; record it there, once.
            let reads = ReadService::new(storage.index.clone(), storage.store.clone(), 16 << 20);
            let reconciler = Reconciler::new(reads, recorder.clone());
            match reconciler
                .record_committed(&args.run.company, &run, args.phase, attempt)
                .await
                .context("cannot record the committed attempt in the run index")?
            {
                Recorded::Now => {
                    println!(
                        "{} attempt {attempt} of run {} was committed but not in the run index (a failure after its commit); recorded it now, and did not write the input again",
                        args.phase, args.run.run_id
                    );
                    return Ok(());
                }
                Recorded::Already => return Err(committed.into()),
            }
        }
        Err(e) => return Err(e.into()),
    };
    let mut counts = [0u64; 3];
    for (input, part) in &inputs {
        match feed(&mut rec, input, part).await {
            Ok(n) => {
                counts[match part {
                    Part::Data => 0,
                    Part::Errors => 1,
                    Part::Logs => 2,
                }] += n
            }
            Err(e) => {
                rec.abort().await;
                return Err(e.context(format!(
                    "nothing was recorded for {} attempt {attempt}",
                    args.phase
                )));
            }
        }
    }
    let path = rec.s3_data_path().to_owned();
    let metadata = rec
        .commit(&args.outcome.outcome(), Utc::now())
        .await
        .context("cannot commit the attempt")?;
    println!(
        "recorded {} attempt {attempt} of run {} ({} data rows in {} files, {} errors, {} logs) at {path}",
        args.phase, args.run.run_id, counts[0], metadata.data_files, counts[1], counts[2]
    );
    Ok(())
}
