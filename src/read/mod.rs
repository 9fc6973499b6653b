//! The read side: the service that the HTTP handlers call. Run searches
//! and summaries come from the run index; everything below a run comes from
//! the artifact store, located through `metadata.parquet` and the files'
//! footers (never by listing the store).

mod attempt;
mod cache;
mod file;
mod logs;
mod page;
mod rows;
mod search;
mod text;

use std::sync::Arc;

use futures::future::try_join;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use parquet::errors::ParquetError;

pub use attempt::AttemptReader;
pub use cache::MetadataCache;
pub use file::{FOOTER_PREFETCH, StoreFile, StoreQuirks, load_metadata};
pub use logs::LogFilter;
pub use page::{ColumnInfo, ParquetPage, locate};

use crate::artifacts::key::{EventFile, KeyError, RunFolder};
use crate::artifacts::store::ArtifactStore;
use crate::model::{Company, DagId, Phase, RunId, RunRef};
use crate::runindex::{IndexError, RunIndex, RunPage, RunSearch, RunSummary};

/// Most rows of an event file returned (events are a few rows).
pub const EVENT_ROW_CAP: u32 = 1000;

/// A read failed. Each kind maps to one HTTP status in `http::error`.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The run, attempt or event does not exist (for this company).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The run index failed.
    #[error("run lookup failed: {0}")]
    Index(#[from] IndexError),
    /// A file the attempt's metadata promises is not in the store.
    #[error("{key} is missing from the artifact store")]
    MissingFile {
        /// The file's key.
        key: String,
    },
    /// The store failed.
    #[error("cannot read {key}: {source}")]
    Store {
        /// The file's key.
        key: String,
        /// The cause.
        source: object_store::Error,
    },
    /// A file could not be decoded.
    #[error("cannot decode {key}: {reason}")]
    Decode {
        /// The file's key.
        key: String,
        /// Why.
        reason: String,
    },
    /// An artifact key could not be built from the request.
    #[error(transparent)]
    Key(#[from] KeyError),
}

impl ReadError {
    /// A store error about `key` (a missing object becomes `MissingFile`).
    pub fn store(key: &Path, source: object_store::Error) -> Self {
        if names_nothing(&source) {
            return Self::MissingFile {
                key: key.to_string(),
            };
        }
        Self::Store {
            key: key.to_string(),
            source,
        }
    }

    /// A decoding error about `key`.
    pub fn decode(key: &Path, reason: impl Into<String>) -> Self {
        Self::Decode {
            key: key.to_string(),
            reason: reason.into(),
        }
    }

    /// A Parquet reader error: I/O errors stay store errors.
    pub fn from_parquet(key: &Path, error: ParquetError) -> Self {
        match error {
            ParquetError::External(inner) => match inner.downcast::<object_store::Error>() {
                Ok(store) => Self::store(key, *store),
                Err(other) => Self::decode(key, other.to_string()),
            },
            other => Self::decode(key, other.to_string()),
        }
    }
}

/// Whether a store error says that nothing exists under the name: not
/// found, or a local folder's refusal of the name itself (too long, or a
/// part of it that is a file). Whatever the store says about a name,
/// reading something that does not exist is a 404, never a 502.
fn names_nothing(error: &object_store::Error) -> bool {
    if matches!(error, object_store::Error::NotFound { .. }) {
        return true;
    }
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::NotFound
                    | std::io::ErrorKind::NotADirectory
                    | std::io::ErrorKind::InvalidFilename
            );
        }
        cause = e.source();
    }
    false
}

/// Both event files of a run (contract 4.2, endpoint 3).
#[derive(Debug, Clone, PartialEq)]
pub struct EventPages {
    /// `queue_data.parquet`, when present.
    pub queue_data: Option<ParquetPage>,
    /// `event.parquet`, when present.
    pub event: Option<ParquetPage>,
}

/// Reads runs for the API (and any other caller).
#[derive(Debug, Clone)]
pub struct ReadService {
    index: Arc<dyn RunIndex>,
    store: ArtifactStore,
    cache: MetadataCache,
    quirks: Arc<StoreQuirks>,
    show_file_urls: bool,
}

impl ReadService {
    /// A service over a run index and an artifact store, with a metadata
    /// cache of `cache_bytes`.
    pub fn new(index: Arc<dyn RunIndex>, store: ArtifactStore, cache_bytes: u64) -> Self {
        Self {
            index,
            store,
            cache: MetadataCache::new(cache_bytes),
            quirks: Arc::default(),
            show_file_urls: false,
        }
    }

    /// Whether phase objects show a local store's `file://` URLs as they
    /// are (`DAGTRAIL_SHOW_FILE_URLS`); by default they show the key
    /// inside the store, so no tenant learns a path of the server.
    #[must_use]
    pub fn with_file_urls_shown(mut self, show: bool) -> Self {
        self.show_file_urls = show;
        self
    }

    /// A run's phase objects with their `s3_data_path` as a tenant may see
    /// it: `s3://` URLs as they are (the contract's form); a `file://` URL
    /// (the embedded default's, an absolute path of the server) as the key
    /// of the folder inside the store, `<company>/<dag_id>/.../attempt=1/`,
    /// or null when the URL is not that folder's.
    fn shown(&self, company: &Company, mut run: RunSummary) -> RunSummary {
        if self.show_file_urls {
            return run;
        }
        // Built only for a run whose phases hold a `file://` URL (never on
        // S3), once.
        let (dag_id, date, run_id) = (run.dag_id, run.date, run.run_id.clone());
        let mut folder: Option<Option<RunFolder>> = None;
        let mut run_folder = || {
            folder
                .get_or_insert_with(|| {
                    RunId::new(run_id.clone())
                        .ok()
                        .and_then(|id| RunFolder::new(company, &RunRef::new(dag_id, date, id)).ok())
                })
                .clone()
        };
        let phases = &mut run.phases;
        for (phase, object) in [
            (Phase::Event, &mut phases.event),
            (Phase::Extract, &mut phases.extract),
            (Phase::Transform, &mut phases.transform),
            (Phase::Load, &mut phases.load),
        ] {
            let Some(object) = object else { continue };
            let attempt = object
                .get("attempt")
                .and_then(serde_json::Value::as_u64)
                .and_then(|n| u32::try_from(n).ok());
            let Some(path) = object.get_mut("s3_data_path") else {
                continue;
            };
            let Some(url) = path.as_str().filter(|u| u.starts_with("file://")) else {
                continue;
            };
            let key = match (run_folder(), phase, attempt) {
                (Some(run), Phase::Event, _) => Some(run.event_folder()),
                (Some(run), phase, Some(n)) => run.attempt(phase, n).ok().map(|a| a.folder()),
                _ => None,
            };
            *path = key
                .filter(|key| url.ends_with(key.as_str()))
                .map_or(serde_json::Value::Null, serde_json::Value::String);
        }
        run
    }

    /// The run index.
    pub fn index(&self) -> &Arc<dyn RunIndex> {
        &self.index
    }

    /// The artifact store.
    pub fn store(&self) -> &ArtifactStore {
        &self.store
    }

    /// Searches a DAG's runs (endpoint 1).
    pub async fn search_runs(
        &self,
        company: &Company,
        dag_id: DagId,
        search: &RunSearch,
    ) -> Result<RunPage, ReadError> {
        let mut page = self.index.search_runs(company, dag_id, search).await?;
        page.items = page
            .items
            .into_iter()
            .map(|run| self.shown(company, run))
            .collect();
        Ok(page)
    }

    /// One run's summary (endpoint 2).
    pub async fn get_run(&self, company: &Company, run: &RunRef) -> Result<RunSummary, ReadError> {
        self.index
            .get_run(company, run)
            .await?
            .map(|run| self.shown(company, run))
            .ok_or(ReadError::NotFound("run"))
    }

    /// Both event files, read concurrently (endpoint 3).
    pub async fn event(&self, company: &Company, run: &RunRef) -> Result<EventPages, ReadError> {
        let folder = RunFolder::new(company, run)?;
        let read = |file: EventFile| {
            let key = folder.event_file(file);
            async move {
                let key = key?;
                match attempt::whole_file(
                    self.store.object_store(),
                    &key,
                    EVENT_ROW_CAP,
                    &self.quirks,
                )
                .await
                {
                    Ok(page) => Ok(Some(page)),
                    Err(ReadError::MissingFile { .. }) => Ok(None),
                    Err(e) => Err(e),
                }
            }
        };
        let (queue_data, event) =
            try_join(read(EventFile::QueueData), read(EventFile::Event)).await?;
        if queue_data.is_none() && event.is_none() {
            return Err(ReadError::NotFound("event"));
        }
        Ok(EventPages { queue_data, event })
    }

    /// Opens a committed attempt (endpoints 4-7); 404 when its
    /// `metadata.parquet` does not exist.
    pub async fn attempt(
        &self,
        company: &Company,
        run: &RunRef,
        phase: Phase,
        attempt: u32,
    ) -> Result<AttemptReader, ReadError> {
        let folder = RunFolder::new(company, run)?.attempt(phase, attempt)?;
        AttemptReader::open(
            Arc::clone(self.store.object_store()),
            self.cache.clone(),
            Arc::clone(&self.quirks),
            folder,
        )
        .await
    }

    /// Checks that both stores answer (for `/readyz`).
    pub async fn ready(&self) -> Result<(), String> {
        self.index
            .ping()
            .await
            .map_err(|e| format!("run index: {e}"))?;
        let probe = Path::from("dagtrail-readiness-probe");
        match self.store.object_store().head(&probe).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(format!("artifact store: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use object_store::ObjectStoreExt as _;

    use super::*;

    /// A local folder refuses some names outright (too long; a part of the
    /// path that is a file): reading them is reading nothing, a 404.
    #[tokio::test]
    async fn names_a_store_refuses_are_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("file"), b"x").unwrap();
        let store = object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap();
        for key in [
            Path::from("file/below"),
            Path::from(format!("{}/x", "n".repeat(300))),
            Path::from("absent"),
        ] {
            let error = store.get(&key).await.unwrap_err();
            assert!(
                matches!(ReadError::store(&key, error), ReadError::MissingFile { .. }),
                "{key}"
            );
        }
    }
}
