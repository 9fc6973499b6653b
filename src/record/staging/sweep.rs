//! Staged attempts nobody finished: a task killed for good, a client that
//! never commits nor aborts. [`Recorder::expire_staged`] deletes those
//! untouched for a while (`dagtrail serve` sweeps every hour,
//! `DAGTRAIL_STAGED_ATTEMPT_TTL`).

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStoreExt};

use super::store_error;
use crate::artifacts::key::{STAGING_MARKER, STAGING_TOP};
use crate::record::{RecordError, Recorder};

/// Staged attempts deleted by [`Recorder::expire_staged`] in this process.
pub const STAGED_ATTEMPTS_EXPIRED: &str = "dagtrail_staged_attempts_expired_total";

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

impl Recorder {
    /// Deletes every company's staged attempts untouched since `before`
    /// (neither opened, resumed, given a part nor committed since): what
    /// clients opened and forgot. Files a commit cut short left in an
    /// attempt's folder stay (see [`super::StagedWrite::abort`]).
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
        let marker = folder.clone().join(STAGING_MARKER);
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
