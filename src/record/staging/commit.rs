//! The commit of a staged attempt: its parts, in order, through the one
//! attempt writer, `metadata.parquet` last, then the run index; a retried
//! commit answers the first's metadata and records what it left
//! unrecorded.

use arrow_array::RecordBatch;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};

use super::{PartKind, StagedWrite, read_failed};
use crate::artifacts::FileError;
use crate::artifacts::json_values::{JsonRow, batch_to_rows};
use crate::artifacts::key::FileKind;
use crate::artifacts::rows::file_batches;
use crate::artifacts::schemas::AttemptMetadata;
use crate::artifacts::writer::{INLINE_BYTES, PhaseOutcome, inline_take};
use crate::model::AttemptRef;
use crate::record::RecordError;

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

impl StagedWrite<'_> {
    /// Commits an open attempt: its staged parts, in order, through the
    /// attempt writer, `metadata.parquet` last, then the run index; the
    /// staging is deleted after. A second commit stating the same outcome
    /// answers the first's metadata (a retry); another outcome is refused.
    /// A retry records the attempt in the run index when the first commit
    /// was cut short between its metadata and its index entry (a 502 the
    /// client retries), as `dagtrail reconcile` would.
    ///
    /// # Errors
    ///
    /// [`RecordError::NotOpen`] when the attempt was never opened (or was
    /// aborted); [`RecordError::CommitDiffers`] when it is committed with
    /// another outcome; otherwise as [`super::PhaseRecording::commit`].
    pub async fn commit(
        &self,
        outcome: &PhaseOutcome,
        stated: Stated,
        at: DateTime<Utc>,
    ) -> Result<AttemptMetadata, RecordError> {
        let (phase, attempt) = (self.attempt.phase, self.attempt.attempt);
        if self.committed().await? {
            let key = self.folder.metadata();
            let (_, batches) = file_batches(self.store(), &key)
                .await
                .map_err(|e| read_failed(&key, e))?;
            let batches: Vec<RecordBatch> = batches
                .try_collect()
                .await
                .map_err(|e| read_failed(&key, e))?;
            let committed = batches
                .first()
                .and_then(|b| AttemptMetadata::from_batch(b).ok())
                .ok_or_else(|| read_failed(&key, FileError::decode(&key, "no metadata row")))?;
            if same_outcome(&committed, outcome, &stated) {
                // The staging of a commit cut short after the metadata.
                self.delete().await?;
                self.record_if_unrecorded(&committed).await?;
                return Ok(committed);
            }
            return Err(RecordError::CommitDiffers { phase, attempt });
        }
        let (staged, open) = self.state(true).await?;
        if !open {
            return Err(self.not_open());
        }
        // Parts are staged 1..n of each kind: a gap is a sweep deleting
        // the attempt as it expires.
        if !staged.numbered_from_one() {
            return Err(RecordError::StagingChanged { phase, attempt });
        }
        // So that no sweep takes the parts from under a long commit.
        self.mark_open().await?;
        let AttemptRef { run, .. } = &self.attempt;
        let mut recording = self
            .recorder
            .begin(&self.company, run, phase, attempt)
            .await?;
        for kind in PartKind::ALL {
            for &part in staged.parts(kind) {
                let key = self.part_key(kind, part);
                let (_, mut batches) = file_batches(self.store(), &key)
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
        let (now, open) = self.state(true).await?;
        if !open || now != staged {
            return Err(RecordError::StagingChanged { phase, attempt });
        }
        let metadata = recording.commit(outcome, at).await?;
        if let Err(e) = self.delete().await {
            // Committed all the same; the leftovers are invisible to
            // readers and a retried commit or abort removes them.
            tracing::warn!(error = %e, "cannot delete the staged parts of a committed attempt");
        }
        Ok(metadata)
    }

    /// Records the committed attempt in the run index unless it records
    /// it (or a later attempt) already, with its first data rows inline as
    /// its commit would have put them. Returns whether it recorded it.
    async fn record_if_unrecorded(&self, committed: &AttemptMetadata) -> Result<bool, RecordError> {
        let AttemptRef {
            run,
            phase,
            attempt,
        } = &self.attempt;
        let recorded = self
            .recorder
            .index
            .phase_object(&self.company, run, *phase)
            .await?
            .and_then(|o| o.attempt_number());
        if recorded.is_some_and(|n| n >= *attempt) {
            return Ok(false);
        }
        let inline = self.first_rows(committed).await?;
        self.recorder
            .record_committed(&self.company, run, *phase, committed, inline, Utc::now())
            .await?;
        Ok(true)
    }

    /// The first data rows of the committed attempt, as many as its commit
    /// put inline ([`inline_take`]).
    async fn first_rows(&self, committed: &AttemptMetadata) -> Result<Vec<JsonRow>, RecordError> {
        let want = self.recorder.inline_rows();
        let (mut rows, mut used) = (Vec::new(), 0u64);
        for file in 0..usize::try_from(committed.data_files).unwrap_or(0) {
            let key = self.folder.numbered(FileKind::Data, file);
            let (_, mut batches) = file_batches(self.store(), &key)
                .await
                .map_err(|e| read_failed(&key, e))?;
            while let Some(batch) = batches.next().await {
                let batch = batch.map_err(|e| read_failed(&key, e))?;
                let take = (want - rows.len()).min(batch.num_rows());
                let take = inline_take(&batch.slice(0, take), &mut used);
                rows.extend(batch_to_rows(&batch.slice(0, take)));
                if rows.len() >= want || used >= INLINE_BYTES {
                    return Ok(rows);
                }
            }
        }
        Ok(rows)
    }
}
