//! Attempts written over several requests (the write API, issue 15): open,
//! upload parts, commit once (or abort).
//!
//! Each uploaded part is staged as its own Parquet file **outside** the
//! contract's layout, under `dagtrail=staging/{company}/{digest of the
//! attempt's folder}/` (no company's folder can be named `dagtrail=staging`:
//! an encoded segment never holds a raw `=`; `open.json` there names the
//! attempt's folder), so nothing staged is ever readable as the attempt, by
//! us or by a tool reading the layout. A part's file appears whole or not at all
//! (an object store completes a multipart upload at once; the local store
//! renames a finished file), so a server killed mid-upload keeps the parts
//! finished before it: re-opening the attempt says which, and the client
//! goes on from there. The commit streams the parts, in order, through the
//! one [`crate::artifacts::writer::AttemptWriter`] (the same files, index
//! and `metadata.parquet` as `dagtrail ingest`), then deletes the staging.
//!
//! Why stage and re-encode instead of writing the layout's files as parts
//! arrive: `data_NNN.parquet` files are numbered and sized by the writer,
//! and `index.parquet` spans them all; a part that fails halfway must
//! leave nothing, and a killed server must leave what was finished. The
//! cost is one more pass over the rows at commit.
//!
//! An attempt opened and then forgotten (a task killed for good, a client
//! that never commits nor aborts) would keep its parts forever:
//! [`Recorder::expire_staged`] deletes staged attempts untouched for a
//! while (`dagtrail serve` sweeps every hour, `DAGTRAIL_STAGED_ATTEMPT_TTL`).
//! "Touched" is the newest of its files: a part uploaded, or the marker,
//! written again when the attempt is resumed and when its commit starts.

use std::sync::Arc;

use arrow_array::{RecordBatch, new_null_array};
use arrow_schema::SchemaRef;
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt, TryStreamExt};
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::AsyncArrowWriter;
use sha2::Digest as _;

use super::{RecordError, Recorder};
use crate::artifacts::ArtifactStore;
use crate::artifacts::key::{AttemptFolder, RunFolder};
use crate::artifacts::schemas::AttemptMetadata;
use crate::artifacts::writer::{PhaseOutcome, WriteError, conform_errors, conform_logs, storable};
use crate::model::{Company, Phase, RunRef};
use crate::read::{ReadError, file_batches};

/// The top folder of staged parts (beside the companies' folders).
pub const STAGING_TOP: &str = "dagtrail=staging";

/// The marker of an open attempt, in its staging folder.
const MARKER: &str = "open.json";

/// Staged attempts deleted by [`Recorder::expire_staged`] in this process.
pub const STAGED_ATTEMPTS_EXPIRED: &str = "dagtrail_staged_attempts_expired_total";

/// Attempts one company may hold open at once by default
/// (`DAGTRAIL_MAX_OPEN_ATTEMPTS`): each is a marker kept until its TTL.
pub const DEFAULT_MAX_OPEN_ATTEMPTS: usize = 1_000;
/// Parts of one kind an attempt takes at most by default
/// (`DAGTRAIL_MAX_PARTS`): 10,000 parts of 1 GiB is more than any phase.
pub const DEFAULT_MAX_PARTS: u32 = 10_000;

/// What bounds a company's staged attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StagingLimits {
    /// Attempts one company may hold open at once (then 429).
    pub max_open_attempts: usize,
    /// Parts of one kind an attempt takes at most (then 409).
    pub max_parts: u32,
}

impl Default for StagingLimits {
    fn default() -> Self {
        Self {
            max_open_attempts: DEFAULT_MAX_OPEN_ATTEMPTS,
            max_parts: DEFAULT_MAX_PARTS,
        }
    }
}

/// What [`Recorder::expire_staged`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExpiredStaging {
    /// Staged attempts deleted.
    pub attempts: usize,
    /// Their files (parts and markers).
    pub files: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Expired attempts that could not be deleted (the store failed; each
    /// logged): the next sweep tries them again.
    pub failed: usize,
}

/// What a part holds.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum PartKind {
    /// Data rows, any columns (the first part's columns fix the attempt's).
    Data,
    /// Error rows (contract section 3's errors schema).
    Errors,
    /// Log rows (contract section 3's logs schema).
    Logs,
}

impl PartKind {
    /// Every kind, in the order a commit writes them.
    pub const ALL: [PartKind; 3] = [PartKind::Data, PartKind::Errors, PartKind::Logs];

    /// The kind's name (`data`, `errors`, `logs`).
    pub fn as_str(self) -> &'static str {
        match self {
            PartKind::Data => "data",
            PartKind::Errors => "errors",
            PartKind::Logs => "logs",
        }
    }
}

impl std::fmt::Display for PartKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An open attempt and the parts staged so far, by kind (part numbers,
/// ascending from 1).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct StagedAttempt {
    /// The attempt number.
    pub attempt: u32,
    /// Whether it was open already (a resumption).
    pub resumed: bool,
    /// Data parts staged.
    pub data: Vec<u32>,
    /// Error parts staged.
    pub errors: Vec<u32>,
    /// Log parts staged.
    pub logs: Vec<u32>,
}

impl StagedAttempt {
    fn parts(&self, kind: PartKind) -> &[u32] {
        match kind {
            PartKind::Data => &self.data,
            PartKind::Errors => &self.errors,
            PartKind::Logs => &self.logs,
        }
    }
}

/// What [`Recorder::commit_staged`] did, with the attempt's metadata.
#[derive(Debug, Clone)]
pub enum StagedCommit {
    /// The attempt is committed now, and recorded in the run index.
    Now(AttemptMetadata),
    /// It was committed before with the same outcome; whether the run
    /// index records it is not known (the first commit may have stopped
    /// after `metadata.parquet`).
    Retried(AttemptMetadata),
}

/// Where an attempt's parts are staged.
struct Staging {
    artifacts: ArtifactStore,
    folder: AttemptFolder,
    prefix: Path,
}

fn store_error(key: &Path) -> impl Fn(object_store::Error) -> RecordError + use<> {
    let key = key.to_string();
    move |source| {
        RecordError::Write(WriteError::Store {
            key: key.clone(),
            source,
        })
    }
}

impl Staging {
    fn new(
        recorder: &Recorder,
        company: &Company,
        run: &RunRef,
        phase: Phase,
        attempt: u32,
    ) -> Result<Self, RecordError> {
        if !phase.is_step() {
            return Err(RecordError::EventIsNotAStep);
        }
        let folder = RunFolder::new(company, run)?.attempt(phase, attempt)?;
        // The company's folder, then a digest of the attempt's: keys stay
        // shorter than the attempt's own (some stores limit a key's length
        // through the file names they derive from it), and a company's
        // staging is one prefix.
        let company_folder = folder
            .prefix()
            .parts()
            .next()
            .ok_or_else(|| crate::artifacts::key::KeyError::InvalidSegment(String::new()))?;
        let digest = sha2::Sha256::digest(folder.prefix().as_ref().as_bytes());
        let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
        let prefix = Path::from_iter([
            object_store::path::PathPart::from(STAGING_TOP),
            company_folder,
            object_store::path::PathPart::from(hex.as_str()),
        ]);
        Ok(Self {
            artifacts: recorder.store.clone(),
            folder,
            prefix,
        })
    }

    fn store(&self) -> &Arc<dyn ObjectStore> {
        self.artifacts.object_store()
    }

    /// The company's staging: one folder per staged attempt.
    fn company_prefix(&self) -> Path {
        Path::from_iter(self.prefix.parts().take(2))
    }

    /// How many attempts the company holds open, counted up to `max + 1`
    /// (one page of a delimited listing).
    async fn open_attempts(&self) -> Result<usize, RecordError> {
        let prefix = self.company_prefix();
        let listed = self
            .store()
            .list_with_delimiter(Some(&prefix))
            .await
            .map_err(store_error(&prefix))?;
        Ok(listed.common_prefixes.len())
    }

    fn marker(&self) -> Path {
        self.prefix.clone().join(MARKER)
    }

    /// Writes the marker that makes the attempt open, or writes it again:
    /// its time is the attempt's last touch, which expiry counts from.
    async fn mark_open(&self) -> Result<(), RecordError> {
        let marker = self.marker();
        let opened = serde_json::json!({
            "attempt_folder": self.folder.prefix().as_ref(),
            "touched_at": Utc::now().to_rfc3339(),
        });
        self.store()
            .put(&marker, PutPayload::from(opened.to_string().into_bytes()))
            .await
            .map_err(store_error(&marker))?;
        Ok(())
    }

    fn part(&self, kind: PartKind, part: u32) -> Path {
        self.prefix
            .clone()
            .join(kind.as_str())
            .join(format!("{part:06}.parquet"))
    }

    async fn exists(&self, key: &Path) -> Result<bool, RecordError> {
        match self.store().head(key).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(source) => Err(store_error(key)(source)),
        }
    }

    async fn committed(&self) -> Result<bool, RecordError> {
        self.exists(&self.folder.metadata()).await
    }

    /// What is staged, in one listing: the part numbers of each kind,
    /// ascending, and whether the marker is there (the attempt is open).
    async fn state(
        &self,
        attempt: u32,
        resumed: bool,
    ) -> Result<(StagedAttempt, bool), RecordError> {
        let keys: Vec<Path> = self
            .store()
            .list(Some(&self.prefix))
            .map_ok(|meta| meta.location)
            .map_err(store_error(&self.prefix))
            .try_collect()
            .await?;
        let mut staged = StagedAttempt {
            attempt,
            resumed,
            data: Vec::new(),
            errors: Vec::new(),
            logs: Vec::new(),
        };
        let mut open = false;
        for key in keys {
            // `{prefix}/open.json` and `{prefix}/{kind}/{part:06}.parquet`.
            let Some(mut rest) = key.prefix_match(&self.prefix) else {
                continue;
            };
            let (Some(first), second, None) = (rest.next(), rest.next(), rest.next()) else {
                continue;
            };
            let Some(file) = second else {
                open |= first.as_ref() == MARKER;
                continue;
            };
            let Some(part) = file
                .as_ref()
                .strip_suffix(".parquet")
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let parts = match first.as_ref() {
                "data" => &mut staged.data,
                "errors" => &mut staged.errors,
                "logs" => &mut staged.logs,
                _ => continue,
            };
            parts.push(part);
        }
        for parts in [&mut staged.data, &mut staged.errors, &mut staged.logs] {
            parts.sort_unstable();
        }
        Ok((staged, open))
    }

    /// Deletes every staged file (the marker last: an attempt half
    /// cleaned stays open and can be aborted again).
    async fn delete(&self) -> Result<(), RecordError> {
        self.artifacts
            .delete_prefix(&self.prefix, Some(&self.marker()))
            .await
            .map_err(|e| RecordError::Write(e.into()))?;
        Ok(())
    }
}

/// `batch` with the columns of `schema`, in its order: a column the batch
/// lacks is null, one of another type is cast (a value that does not fit
/// is an error); a column `schema` lacks is refused. A later part of an
/// attempt written as NDJSON or CSV may infer a narrower type than the
/// first (an all-null column, integers where the first had decimals).
fn conform_data(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, String> {
    if batch.schema().fields() == schema.fields() {
        return Ok(batch.clone());
    }
    if let Some(extra) = batch
        .schema()
        .fields()
        .iter()
        .find(|f| schema.field_with_name(f.name()).is_err())
    {
        return Err(format!(
            "column {:?} is not among the attempt's columns (the first data part's): {}",
            extra.name(),
            schema
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let columns = schema
        .fields()
        .iter()
        .map(|field| match batch.column_by_name(field.name()) {
            None => Ok(new_null_array(field.data_type(), batch.num_rows())),
            Some(column) if column.data_type() == field.data_type() => Ok(Arc::clone(column)),
            Some(column) => arrow_cast::cast_with_options(
                column,
                field.data_type(),
                &arrow_cast::CastOptions {
                    safe: false,
                    ..Default::default()
                },
            )
            .map_err(|e| {
                format!(
                    "column {:?} holds {} where the first data part has {}: {e}",
                    field.name(),
                    column.data_type(),
                    field.data_type()
                )
            }),
        })
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(Arc::clone(schema), columns).map_err(|e| e.to_string())
}

/// Whether a second commit states what the first did: the same answer
/// then (a client retrying after a lost reply), a conflict otherwise.
/// Times and the total the second one leaves out are not compared (the
/// first commit's defaults filled them).
fn same_outcome(committed: &AttemptMetadata, outcome: &PhaseOutcome, stated: &Stated) -> bool {
    committed.success == outcome.success
        && committed.message == outcome.message
        && (!stated.total || Some(committed.total) == outcome.total)
        && (!stated.started_at || committed.started_at == outcome.started_at)
        && (!stated.finished_at || committed.finished_at == outcome.finished_at)
}

/// Which optional fields of an outcome the writer stated (the others were
/// defaulted).
#[derive(Debug, Clone, Copy, Default)]
pub struct Stated {
    /// `total`.
    pub total: bool,
    /// `started_at`.
    pub started_at: bool,
    /// `finished_at`.
    pub finished_at: bool,
}

impl Recorder {
    /// Opens an attempt of an ETL step for parts, or resumes it when it is
    /// open already. Without `attempt`, the next after the run index's
    /// newest (resumed when that one is open).
    ///
    /// # Errors
    ///
    /// [`RecordError::EventIsNotAStep`] for the event;
    /// [`RecordError::Key`] for a run that makes no key or attempt 0;
    /// [`RecordError::Write`] with [`WriteError::AlreadyCommitted`] when
    /// the attempt is committed, or when the store fails;
    /// [`RecordError::CompanyFolderTaken`] on a store that folds case;
    /// [`RecordError::Index`] when the run index fails.
    pub async fn open_attempt(
        &self,
        company: &Company,
        run: &RunRef,
        phase: Phase,
        attempt: Option<u32>,
    ) -> Result<StagedAttempt, RecordError> {
        let attempt = match attempt {
            Some(n) => n,
            None => self.next_attempt(company, run, phase).await?,
        };
        let staging = Staging::new(self, company, run, phase, attempt)?;
        if staging.committed().await? {
            return Err(RecordError::Write(WriteError::AlreadyCommitted {
                key: staging.folder.metadata().to_string(),
                attempt,
            }));
        }
        let (staged, open) = staging.state(attempt, true).await?;
        if open {
            staging.mark_open().await?;
            return Ok(staged);
        }
        self.mark_store().await?;
        self.check_company_folder(company).await?;
        // Counted before this one is marked: two servers opening at once
        // may each take the last place, so the bound may be passed by as
        // many attempts as are opened at that instant.
        let max = self.staging.max_open_attempts;
        if staging.open_attempts().await? >= max {
            return Err(RecordError::TooManyOpenAttempts { max });
        }
        staging.mark_open().await?;
        Ok(StagedAttempt {
            resumed: false,
            ..staged
        })
    }

    /// The parts staged of an open attempt.
    ///
    /// # Errors
    ///
    /// [`RecordError::NotOpen`] when the attempt is not open (never opened,
    /// committed or aborted); [`RecordError::Write`] when the store fails.
    pub async fn staged_attempt(
        &self,
        company: &Company,
        run: &RunRef,
        phase: Phase,
        attempt: u32,
    ) -> Result<StagedAttempt, RecordError> {
        let staging = Staging::new(self, company, run, phase, attempt)?;
        match staging.state(attempt, true).await? {
            (staged, true) => Ok(staged),
            (_, false) => Err(RecordError::NotOpen { phase, attempt }),
        }
    }

    /// Stages part `part` of `kind` from `batches`: written whole or not
    /// at all (a failure of the stream keeps nothing of it), replacing a
    /// part of that number. Parts of a kind come in order: part `n` needs
    /// parts 1 to `n - 1`. Data parts take the columns of the first data
    /// part ([`conform_data`]); error and log parts must fit the contract's
    /// schemas. Returns the rows staged.
    ///
    /// # Errors
    ///
    /// [`RecordError::NotOpen`], [`RecordError::PartOutOfOrder`];
    /// [`RecordError::BadPart`] for a part without rows or whose rows do
    /// not fit; the stream's own errors as they come;
    /// [`RecordError::Write`] when encoding or the store fails.
    #[allow(clippy::too_many_arguments)] // One attempt's coordinates, then the part's.
    pub async fn stage_part<S>(
        &self,
        company: &Company,
        run: &RunRef,
        phase: Phase,
        attempt: u32,
        kind: PartKind,
        part: u32,
        mut batches: S,
    ) -> Result<u64, RecordError>
    where
        S: Stream<Item = Result<RecordBatch, RecordError>> + Unpin,
    {
        let staging = Staging::new(self, company, run, phase, attempt)?;
        if part > self.staging.max_parts {
            return Err(RecordError::TooManyParts {
                kind,
                part,
                max: self.staging.max_parts,
            });
        }
        // A few HEADs, not a listing of the attempt: a part's cost must
        // not grow with the parts before it.
        if !staging.exists(&staging.marker()).await? || staging.committed().await? {
            return Err(RecordError::NotOpen { phase, attempt });
        }
        // Parts of a kind come in order: part n needs part n - 1.
        if part == 0 || (part > 1 && !staging.exists(&staging.part(kind, part - 1)).await?) {
            let (state, _) = staging.state(attempt, true).await?;
            let next = state
                .parts(kind)
                .last()
                .map_or(1, |last| last.saturating_add(1));
            return Err(RecordError::PartOutOfOrder { kind, part, next });
        }
        let bad = |reason: String| RecordError::BadPart { kind, part, reason };
        // The attempt's columns, when another data part fixed them (part
        // 1, or part 2 when part 1 is the one put again).
        let other = if part == 1 { 2 } else { 1 };
        let columns = match kind {
            PartKind::Data if staging.exists(&staging.part(kind, other)).await? => {
                let key = staging.part(kind, other);
                let (schema, _) = file_batches(staging.store(), &key)
                    .await
                    .map_err(|e| read_failed(&key, e))?;
                Some(schema)
            }
            _ => None,
        };
        let key = staging.part(kind, part);
        let mut writer: Option<AsyncArrowWriter<BufWriter>> = None;
        let mut rows = 0u64;
        let parquet_error = |source| {
            RecordError::Write(WriteError::Parquet {
                key: key.to_string(),
                source,
            })
        };
        while let Some(batch) = batches.next().await {
            let batch = batch?;
            if batch.num_rows() == 0 {
                continue;
            }
            // As the writer will store it (types Parquet cannot hold as
            // text), before comparing with the first part's columns.
            let batch = storable(&batch)?;
            let batch = match kind {
                PartKind::Data => match &columns {
                    Some(schema) => conform_data(&batch, schema).map_err(bad)?,
                    None => batch,
                },
                PartKind::Errors => conform_errors(&batch).map_err(|e| bad(e.to_string()))?,
                PartKind::Logs => conform_logs(&batch).map_err(|e| bad(e.to_string()))?,
            };
            if writer.is_none() {
                let sink = BufWriter::new(Arc::clone(staging.store()), key.clone());
                writer = Some(
                    AsyncArrowWriter::try_new(
                        sink,
                        batch.schema(),
                        Some(self.options.properties_for(&batch.schema())),
                    )
                    .map_err(parquet_error)?,
                );
            }
            if let Some(w) = writer.as_mut() {
                w.write(&batch).await.map_err(parquet_error)?;
            }
            rows += batch.num_rows() as u64;
        }
        let Some(writer) = writer else {
            return Err(bad("the part has no rows".to_owned()));
        };
        writer.close().await.map_err(parquet_error)?;
        Ok(rows)
    }

    /// Commits an open attempt: its staged parts, in order, through the
    /// attempt writer, `metadata.parquet` last, then the run index; the
    /// staging is deleted after. A second commit stating the same outcome
    /// answers the first's metadata (a retry); another outcome is refused.
    /// A retry does not look at the run index: the caller records the
    /// attempt there when a first commit was cut short between its
    /// metadata and its index entry ([`StagedCommit::Retried`]).
    ///
    /// # Errors
    ///
    /// [`RecordError::NotOpen`] when the attempt was never opened (or was
    /// aborted); [`RecordError::CommitDiffers`] when it is committed with
    /// another outcome; otherwise as [`super::PhaseRecording::commit`].
    #[allow(clippy::too_many_arguments)] // One attempt's coordinates, then the outcome.
    pub async fn commit_staged(
        &self,
        company: &Company,
        run: &RunRef,
        phase: Phase,
        attempt: u32,
        outcome: &PhaseOutcome,
        stated: Stated,
        at: DateTime<Utc>,
    ) -> Result<StagedCommit, RecordError> {
        let staging = Staging::new(self, company, run, phase, attempt)?;
        if staging.committed().await? {
            let key = staging.folder.metadata();
            let (_, batches) = file_batches(staging.store(), &key)
                .await
                .map_err(|e| read_failed(&key, e))?;
            let batches: Vec<RecordBatch> = batches
                .try_collect()
                .await
                .map_err(|e| read_failed(&key, e))?;
            let committed = batches
                .first()
                .and_then(|b| AttemptMetadata::from_batch(b).ok())
                .ok_or_else(|| read_failed(&key, ReadError::decode(&key, "no metadata row")))?;
            if same_outcome(&committed, outcome, &stated) {
                // The staging of a commit cut short after the metadata.
                staging.delete().await?;
                return Ok(StagedCommit::Retried(committed));
            }
            return Err(RecordError::CommitDiffers { phase, attempt });
        }
        let (staged, open) = staging.state(attempt, true).await?;
        if !open {
            return Err(RecordError::NotOpen { phase, attempt });
        }
        // Parts are staged 1..n of each kind: a gap is a sweep deleting
        // the attempt as it expires.
        if !staged.numbered_from_one() {
            return Err(RecordError::StagingChanged { phase, attempt });
        }
        // So that no sweep takes the parts from under a long commit.
        staging.mark_open().await?;
        let mut recording = self.begin(company, run, phase, attempt).await?;
        for kind in PartKind::ALL {
            for &part in staged.parts(kind) {
                let key = staging.part(kind, part);
                let (_, mut batches) = file_batches(staging.store(), &key)
                    .await
                    .map_err(|e| read_failed(&key, e))?;
                while let Some(batch) = batches.next().await {
                    let batch = batch.map_err(|e| read_failed(&key, e))?;
                    match kind {
                        PartKind::Data => recording.write_data(&batch).await?,
                        PartKind::Errors => recording.write_errors(&batch).await?,
                        PartKind::Logs => recording.write_logs(&batch).await?,
                    }
                }
            }
        }
        // Nothing deleted while the parts were read (a sweep that had
        // begun on this attempt): else nothing is committed.
        let (now, open) = staging.state(attempt, true).await?;
        if !open || now != staged {
            return Err(RecordError::StagingChanged { phase, attempt });
        }
        let metadata = recording.commit(outcome, at).await?;
        if let Err(e) = staging.delete().await {
            // Committed all the same; the leftovers are invisible to
            // readers and a retried commit or abort removes them.
            tracing::warn!(error = %e, "cannot delete the staged parts of a committed attempt");
        }
        Ok(StagedCommit::Now(metadata))
    }

    /// Abandons an open attempt: its staged parts are deleted. Files a
    /// commit cut short left in the attempt's folder stay, unread without
    /// a `metadata.parquet`, until the attempt is written again (another
    /// server may be committing it: deleting them could break its commit).
    /// Aborting an attempt not open is not an error (a retried abort).
    ///
    /// # Errors
    ///
    /// [`RecordError::Write`] with [`WriteError::AlreadyCommitted`] when
    /// the attempt is committed, or when the store fails.
    pub async fn abort_staged(
        &self,
        company: &Company,
        run: &RunRef,
        phase: Phase,
        attempt: u32,
    ) -> Result<(), RecordError> {
        let staging = Staging::new(self, company, run, phase, attempt)?;
        if staging.committed().await? {
            return Err(RecordError::Write(WriteError::AlreadyCommitted {
                key: staging.folder.metadata().to_string(),
                attempt,
            }));
        }
        staging.delete().await
    }

    /// Deletes every company's staged attempts untouched since `before`
    /// (neither opened, resumed, given a part nor committed since): what
    /// clients opened and forgot. Files a commit cut short left in an
    /// attempt's folder stay (see [`Recorder::abort_staged`]).
    ///
    /// Each attempt's marker is looked at again just before its deletion,
    /// and one touched since is kept. A commit that begins while its
    /// attempt is being deleted finds parts missing or changing and
    /// refuses ([`RecordError::StagingChanged`]); only a commit begun in
    /// the instant between the last part's deletion and the marker's
    /// could commit an attempt with no parts. Hence `before` is meant to
    /// be days ago.
    ///
    /// # Errors
    ///
    /// [`RecordError::Write`] when the staging folder cannot be listed;
    /// an attempt the store fails to delete is counted in
    /// [`ExpiredStaging::failed`] and the others are still swept.
    pub async fn expire_staged(
        &self,
        before: DateTime<Utc>,
    ) -> Result<ExpiredStaging, RecordError> {
        let top = Path::from(STAGING_TOP);
        let store = self.store.object_store();
        // One company at a time, one attempt at a time: memory holds one
        // company's attempt folders and one attempt's files, never the
        // whole staging.
        let companies = store
            .list_with_delimiter(Some(&top))
            .await
            .map_err(store_error(&top))?
            .common_prefixes;
        let mut expired = ExpiredStaging::default();
        for company in companies {
            let attempts = match store.list_with_delimiter(Some(&company)).await {
                Ok(listed) => listed.common_prefixes,
                Err(e) => {
                    tracing::warn!(staging = %company, error = %e, "cannot list a company's staged attempts; the next sweep tries again");
                    expired.failed += 1;
                    continue;
                }
            };
            for folder in attempts {
                self.expire_attempt(&folder, before, &mut expired).await;
            }
        }
        Ok(expired)
    }

    /// Deletes the staged attempt in `folder` when nothing in it was
    /// touched since `before`, counting what it did in `expired`.
    async fn expire_attempt(
        &self,
        folder: &Path,
        before: DateTime<Utc>,
        expired: &mut ExpiredStaging,
    ) {
        let store = self.store.object_store();
        let files: Vec<ObjectMeta> = match store.list(Some(folder)).try_collect().await {
            Ok(files) => files,
            Err(e) => {
                tracing::warn!(staging = %folder, error = %e, "cannot list a staged attempt; the next sweep tries again");
                expired.failed += 1;
                return;
            }
        };
        let Some(touched) = files.iter().map(|f| f.last_modified).max() else {
            return;
        };
        if touched >= before {
            return;
        }
        // Touched since the listing (resumed, or a commit begun): kept.
        let marker = folder.clone().join(MARKER);
        match store.head(&marker).await {
            Ok(meta) if meta.last_modified >= before => return,
            Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => {
                tracing::warn!(staging = %folder, error = %e, "cannot tell whether a staged attempt expired; the next sweep tries again");
                expired.failed += 1;
                return;
            }
        }
        if let Err(e) = self.store.delete_prefix(folder, Some(&marker)).await {
            tracing::warn!(staging = %folder, error = %e, "cannot delete an expired staged attempt; the next sweep tries again");
            expired.failed += 1;
            return;
        }
        let bytes: u64 = files.iter().map(|f| f.size).sum();
        tracing::info!(
            staging = %folder,
            last_touched = %touched.to_rfc3339(),
            files = files.len(),
            bytes,
            "deleted a staged attempt nobody committed or aborted"
        );
        metrics::counter!(STAGED_ATTEMPTS_EXPIRED).increment(1);
        expired.attempts += 1;
        expired.files += files.len();
        expired.bytes += bytes;
    }
}

fn read_failed(key: &Path, e: ReadError) -> RecordError {
    RecordError::Staged {
        key: key.to_string(),
        reason: e.to_string(),
    }
}

impl StagedAttempt {
    /// Whether `part` of `kind` is staged.
    pub fn has(&self, kind: PartKind, part: u32) -> bool {
        self.parts(kind).contains(&part)
    }

    /// Whether each kind's parts are 1 to n, as staging them makes them.
    fn numbered_from_one(&self) -> bool {
        PartKind::ALL.iter().all(|&kind| {
            self.parts(kind)
                .iter()
                .copied()
                .eq(1..=self.parts(kind).len() as u32)
        })
    }
}
