//! The commit window, repaired. A phase attempt is committed in two steps:
//! `metadata.parquet` is written to the store, then the run index records
//! the phase. A failure between the two (the database down, a role without
//! UPDATE) leaves an attempt that readers of the store see and the run
//! index does not. [`Reconciler`] records such an attempt from what the
//! store holds (the retry of the same `ingest` does it for its attempt),
//! and finds every such disagreement across a store (`dagtrail reconcile`).

use std::collections::BTreeMap;

use chrono::{NaiveDate, Utc};
use futures::TryStreamExt;
use object_store::path::Path;
use percent_encoding::percent_decode_str;

use crate::artifacts::key::key_segment;
use crate::model::{Company, DagId, Phase, RunId, RunRef};
use crate::read::{ReadError, ReadService};
use crate::record::{RecordError, Recorder};
use crate::runindex::IndexError;

/// Reconciling failed.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// Reading the store or the attempt failed.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// Recording in the run index failed.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// The run index failed.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// Listing the store failed.
    #[error("cannot list the artifact store: {0}")]
    List(object_store::Error),
}

/// What [`Reconciler::record_committed`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// The attempt is now the phase's record in the run index.
    Now,
    /// The run index already recorded it, or a later attempt.
    Already,
}

/// A disagreement between the store and the run index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// An attempt committed in the store that the run index does not
    /// record: it records an earlier attempt (`recorded`) or none.
    Unrecorded {
        /// The company.
        company: Company,
        /// The run.
        run: RunRef,
        /// The phase.
        phase: Phase,
        /// The latest committed attempt.
        attempt: u32,
        /// What the run index records.
        recorded: Option<u32>,
    },
    /// The run index records an attempt that has no `metadata.parquet`.
    RecordedButMissing {
        /// The company.
        company: Company,
        /// The run.
        run: RunRef,
        /// The phase.
        phase: Phase,
        /// The attempt recorded.
        attempt: u32,
    },
    /// A `metadata.parquet` whose key names no attempt dagtrail can map
    /// back to its run (a segment stored shortened, or not the layout).
    Unmapped {
        /// The key.
        key: String,
    },
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::Unrecorded {
                company,
                run,
                phase,
                attempt,
                recorded,
            } => {
                let recorded = recorded.map_or("none".to_owned(), |n| format!("attempt {n}"));
                write!(
                    f,
                    "unrecorded: {company} {} {} {} {phase} attempt {attempt} is committed; the run index records {recorded}",
                    run.dag_id, run.date, run.run_id
                )
            }
            Finding::RecordedButMissing {
                company,
                run,
                phase,
                attempt,
            } => write!(
                f,
                "missing files: {company} {} {} {} {phase}: the run index records attempt {attempt}, which has no metadata.parquet",
                run.dag_id, run.date, run.run_id
            ),
            Finding::Unmapped { key } => {
                write!(f, "unmapped: {key} names no run dagtrail can read back")
            }
        }
    }
}

/// Finds and repairs disagreements between the store and the run index.
#[derive(Debug, Clone)]
pub struct Reconciler {
    reads: ReadService,
    recorder: Recorder,
}

/// A committed attempt's place, read back from its `metadata.parquet` key.
type AttemptPlace = (Company, RunRef, Phase, u32);

impl Reconciler {
    /// A reconciler over the same stores for reading and recording.
    pub fn new(reads: ReadService, recorder: Recorder) -> Self {
        Self { reads, recorder }
    }

    /// Records committed attempt `attempt` in the run index, from its
    /// `metadata.parquet` and first data rows, unless the run index already
    /// records it or a later attempt.
    ///
    /// # Errors
    ///
    /// [`ReconcileError::Read`] ([`crate::read::Missing::Attempt`]) when the attempt is
    /// not committed; a store, decoding or run-index error.
    pub async fn record_committed(
        &self,
        company: &Company,
        run: &RunRef,
        phase: Phase,
        attempt: u32,
    ) -> Result<Recorded, ReconcileError> {
        let recorded = self.recorded_attempt(company, run, phase).await?;
        if recorded.is_some_and(|n| n >= attempt) {
            return Ok(Recorded::Already);
        }
        let reader = self.reads.attempt(company, run, phase, attempt).await?;
        let inline = if reader.metadata().data_rows > 0 {
            let rows = u32::try_from(self.recorder.inline_rows()).unwrap_or(u32::MAX);
            reader.data_page(0, rows).await?.rows.inline_json()
        } else {
            Vec::new()
        };
        self.recorder
            .record_committed(company, run, phase, reader.metadata(), inline, Utc::now())
            .await?;
        Ok(Recorded::Now)
    }

    async fn recorded_attempt(
        &self,
        company: &Company,
        run: &RunRef,
        phase: Phase,
    ) -> Result<Option<u32>, IndexError> {
        Ok(self
            .reads
            .run_index()
            .phase_object(company, run, phase)
            .await?
            .and_then(|o| o.attempt_number()))
    }

    /// Lists the store under `company` (every company when `None`) and
    /// compares each phase it holds files of with the run index: committed
    /// attempts (`metadata.parquet`) the run index does not record, and
    /// records of attempts without one. `progress` is called with the
    /// number of objects listed so far. A run the store holds no file of
    /// is not seen (the run index is not listed across companies).
    ///
    /// # Errors
    ///
    /// [`ReconcileError::List`] when the store cannot be listed;
    /// [`ReconcileError::Index`] when the run index fails.
    pub async fn scan(
        &self,
        company: Option<&Company>,
        mut progress: impl FnMut(u64),
    ) -> Result<Vec<Finding>, ReconcileError> {
        let prefix = match company {
            Some(c) => Some(Path::from(
                key_segment(c.as_str()).map_err(ReadError::from)?,
            )),
            None => None,
        };
        let mut listed = 0u64;
        let mut findings = Vec::new();
        // (company, run, phase) → committed attempts.
        let mut committed: BTreeMap<(String, String, Phase), (AttemptPlace, Vec<u32>)> =
            BTreeMap::new();
        let mut keys = self.reads.store().object_store().list(prefix.as_ref());
        while let Some(meta) = keys.try_next().await.map_err(ReconcileError::List)? {
            listed += 1;
            if listed.is_multiple_of(1000) {
                progress(listed);
            }
            let is_commit = meta.location.filename() == Some("metadata.parquet");
            let Some(place) = attempt_place(&meta.location) else {
                // Event files and other run-level files name no attempt.
                if is_commit {
                    findings.push(Finding::Unmapped {
                        key: meta.location.to_string(),
                    });
                }
                continue;
            };
            let (c, run, phase, attempt) = &place;
            let id = (
                c.as_str().to_owned(),
                format!("{}/{}/{}", run.dag_id, run.date, run.run_id),
                *phase,
            );
            let n = *attempt;
            let entry = committed.entry(id).or_insert_with(|| (place, Vec::new()));
            if is_commit {
                entry.1.push(n);
            }
        }
        progress(listed);
        // Every phase some file of which the store holds.
        for ((company, run, phase, _), attempts) in committed.into_values() {
            let latest = attempts.iter().copied().max();
            let recorded = self.recorded_attempt(&company, &run, phase).await?;
            match (recorded, latest) {
                (Some(n), Some(latest)) if n >= latest && attempts.contains(&n) => {}
                (Some(n), Some(latest)) if n > latest => {
                    findings.push(Finding::RecordedButMissing {
                        company,
                        run,
                        phase,
                        attempt: n,
                    });
                }
                (recorded, Some(latest)) => findings.push(Finding::Unrecorded {
                    company,
                    run,
                    phase,
                    attempt: latest,
                    recorded,
                }),
                (Some(n), None) => findings.push(Finding::RecordedButMissing {
                    company,
                    run,
                    phase,
                    attempt: n,
                }),
                (None, None) => {}
            }
        }
        Ok(findings)
    }

    /// Repairs what [`Reconciler::scan`] found that can be repaired: each
    /// unrecorded attempt is recorded. Returns how many were.
    ///
    /// # Errors
    ///
    /// The first failure recording one (those before it stay recorded).
    pub async fn repair(&self, findings: &[Finding]) -> Result<usize, ReconcileError> {
        let mut repaired = 0;
        for finding in findings {
            if let Finding::Unrecorded {
                company,
                run,
                phase,
                attempt,
                ..
            } = finding
                && self
                    .record_committed(company, run, *phase, *attempt)
                    .await?
                    == Recorded::Now
            {
                repaired += 1;
            }
        }
        Ok(repaired)
    }
}

/// The attempt a key inside an attempt folder names:
/// `<company>/<dag_id>/<date>/<run_id>/<phase>/attempt=<n>/<file>`,
/// each variable segment percent-decoded (a segment stored shortened,
/// `%~` and a hash, cannot be read back).
fn attempt_place(key: &Path) -> Option<AttemptPlace> {
    let parts: Vec<String> = key.parts().map(|p| p.as_ref().to_owned()).collect();
    let [company, dag, date, run_id, phase, attempt, _file] = parts.as_slice() else {
        return None;
    };
    let decode = |segment: &str| -> Option<String> {
        if segment.contains("%~") {
            return None;
        }
        percent_decode_str(segment)
            .decode_utf8()
            .ok()
            .map(|s| s.into_owned())
    };
    let company = Company::new(decode(company)?).ok()?;
    let dag: DagId = decode(dag)?.parse().ok()?;
    let date = NaiveDate::parse_from_str(&decode(date)?, "%Y-%m-%d").ok()?;
    let run_id = RunId::new(decode(run_id)?).ok()?;
    let phase: Phase = phase.parse().ok().filter(|p: &Phase| p.is_step())?;
    let attempt: u32 = attempt.strip_prefix("attempt=")?.parse().ok()?;
    Some((company, RunRef::new(dag, date, run_id), phase, attempt))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_back_to_their_attempts() {
        let key = Path::parse(
            "acme/c65f0852-15a6-4b7e-8939-98767cd871ca/2026-11-27/manual__x%20y%25/load/attempt=3/metadata.parquet",
        )
        .unwrap();
        let (company, run, phase, attempt) = attempt_place(&key).unwrap();
        assert_eq!(company.as_str(), "acme");
        assert_eq!(run.run_id.as_str(), "manual__x y%");
        assert_eq!((phase, attempt), (Phase::Load, 3));
        let shortened = Path::parse(
            "acme/c65f0852-15a6-4b7e-8939-98767cd871ca/2026-11-27/abc%~0123/load/attempt=1/metadata.parquet",
        )
        .unwrap();
        assert!(attempt_place(&shortened).is_none());
        assert!(attempt_place(&Path::from("acme/x/metadata.parquet")).is_none());
    }
}
