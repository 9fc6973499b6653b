//! `dagtrail demo`: fills the configured stores with realistic runs —
//! several companies and DAGs, weeks of runs, every phase outcome, retries,
//! varied column types, errors with tracebacks, logs at every level and
//! events — through the same [`Recorder`] that `ingest` uses.

pub(crate) mod synth;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use futures::{StreamExt, TryStreamExt};
use indicatif::ProgressBar;

use crate::artifacts::writer::PhaseOutcome;
use crate::model::{Company, DagId, InvalidValue, Phase, RunId, RunRef};
use crate::record::{RecordError, Recorder};
use crate::runindex::fleet::DagInfo;

pub use synth::{data_schema, event_batches};

/// What to generate.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Companies (tenants).
    pub companies: usize,
    /// DAGs per company.
    pub dags: usize,
    /// Runs per DAG.
    pub runs: usize,
    /// Days the runs spread over, ending at `end_date`.
    pub days: u32,
    /// Last partition date.
    pub end_date: NaiveDate,
    /// Data rows per phase attempt.
    pub rows_per_phase: usize,
    /// Log rows per phase attempt.
    pub log_rows_per_phase: usize,
    /// Error rows per phase attempt.
    pub error_rows_per_phase: usize,
    /// The ETL steps to write for each run.
    pub steps: Vec<Phase>,
    /// Seed of the generator: the same seed writes the same data.
    pub seed: u64,
    /// Runs written at once.
    pub concurrency: usize,
}

impl DemoOptions {
    /// Small defaults: a few seconds of work on the embedded default.
    pub fn small(end_date: NaiveDate) -> Self {
        Self {
            companies: 2,
            dags: 2,
            runs: 24,
            days: 21,
            end_date,
            rows_per_phase: 400,
            log_rows_per_phase: 200,
            error_rows_per_phase: 12,
            steps: Phase::STEPS.to_vec(),
            seed: 42,
            concurrency: 4,
        }
    }
}

/// Generating demo data failed.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// Recording failed.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// Generated rows did not build (a bug in the generator).
    #[error("cannot build demo rows: {0}")]
    Rows(#[from] arrow_schema::ArrowError),
    /// A generated identifier was invalid (a bug in the generator).
    #[error(transparent)]
    Invalid(#[from] InvalidValue),
}

/// What the demo wrote.
#[derive(Debug, Clone, Default)]
pub struct DemoSummary {
    /// Every (company, DAG) written.
    pub dags: Vec<(Company, DagId)>,
    /// Runs written.
    pub runs: usize,
    /// Phase attempts committed.
    pub attempts: usize,
    /// Data rows written.
    pub data_rows: u64,
    /// Error rows written.
    pub error_rows: u64,
    /// Log rows written.
    pub log_rows: u64,
    /// One run worth looking at first (with a retried transform).
    pub example: Option<(Company, RunRef)>,
    /// First and last partition dates.
    pub date_range: Option<(NaiveDate, NaiveDate)>,
}

/// How a run's phases end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    AllGood,
    ExtractFails,
    TransformRetried,
    LoadFails,
    StillRunning,
}

struct PlannedRun {
    company: Company,
    run: RunRef,
    start: DateTime<Utc>,
    scenario: Scenario,
    seed: u64,
    /// The company's `n`-th DAG: what it moves, how often, how much.
    kind: DagKind,
}

/// What sets a company's demo DAGs apart, so that "which DAG failed most
/// recently" has a real answer: schedule, size, failures and words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DagKind {
    /// The company's `n`-th DAG.
    n: usize,
}

impl DagKind {
    /// Hours of the day its runs are scheduled at: once a day at 02:00,
    /// or every six hours.
    fn hour(self, k: usize) -> u32 {
        if self.n.is_multiple_of(2) {
            2
        } else {
            6 * (k % 4) as u32
        }
    }

    /// Its rows per phase: the daily batch is the larger.
    fn rows(self, rows_per_phase: usize) -> usize {
        if self.n.is_multiple_of(2) {
            rows_per_phase
        } else {
            (rows_per_phase / 2).max(1)
        }
    }

    /// How run `k` ends: each DAG fails its own way, on its own days.
    fn scenario(self, k: usize, runs: usize) -> Scenario {
        let k2 = k + 5 * self.n;
        if k + 1 == runs {
            if self.n.is_multiple_of(2) {
                Scenario::StillRunning
            } else {
                Scenario::LoadFails
            }
        } else if self.n.is_multiple_of(2) {
            match (k2 % 11, k2 % 7, k2 % 13) {
                (3, _, _) => Scenario::ExtractFails,
                (_, 2, _) => Scenario::TransformRetried,
                (_, _, 5) => Scenario::LoadFails,
                _ => Scenario::AllGood,
            }
        } else {
            match (k2 % 5, k2 % 9) {
                (1, _) => Scenario::TransformRetried,
                (_, 4) => Scenario::ExtractFails,
                _ => Scenario::AllGood,
            }
        }
    }

    /// What its rows are.
    fn noun(self) -> &'static str {
        if self.n.is_multiple_of(2) {
            "orders"
        } else {
            "customer orders"
        }
    }
}

/// The company names used by the demo (`acme`, `globex`, ...).
pub fn company_name(i: usize) -> String {
    const NAMES: &[&str] = &["acme", "globex", "initech", "umbrella", "hooli", "stark"];
    match NAMES.get(i) {
        Some(name) => (*name).to_owned(),
        None => format!("company-{i}"),
    }
}

fn plan(options: &DemoOptions) -> Result<Vec<PlannedRun>, DemoError> {
    let mut rng = fastrand::Rng::with_seed(options.seed);
    let days = i64::from(options.days.max(1));
    let first_day = options.end_date - Duration::days(days - 1);
    // Runs of today never start in the future.
    let now = chrono::Utc::now();
    let mut planned = Vec::new();
    for c in 0..options.companies {
        let company = Company::new(company_name(c))?;
        for n in 0..options.dags {
            let kind = DagKind { n };
            let dag =
                DagId(uuid::Builder::from_random_bytes(rng.u128(..).to_le_bytes()).into_uuid());
            // The schedule's slots taken so far: (date, hour).
            let mut scheduled: Vec<(NaiveDate, u32)> = Vec::new();
            for k in 0..options.runs {
                let runs = options.runs.max(1) as i64;
                let date = first_day + Duration::days(k as i64 * days / runs);
                let max_hour = if date == now.date_naive() {
                    chrono::Timelike::hour(&now)
                } else {
                    23
                };
                let hour = kind.hour(k).min(max_hour);
                let start = date
                    .and_hms_micro_opt(hour, rng.u32(0..60), rng.u32(0..60), rng.u32(0..1_000_000))
                    .unwrap_or_default()
                    .and_utc()
                    .min(now);
                let run_id = if k == 1 && kind.n.is_multiple_of(2) {
                    // Spaces and `%` exercise the key encoding end to end.
                    format!("manual__backfill {} 100% orders", date.format("%Y-%m"))
                } else if k == 2 && !kind.n.is_multiple_of(2) {
                    format!("manual__resync {} clientes ñ", date.format("%Y-%m-%d"))
                } else if k % 6 == 5 || scheduled.contains(&(date, hour)) {
                    // A second run in a slot the schedule already took is
                    // one somebody triggered by hand.
                    format!("manual__{}", start.format("%Y-%m-%dT%H:%M:%S%.6f+00:00"))
                } else {
                    format!(
                        "scheduled__{}T{hour:02}:00:00+00:00",
                        date.format("%Y-%m-%d")
                    )
                };
                if run_id.starts_with("scheduled__") {
                    scheduled.push((date, hour));
                }
                let scenario = kind.scenario(k, options.runs);
                planned.push(PlannedRun {
                    company: company.clone(),
                    run: RunRef::new(dag, date, RunId::new(run_id)?),
                    start,
                    scenario,
                    seed: rng.u64(..),
                    kind,
                });
            }
        }
    }
    Ok(planned)
}

/// The outcomes of the attempts of one step in a scenario; an empty list
/// means the step never ran.
fn attempts_of(scenario: Scenario, phase: Phase) -> Vec<Option<bool>> {
    match (scenario, phase) {
        (Scenario::ExtractFails, Phase::Extract) => vec![Some(false)],
        (Scenario::ExtractFails, _) => vec![],
        (Scenario::TransformRetried, Phase::Transform) => vec![Some(false), Some(true)],
        (Scenario::LoadFails, Phase::Load) => vec![Some(false)],
        (Scenario::StillRunning, Phase::Load) => vec![None],
        _ => vec![Some(true)],
    }
}

fn message(phase: Phase, success: Option<bool>, rows: usize, kind: DagKind) -> String {
    let noun = kind.noun();
    match (phase, success) {
        (Phase::Extract, Some(true)) => format!("extracted {rows} rows of {noun}"),
        (Phase::Transform, Some(true)) => {
            format!("transformed {rows} rows of {noun} (currency → EUR)")
        }
        (Phase::Load, Some(true)) => format!("loaded {rows} rows of {noun} into the warehouse"),
        (Phase::Load, Some(false)) if kind.n % 2 == 1 => {
            "load failed: the warehouse refused the batch (disk full)".to_owned()
        }
        (_, Some(false)) if kind.n % 2 == 1 => {
            format!("{phase} failed: the CRM API answered 503 for 10 minutes")
        }
        (_, Some(false)) => format!("{phase} failed: upstream timeout after 30 s"),
        (_, None) => format!("{phase} running"),
        (Phase::Event, Some(true)) => "event received".to_owned(),
    }
}

#[derive(Default)]
struct RunTally {
    attempts: usize,
    data_rows: u64,
    error_rows: u64,
    log_rows: u64,
}

async fn write_run(
    recorder: &Recorder,
    options: &DemoOptions,
    planned: PlannedRun,
) -> Result<RunTally, DemoError> {
    let mut rng = fastrand::Rng::with_seed(planned.seed);
    let mut tally = RunTally::default();
    let (queue, event) = event_batches(
        planned.run.run_id.as_str(),
        &planned.run.dag_id.to_string(),
        planned.start,
    )?;
    let received = PhaseOutcome {
        success: Some(true),
        message: "event received".into(),
        total: None,
        started_at: Some(planned.start),
        finished_at: Some(planned.start + Duration::milliseconds(250)),
    };
    recorder
        .record_event(
            &planned.company,
            &planned.run,
            &[queue],
            &[event],
            &received,
            planned.start,
        )
        .await?;
    let mut clock = planned.start + Duration::seconds(1);
    for phase in &options.steps {
        for (i, success) in attempts_of(planned.scenario, *phase)
            .into_iter()
            .enumerate()
        {
            let attempt = u32::try_from(i + 1).unwrap_or(u32::MAX);
            let mut rec = recorder
                .begin(&planned.company, &planned.run, *phase, attempt)
                .await?;
            let full = planned.kind.rows(options.rows_per_phase);
            let rows = if success == Some(false) {
                full / 3
            } else {
                full
            };
            let errors = if success == Some(false) {
                options.error_rows_per_phase * 3
            } else {
                options.error_rows_per_phase
            };
            // Every `every`-th row is flawed, so that about `errors` rows
            // are, each with an error that names it and holds it.
            let every = match errors {
                0 => 0,
                e => (rows / e).max(2),
            };
            rec.set_data_schema(data_schema(*phase));
            let mut written = 0;
            let mut flawed = Vec::new();
            while written < rows {
                let n = (rows - written).min(crate::ingest::BATCH_ROWS);
                let batch =
                    synth::data_batch(&mut rng, *phase, written, n, planned.run.date, every)?;
                for i in 0..n {
                    if let Some(flaw) = synth::flaw(written + i, every) {
                        let record =
                            crate::artifacts::json_values::batch_to_rows(&batch.slice(i, 1))
                                .into_iter()
                                .next()
                                .map(|row| serde_json::Value::Object(row).to_string())
                                .unwrap_or_default();
                        flawed.push(synth::FlawedRow {
                            row: written + i,
                            flaw,
                            record,
                        });
                    }
                }
                rec.write_data(&batch).await?;
                written += n;
            }
            let rowless = if success == Some(false) { 2 } else { 0 };
            if !flawed.is_empty() || rowless > 0 {
                let batch = synth::error_batch(*phase, &flawed, rowless, clock)?;
                rec.write_errors(&batch).await?;
            }
            let finished = clock + Duration::seconds(20 + rng.i64(0..300));
            let story = synth::LogStory {
                start: clock,
                end: finished,
                total: options.log_rows_per_phase,
                flawed: &flawed,
                failed: success == Some(false),
            };
            let mut logged = 0;
            while logged < options.log_rows_per_phase {
                let n = (options.log_rows_per_phase - logged).min(64 * 1024);
                let batch = synth::log_batch(&mut rng, *phase, logged, n, &story)?;
                rec.write_logs(&batch).await?;
                logged += n;
            }
            let outcome = PhaseOutcome {
                success,
                message: message(*phase, success, rows, planned.kind),
                total: None,
                started_at: Some(clock),
                finished_at: success.is_some().then_some(finished),
            };
            rec.commit(&outcome, finished).await?;
            clock = finished + Duration::seconds(2);
            tally.attempts += 1;
            tally.data_rows += rows as u64;
            tally.error_rows += (flawed.len() + rowless) as u64;
            tally.log_rows += options.log_rows_per_phase as u64;
        }
    }
    Ok(tally)
}

/// Writes the demo data; `progress` advances once per run.
///
/// # Errors
///
/// [`DemoError::Record`] when a run cannot be written to the artifact
/// store or the run index; [`DemoError::Rows`] and [`DemoError::Invalid`]
/// only on a bug in the generator.
pub async fn generate(
    recorder: &Recorder,
    options: &DemoOptions,
    progress: &ProgressBar,
) -> Result<DemoSummary, DemoError> {
    let planned = plan(options)?;
    let mut summary = DemoSummary {
        runs: planned.len(),
        ..DemoSummary::default()
    };
    for p in &planned {
        let key = (p.company.clone(), p.run.dag_id);
        if !summary.dags.contains(&key) {
            summary.dags.push(key);
        }
        if summary.example.is_none() && p.scenario == Scenario::TransformRetried {
            summary.example = Some((p.company.clone(), p.run.clone()));
        }
        let (lo, hi) = summary.date_range.unwrap_or((p.run.date, p.run.date));
        summary.date_range = Some((lo.min(p.run.date), hi.max(p.run.date)));
    }
    progress.set_length(planned.len() as u64);
    let tallies: Vec<RunTally> = futures::stream::iter(planned)
        .map(|p| async move {
            let tally = write_run(recorder, options, p).await;
            progress.inc(1);
            tally
        })
        .buffer_unordered(options.concurrency.max(1))
        .try_collect()
        .await?;
    for t in tallies {
        summary.attempts += t.attempts;
        summary.data_rows += t.data_rows;
        summary.error_rows += t.error_rows;
        summary.log_rows += t.log_rows;
    }
    // Each company's DAGs by name, as a pipeline's writers would record
    // them (the fleet view shows them so).
    let mut nth_of_company: Vec<(Company, usize)> = Vec::new();
    for (company, dag) in &summary.dags {
        let n = match nth_of_company.iter_mut().find(|(c, _)| c == company) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                nth_of_company.push((company.clone(), 0));
                0
            }
        };
        recorder
            .describe_dag(company, *dag, &demo_dag_info(n))
            .await?;
    }
    Ok(summary)
}

/// The catalog entry of a company's `n`-th demo DAG.
fn demo_dag_info(n: usize) -> DagInfo {
    const DAGS: [(&str, &str, &str, &str); 4] = [
        (
            "orders_daily",
            "Orders from the shop API into the warehouse",
            "sales,daily",
            "data-eng",
        ),
        (
            "customers_sync",
            "Customer records from the CRM",
            "crm,hourly",
            "crm-team",
        ),
        (
            "invoices_monthly",
            "Invoices to the finance mart",
            "finance",
            "finance-data",
        ),
        ("events_stream", "Click events, batched", "web", "data-eng"),
    ];
    let (name, description, tags, owner) = DAGS[n % DAGS.len()];
    let round = n / DAGS.len();
    DagInfo {
        name: Some(if round == 0 {
            name.to_owned()
        } else {
            format!("{name}_{round}")
        }),
        description: Some(description.to_owned()),
        tags: tags.split(',').map(str::to_owned).collect(),
        owner: Some(owner.to_owned()),
    }
}

/// Whether the stores already hold this demo's data: the first company's
/// first DAG has runs in the demo's date range. (Asked of one company, as
/// every run-index query is.)
///
/// # Errors
///
/// [`DemoError::Record`] when the run index cannot be searched;
/// [`DemoError::Invalid`] only on a bug in the generator.
pub async fn already_written(
    recorder: &Recorder,
    options: &DemoOptions,
) -> Result<bool, DemoError> {
    let planned = plan(options)?;
    let Some(first) = planned.first() else {
        return Ok(false);
    };
    let days = i64::from(options.days.max(1));
    let search =
        crate::runindex::RunSearch::new(options.end_date - Duration::days(days), options.end_date);
    let page = recorder
        .run_index()
        .search_runs(&first.company, &[first.run.dag_id], &search)
        .await
        .map_err(RecordError::from)?;
    Ok(page.total > 0)
}

/// The first company and DAG the demo writes (where to look first).
///
/// # Errors
///
/// [`DemoError::Invalid`] only on a bug in the generator (an invalid
/// generated company or run id).
pub fn first_dag(options: &DemoOptions) -> Result<Option<(Company, DagId)>, DemoError> {
    Ok(plan(options)?
        .into_iter()
        .next()
        .map(|p| (p.company, p.run.dag_id)))
}
