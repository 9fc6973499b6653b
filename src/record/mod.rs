//! Recording runs: the service that the CLI (`ingest`, `ingest-event`) and
//! the demo generator call. It writes a phase attempt's artifacts with the
//! [`AttemptWriter`], commits them (`metadata.parquet` last), and only then
//! records the phase in the run index with its first rows inline.

pub mod staging;

use std::sync::Arc;

use arrow_array::RecordBatch;
use chrono::{DateTime, SecondsFormat, Utc};

use crate::artifacts::json_values::{JsonRow, batch_to_rows};
use crate::artifacts::key::{EventFile, KeyError, RunFolder};
use crate::artifacts::schemas::AttemptMetadata;
use crate::artifacts::store::ArtifactStore;
use crate::artifacts::writer::{
    AttemptWriter, PhaseOutcome, WriteError, WriterOptions, put_parquet_batches,
};
use crate::model::{Company, Phase, RunRef};
use crate::runindex::{IndexError, PhaseObject, PhaseStatus, RunIndex};

/// Recording failed; the run index is untouched unless the artifacts were
/// committed.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// An artifact key could not be built.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Writing the artifacts failed.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// The run index failed.
    #[error("cannot record the phase in the run index: {0}")]
    Index(#[from] IndexError),
    /// `event` has no attempts; it is recorded with [`Recorder::record_event`].
    #[error("the event phase is recorded with record_event, not as an attempt")]
    EventIsNotAStep,
    /// The store folds case and its top holds a folder whose name differs
    /// from the company's only in case: another company's.
    #[error(
        "the artifact store does not tell upper from lower case and already holds another company's folder named like {0:?} in another case; writing would mix the two companies' runs"
    )]
    CompanyFolderTaken(Company),
    /// An event without any rows in either file.
    #[error("an event needs rows in queue_data or event")]
    EmptyEvent,
    /// Parts go to an open attempt only: never opened, or committed or
    /// aborted since.
    #[error(
        "attempt {attempt} of {phase} is not open: open it first (a committed attempt takes no more parts)"
    )]
    NotOpen {
        /// The phase.
        phase: Phase,
        /// The attempt.
        attempt: u32,
    },
    /// Parts of a kind come in order.
    #[error("{kind} part {part} is out of order: the next is {next} (parts count from 1)")]
    PartOutOfOrder {
        /// What the part holds.
        kind: staging::PartKind,
        /// The part asked for.
        part: u32,
        /// The next part number.
        next: u32,
    },
    /// A part's rows cannot be staged; nothing of it is kept.
    #[error("{kind} part {part}: {reason}")]
    BadPart {
        /// What the part holds.
        kind: staging::PartKind,
        /// The part.
        part: u32,
        /// What is wrong, and where (line and column of a text input).
        reason: String,
    },
    /// What was sent goes past one of the limits that bound a request's
    /// memory ([`crate::ingest::IngestLimits`]); nothing of it is kept.
    #[error("{what}: {over}")]
    OverLimit {
        /// What was sent, and where in it ("data part 2, line 7").
        what: String,
        /// The limit, its value and its setting.
        over: crate::ingest::OverLimit,
    },
    /// A company has as many attempts open as it may (429).
    #[error(
        "this company has {max} attempts open, the most it may (DAGTRAIL_MAX_OPEN_ATTEMPTS): commit or abort some first (an attempt left open is deleted after DAGTRAIL_STAGED_ATTEMPT_TTL)"
    )]
    TooManyOpenAttempts {
        /// The bound.
        max: usize,
    },
    /// A part past the most an attempt takes of a kind (409).
    #[error(
        "{kind} part {part} is past the most parts of a kind an attempt takes, {max} (DAGTRAIL_MAX_PARTS): send larger parts"
    )]
    TooManyParts {
        /// What the part holds.
        kind: staging::PartKind,
        /// The part asked for.
        part: u32,
        /// The bound.
        max: u32,
    },
    /// A committed attempt is committed again with another outcome.
    #[error(
        "attempt {attempt} of {phase} is committed with another outcome; a committed attempt is immutable (a re-run writes the next attempt)"
    )]
    CommitDiffers {
        /// The phase.
        phase: Phase,
        /// The attempt.
        attempt: u32,
    },
    /// Staged parts went missing before or during a commit (the attempt
    /// was deleted as expired); nothing was committed.
    #[error(
        "the staged parts of attempt {attempt} of {phase} changed while it was being committed (deleted after DAGTRAIL_STAGED_ATTEMPT_TTL untouched?); nothing was committed: open the attempt again to see what is staged"
    )]
    StagingChanged {
        /// The phase.
        phase: Phase,
        /// The attempt.
        attempt: u32,
    },
    /// A staged part (or the committed metadata) cannot be read back.
    #[error("cannot read {key} back: {reason}")]
    Staged {
        /// The file.
        key: String,
        /// Why.
        reason: String,
    },
}

/// How a phase ended, as its writer says: the run index's
/// `status.success` (contract section 2).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    clap::ValueEnum,
    serde::Deserialize,
    serde::Serialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum EndStatus {
    /// `status.success = true`
    #[default]
    Success,
    /// `status.success = false`
    Failed,
    /// `status.success = null` (started, not finished)
    Pending,
}

impl EndStatus {
    /// `status.success`.
    pub fn success(self) -> Option<bool> {
        match self {
            EndStatus::Success => Some(true),
            EndStatus::Failed => Some(false),
            EndStatus::Pending => None,
        }
    }
}

impl PhaseOutcome {
    /// The outcome a writer states, the end time now when it ended
    /// (succeeded or failed) without saying when: the CLI's and the write
    /// API's one rule.
    pub fn ended(
        status: EndStatus,
        message: String,
        total: Option<i64>,
        started_at: Option<DateTime<Utc>>,
        finished_at: Option<DateTime<Utc>>,
    ) -> Self {
        let success = status.success();
        PhaseOutcome {
            success,
            message,
            total,
            started_at,
            finished_at: finished_at.or_else(|| success.is_some().then(Utc::now)),
        }
    }
}

/// Rows written to attempts, by `part` (`data`, `errors`, `logs`).
pub const INGEST_ROWS: &str = "dagtrail_ingest_rows_total";
/// Attempts committed and recorded.
pub const INGEST_ATTEMPTS: &str = "dagtrail_ingest_attempts_total";

fn count_rows(part: &'static str, batch: &RecordBatch) {
    metrics::counter!(INGEST_ROWS, "part" => part).increment(batch.num_rows() as u64);
}

/// Writes runs: artifacts first, then the run index.
#[derive(Debug, Clone)]
pub struct Recorder {
    index: Arc<dyn RunIndex>,
    store: ArtifactStore,
    options: WriterOptions,
    staging: staging::StagingLimits,
}

fn rfc3339(t: Option<DateTime<Utc>>) -> Option<String> {
    t.map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// The phase object of the run index (contract section 2).
fn phase_object(
    outcome: &PhaseOutcome,
    total: i64,
    s3_data_path: String,
    attempt: u32,
    data: Vec<JsonRow>,
) -> PhaseObject {
    PhaseObject {
        status: PhaseStatus {
            success: outcome.success,
            message: Some(outcome.message.clone()),
            total: Some(total),
        },
        s3_data_path: Some(s3_data_path),
        attempt: Some(attempt.into()),
        started_at: rfc3339(outcome.started_at),
        finished_at: rfc3339(outcome.finished_at),
        data: Some(data),
    }
}

impl Recorder {
    /// A recorder over a run index and an artifact store.
    pub fn new(index: Arc<dyn RunIndex>, store: ArtifactStore, options: WriterOptions) -> Self {
        Self {
            index,
            store,
            options,
            staging: staging::StagingLimits::default(),
        }
    }

    /// The recorder with these bounds on staged attempts (the write API's
    /// `DAGTRAIL_MAX_OPEN_ATTEMPTS`, `DAGTRAIL_MAX_PARTS`).
    pub fn with_staging_limits(mut self, limits: staging::StagingLimits) -> Self {
        self.staging = limits;
        self
    }

    /// The run index written to.
    pub fn run_index(&self) -> &Arc<dyn RunIndex> {
        &self.index
    }

    /// The artifact store written to.
    pub fn store(&self) -> &ArtifactStore {
        &self.store
    }

    /// The attempt after the last one the run index knows (1 when none).
    ///
    /// # Errors
    ///
    /// [`RecordError::Index`] when the run index fails (see
    /// [`RunIndex::phase_object`]).
    pub async fn next_attempt(
        &self,
        company: &Company,
        run: &RunRef,
        phase: Phase,
    ) -> Result<u32, RecordError> {
        let last = self
            .index
            .phase_object(company, run, phase)
            .await?
            .and_then(|o| o.attempt_number())
            .unwrap_or(0);
        Ok(last.saturating_add(1))
    }

    /// Starts writing one attempt of an ETL step.
    ///
    /// # Errors
    ///
    /// [`RecordError::EventIsNotAStep`] for [`Phase::Event`];
    /// [`RecordError::Key`] when the run's parts do not make a key or
    /// `attempt` is 0; [`RecordError::Write`] when the attempt is already
    /// committed or the store fails (see [`AttemptWriter::create`]).
    pub async fn begin(
        &self,
        company: &Company,
        run: &RunRef,
        phase: Phase,
        attempt: u32,
    ) -> Result<PhaseRecording, RecordError> {
        if !phase.is_step() {
            return Err(RecordError::EventIsNotAStep);
        }
        let folder = RunFolder::new(company, run)?.attempt(phase, attempt)?;
        self.mark_store().await?;
        self.check_company_folder(company).await?;
        let s3_data_path = self.store.url_of(&folder.folder());
        let writer =
            AttemptWriter::create(&self.store, folder, phase, attempt, self.options.clone())
                .await?;
        Ok(PhaseRecording {
            writer,
            index: Arc::clone(&self.index),
            company: company.clone(),
            run: run.clone(),
            phase,
            attempt,
            s3_data_path,
        })
    }

    /// Puts the store's marker, so that `/readyz` knows the store (every
    /// writer does, as `dagtrail migrate` does).
    async fn mark_store(&self) -> Result<(), RecordError> {
        self.store.mark().await.map_err(|source| {
            RecordError::Write(WriteError::Store {
                key: crate::artifacts::key::store_marker().to_string(),
                source,
            })
        })
    }

    /// Refuses to write into another company's folder: on a store that
    /// folds case, `ACME`'s attempts would land in `acme`'s folder.
    async fn check_company_folder(&self, company: &Company) -> Result<(), RecordError> {
        let own = self
            .store
            .is_own_company_folder(company)
            .await
            .map_err(|source| {
                RecordError::Write(WriteError::Store {
                    key: company.as_str().to_owned(),
                    source,
                })
            })?;
        if own {
            Ok(())
        } else {
            Err(RecordError::CompanyFolderTaken(company.clone()))
        }
    }

    /// Records a DAG's catalog entry (its name and the rest), so that the
    /// fleet view shows it by name: the fields given replace, the others
    /// are kept.
    ///
    /// # Errors
    ///
    /// [`RecordError::Index`] when the run index fails.
    pub async fn describe_dag(
        &self,
        company: &Company,
        dag_id: crate::model::DagId,
        info: &crate::runindex::fleet::DagInfo,
    ) -> Result<(), RecordError> {
        self.index.record_dag(company, dag_id, info).await?;
        Ok(())
    }

    /// The number of inline rows a phase object holds.
    pub fn inline_rows(&self) -> usize {
        self.options.inline_rows
    }

    /// Records in the run index an attempt already committed in the store
    /// (its `metadata.parquet` read back as `metadata`, its first data rows
    /// as `inline`): the second step of a commit whose first step
    /// succeeded (docs/RELIABILITY.md, "The commit window").
    ///
    /// # Errors
    ///
    /// [`RecordError::Key`] for a run that names no folder;
    /// [`RecordError::Index`] when the run index fails.
    pub async fn record_committed(
        &self,
        company: &Company,
        run: &RunRef,
        phase: Phase,
        metadata: &AttemptMetadata,
        inline: Vec<JsonRow>,
        at: DateTime<Utc>,
    ) -> Result<(), RecordError> {
        let attempt = u32::try_from(metadata.attempt).unwrap_or(0);
        let folder = RunFolder::new(company, run)?.attempt(phase, attempt)?;
        let outcome = PhaseOutcome {
            success: metadata.success,
            message: metadata.message.clone(),
            total: Some(metadata.total),
            started_at: metadata.started_at,
            finished_at: metadata.finished_at,
        };
        let object = phase_object(
            &outcome,
            metadata.total,
            self.store.url_of(&folder.folder()),
            attempt,
            inline,
        );
        self.index
            .record_phase(company, run, phase, &object, at)
            .await?;
        Ok(())
    }

    /// Records a run's event: `queue_data.parquet` and `event.parquet`,
    /// then the `event` phase object (attempt 1, first event rows inline).
    ///
    /// # Errors
    ///
    /// [`RecordError::EmptyEvent`] when both `queue_data` and `event` are
    /// empty; [`RecordError::Key`] when the run's parts do not make a key;
    /// [`RecordError::Write`] when a file cannot be encoded or stored;
    /// [`RecordError::Index`] when the run index cannot record the phase.
    /// The index is written only after the files are.
    pub async fn record_event(
        &self,
        company: &Company,
        run: &RunRef,
        queue_data: &[RecordBatch],
        event: &[RecordBatch],
        outcome: &PhaseOutcome,
        at: DateTime<Utc>,
    ) -> Result<(), RecordError> {
        let folder = RunFolder::new(company, run)?;
        self.mark_store().await?;
        self.check_company_folder(company).await?;
        let store = self.store.object_store();
        let mut wrote_any = false;
        for (file, batches) in [
            (EventFile::QueueData, queue_data),
            (EventFile::Event, event),
        ] {
            let Some(first) = batches.first() else {
                continue;
            };
            let key = folder.event_file(file)?;
            let props = self.options.properties_for(&first.schema());
            put_parquet_batches(store, &key, first.schema(), batches, &props).await?;
            wrote_any = true;
        }
        if !wrote_any {
            return Err(RecordError::EmptyEvent);
        }
        let rows: i64 = event.iter().map(|b| b.num_rows() as i64).sum();
        let mut inline = Vec::new();
        let mut inline_bytes = 0u64;
        for batch in event {
            let take = self
                .options
                .inline_rows
                .saturating_sub(inline.len())
                .min(batch.num_rows());
            let take =
                crate::artifacts::writer::inline_take(&batch.slice(0, take), &mut inline_bytes);
            inline.extend(batch_to_rows(&batch.slice(0, take)));
        }
        let object = phase_object(
            outcome,
            outcome.total.unwrap_or(rows),
            self.store.url_of(&folder.event_folder()),
            1,
            inline,
        );
        self.index
            .record_phase(company, run, Phase::Event, &object, at)
            .await?;
        Ok(())
    }
}

/// One attempt being written. [`PhaseRecording::commit`] makes it visible;
/// [`PhaseRecording::abort`] removes what was written.
pub struct PhaseRecording {
    writer: AttemptWriter,
    index: Arc<dyn RunIndex>,
    company: Company,
    run: RunRef,
    phase: Phase,
    attempt: u32,
    s3_data_path: String,
}

impl PhaseRecording {
    /// The attempt number being written.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The URL of the attempt's folder.
    pub fn s3_data_path(&self) -> &str {
        &self.s3_data_path
    }

    /// Appends data rows.
    ///
    /// # Errors
    ///
    /// [`RecordError::Write`] when [`AttemptWriter::write_data`] fails.
    pub async fn write_data(&mut self, batch: &RecordBatch) -> Result<(), RecordError> {
        self.writer.write_data(batch).await?;
        count_rows("data", batch);
        Ok(())
    }

    /// Appends error rows.
    ///
    /// # Errors
    ///
    /// [`RecordError::Write`] when [`AttemptWriter::write_errors`] fails.
    pub async fn write_errors(&mut self, batch: &RecordBatch) -> Result<(), RecordError> {
        self.writer.write_errors(batch).await?;
        count_rows("errors", batch);
        Ok(())
    }

    /// Appends log rows.
    ///
    /// # Errors
    ///
    /// [`RecordError::Write`] when [`AttemptWriter::write_logs`] fails.
    pub async fn write_logs(&mut self, batch: &RecordBatch) -> Result<(), RecordError> {
        self.writer.write_logs(batch).await?;
        count_rows("logs", batch);
        Ok(())
    }

    /// Sets the data schema for a phase that may have no rows.
    pub fn set_data_schema(&mut self, schema: arrow_schema::SchemaRef) {
        self.writer.set_data_schema(schema);
    }

    /// Commits the artifacts, then records the phase in the run index
    /// with `updated_at = at`.
    ///
    /// # Errors
    ///
    /// [`RecordError::Write`] when the commit fails (see
    /// [`AttemptWriter::commit`]): the attempt is not committed and the
    /// index is untouched.
    /// [`RecordError::Index`] when the run index cannot record the phase:
    /// the attempt is committed but the index does not point to it.
    pub async fn commit(
        self,
        outcome: &PhaseOutcome,
        at: DateTime<Utc>,
    ) -> Result<AttemptMetadata, RecordError> {
        let committed = self.writer.commit(outcome).await?;
        let object = phase_object(
            outcome,
            committed.metadata.total,
            self.s3_data_path,
            self.attempt,
            committed.inline_rows,
        );
        self.index
            .record_phase(&self.company, &self.run, self.phase, &object, at)
            .await?;
        metrics::counter!(INGEST_ATTEMPTS).increment(1);
        Ok(committed.metadata)
    }

    /// Abandons the attempt and deletes its files.
    pub async fn abort(self) {
        self.writer.abort().await;
    }
}
