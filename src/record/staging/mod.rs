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
//! An attempt is handled through a [`StagedWrite`] ([`Recorder::staged`]),
//! as object_store's `MultipartUpload` handles an upload: [`StagedWrite::open`],
//! [`StagedWrite::put_part`] (`part.rs`), [`StagedWrite::commit`]
//! (`commit.rs`) or [`StagedWrite::abort`]. Where the parts lie is
//! [`crate::artifacts::key::StagingFolder`]'s to say; `sweep.rs` expires
//! attempts nobody finished.
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

mod commit;
mod part;
mod sweep;

use std::sync::Arc;

use chrono::Utc;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use super::{RecordError, Recorder};
use crate::artifacts::FileError;
use crate::artifacts::key::{AttemptFolder, RunFolder, StagingFolder};
use crate::artifacts::writer::WriteError;
use crate::model::{AttemptRef, Company, Phase, RunRef};

pub use crate::artifacts::key::STAGING_TOP;
pub use commit::Stated;
pub use sweep::{ExpiredStaging, STAGED_ATTEMPTS_EXPIRED};

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

/// One attempt of an ETL step written over several requests, as a handle
/// ([`Recorder::staged`]): nothing is read or written until one of its
/// calls. Every server may hold a handle of the same attempt; what is
/// staged lives in the store, never in the handle.
#[derive(Debug)]
pub struct StagedWrite<'r> {
    recorder: &'r Recorder,
    company: Company,
    attempt: AttemptRef,
    folder: AttemptFolder,
    staging: StagingFolder,
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

impl Recorder {
    /// The handle of `attempt` of `company`'s run.
    ///
    /// # Errors
    ///
    /// [`RecordError::EventIsNotAStep`] for the event;
    /// [`RecordError::Key`] for a run that makes no key or attempt 0.
    pub fn staged(
        &self,
        company: &Company,
        attempt: AttemptRef,
    ) -> Result<StagedWrite<'_>, RecordError> {
        if !attempt.phase.is_step() {
            return Err(RecordError::EventIsNotAStep);
        }
        let folder =
            RunFolder::new(company, &attempt.run)?.attempt(attempt.phase, attempt.attempt)?;
        let staging = StagingFolder::of(&folder)?;
        Ok(StagedWrite {
            recorder: self,
            company: company.clone(),
            attempt,
            folder,
            staging,
        })
    }

    /// Opens the attempt after the run index's newest of `phase` (resumed
    /// when that one is open), as [`StagedWrite::open`].
    ///
    /// # Errors
    ///
    /// As [`Recorder::staged`] and [`StagedWrite::open`];
    /// [`RecordError::Index`] when the run index fails.
    pub async fn open_next_attempt(
        &self,
        company: &Company,
        run: &RunRef,
        phase: Phase,
    ) -> Result<StagedAttempt, RecordError> {
        let attempt = self.next_attempt(company, run, phase).await?;
        self.staged(company, AttemptRef::new(run.clone(), phase, attempt))?
            .open()
            .await
    }
}

impl StagedWrite<'_> {
    /// The attempt this handle writes.
    pub fn attempt(&self) -> &AttemptRef {
        &self.attempt
    }

    fn store(&self) -> &Arc<dyn ObjectStore> {
        self.recorder.store.object_store()
    }

    fn not_open(&self) -> RecordError {
        RecordError::NotOpen {
            phase: self.attempt.phase,
            attempt: self.attempt.attempt,
        }
    }

    fn part_key(&self, kind: PartKind, part: u32) -> Path {
        self.staging.part(kind.as_str(), part)
    }

    /// How many attempts the company holds open, counted up to `max + 1`
    /// (one page of a delimited listing).
    async fn open_attempts(&self) -> Result<usize, RecordError> {
        let prefix = self.staging.company_prefix();
        let listed = self
            .store()
            .list_with_delimiter(Some(&prefix))
            .await
            .map_err(store_error(&prefix))?;
        Ok(listed.common_prefixes.len())
    }

    /// Writes the marker that makes the attempt open, or writes it again:
    /// its time is the attempt's last touch, which expiry counts from.
    async fn mark_open(&self) -> Result<(), RecordError> {
        let marker = self.staging.marker();
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
    async fn state(&self, resumed: bool) -> Result<(StagedAttempt, bool), RecordError> {
        let prefix = self.staging.prefix();
        let keys: Vec<Path> = self
            .store()
            .list(Some(prefix))
            .map_ok(|meta| meta.location)
            .map_err(store_error(prefix))
            .try_collect()
            .await?;
        let mut staged = StagedAttempt {
            attempt: self.attempt.attempt,
            resumed,
            data: Vec::new(),
            errors: Vec::new(),
            logs: Vec::new(),
        };
        let mut open = false;
        for key in keys {
            // `{prefix}/open.json` and `{prefix}/{kind}/{part:06}.parquet`.
            let parts = match self.staging.parse(&key) {
                Some((None, _)) => {
                    open = true;
                    continue;
                }
                Some((Some(kind), part)) => match kind.as_str() {
                    "data" => (&mut staged.data, part),
                    "errors" => (&mut staged.errors, part),
                    "logs" => (&mut staged.logs, part),
                    _ => continue,
                },
                None => continue,
            };
            parts.0.push(parts.1);
        }
        for parts in [&mut staged.data, &mut staged.errors, &mut staged.logs] {
            parts.sort_unstable();
        }
        Ok((staged, open))
    }

    /// Deletes every staged file (the marker last: an attempt half
    /// cleaned stays open and can be aborted again).
    async fn delete(&self) -> Result<(), RecordError> {
        self.recorder
            .store
            .delete_prefix(self.staging.prefix(), Some(&self.staging.marker()))
            .await
            .map_err(|e| RecordError::Write(e.into()))?;
        Ok(())
    }

    /// Opens the attempt for parts, or resumes it when it is open already.
    ///
    /// # Errors
    ///
    /// [`RecordError::Write`] with [`WriteError::AlreadyCommitted`] when
    /// the attempt is committed, or when the store fails;
    /// [`RecordError::CompanyFolderTaken`] on a store that folds case;
    /// [`RecordError::Index`] when the run index fails.
    pub async fn open(&self) -> Result<StagedAttempt, RecordError> {
        self.refuse_committed().await?;
        let (staged, open) = self.state(true).await?;
        if open {
            self.mark_open().await?;
            return Ok(staged);
        }
        self.recorder.mark_store().await?;
        self.recorder.check_company_folder(&self.company).await?;
        // Counted before this one is marked: two servers opening at once
        // may each take the last place, so the bound may be passed by as
        // many attempts as are opened at that instant.
        let max = self.recorder.staging.max_open_attempts;
        if self.open_attempts().await? >= max {
            return Err(RecordError::TooManyOpenAttempts { max });
        }
        self.mark_open().await?;
        Ok(StagedAttempt {
            resumed: false,
            ..staged
        })
    }

    /// The parts staged of the open attempt.
    ///
    /// # Errors
    ///
    /// [`RecordError::NotOpen`] when the attempt is not open (never opened,
    /// committed or aborted); [`RecordError::Write`] when the store fails.
    pub async fn parts(&self) -> Result<StagedAttempt, RecordError> {
        match self.state(true).await? {
            (staged, true) => Ok(staged),
            (_, false) => Err(self.not_open()),
        }
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
    pub async fn abort(&self) -> Result<(), RecordError> {
        self.refuse_committed().await?;
        self.delete().await
    }

    /// [`WriteError::AlreadyCommitted`] when the attempt is committed.
    async fn refuse_committed(&self) -> Result<(), RecordError> {
        if self.committed().await? {
            return Err(RecordError::Write(WriteError::AlreadyCommitted {
                key: self.folder.metadata().to_string(),
                attempt: self.attempt.attempt,
            }));
        }
        Ok(())
    }
}

fn read_failed(key: &Path, e: FileError) -> RecordError {
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
