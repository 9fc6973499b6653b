//! [`ReadService`]: the read side that the HTTP handlers (and any other
//! caller) use. Run searches and summaries come from the run index;
//! everything below a run comes from the artifact store, located through
//! `metadata.parquet` and the files' footers (never by listing the store).

use std::sync::Arc;

use std::time::Duration;

use super::attempt::AttemptReader;
use super::cache::MetadataCache;
use super::cursor;
use super::error::{Missing, ReadError};
use super::event::{EventPages, event_pages};
use crate::artifacts::file::StoreQuirks;
use crate::artifacts::key::RunFolder;
use crate::artifacts::store::ArtifactStore;
use crate::model::{Company, DagId, Phase, RunId, RunRef};
use crate::runindex::fleet::{DagEntry, DagQuery, DayCount};
use crate::runindex::{IndexError, RunIndex, RunPage, RunSearch, RunSummary};
use chrono::NaiveDate;

/// How long each readiness probe may take: under a balancer's usual probe
/// timeout, so that a store that does not answer is reported as such.
pub const READY_PROBE: Duration = Duration::from_secs(1);

/// Which store a readiness probe found failing (`/readyz`).
#[derive(Debug, thiserror::Error)]
pub enum NotReady {
    /// The run index did not answer.
    #[error("run index: {0}")]
    RunIndex(IndexError),
    /// The run index did not answer within [`READY_PROBE`].
    #[error("run index: no answer within {} ms", READY_PROBE.as_millis())]
    RunIndexSilent,
    /// The artifact store did not answer.
    #[error("artifact store: {0}")]
    ArtifactStore(object_store::Error),
    /// The artifact store answered within [`READY_PROBE`] but holds no
    /// dagtrail marker: a wrong bucket or prefix, or a store nothing has
    /// been written to (`dagtrail migrate` marks it).
    #[error(
        "artifact store: no dagtrail marker (`dagtrail=store`) at its top; a wrong bucket or prefix? `dagtrail migrate` writes it"
    )]
    Unmarked,
    /// The artifact store did not answer within [`READY_PROBE`].
    #[error("artifact store: no answer within {} ms", READY_PROBE.as_millis())]
    ArtifactStoreSilent,
}

impl NotReady {
    /// The failing store as `/readyz` names it.
    pub fn store(&self) -> &'static str {
        match self {
            Self::RunIndex(_) | Self::RunIndexSilent => "run index",
            Self::ArtifactStore(_) | Self::Unmarked | Self::ArtifactStoreSilent => "artifact store",
        }
    }
}

/// A page of a run search, as [`ReadService::search_runs`] answers it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunsFound {
    /// The runs and the count.
    pub page: RunPage,
    /// The page's number (0-based; a cursor's page says it).
    pub number: u32,
    /// The cursor of the next page, when there is one.
    pub next_cursor: Option<String>,
}

/// Reads runs for the API (and any other caller).
#[derive(Debug, Clone)]
pub struct ReadService {
    index: Arc<dyn RunIndex>,
    /// The run index's cursor key, kept once read ([`RunIndex::cursor_key`]).
    cursor_key: Arc<tokio::sync::OnceCell<Arc<[u8]>>>,
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
            cursor_key: Arc::default(),
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
        for phase in Phase::ALL {
            let Some(object) = run.phases.get_mut(phase) else {
                continue;
            };
            let Some(url) = object.s3_data_path.as_deref() else {
                continue;
            };
            if !url.starts_with("file://") {
                continue;
            }
            let key = match (run_folder(), phase, object.attempt_number()) {
                (Some(run), Phase::Event, _) => Some(run.event_folder()),
                (Some(run), phase, Some(n)) => run.attempt(phase, n).ok().map(|a| a.folder()),
                _ => None,
            };
            object.s3_data_path = key.filter(|key| url.ends_with(key.as_str()));
        }
        run
    }

    /// The run index.
    pub fn run_index(&self) -> &Arc<dyn RunIndex> {
        &self.index
    }

    /// Bytes the footer and metadata cache holds now.
    pub fn cache_bytes(&self) -> u64 {
        self.cache.bytes()
    }

    /// The artifact store.
    pub fn store(&self) -> &ArtifactStore {
        &self.store
    }

    /// Searches the runs of the DAGs `dag_ids` (endpoint 1 with one,
    /// `GET /runs` with any; none: every DAG of the company), from the
    /// search's page or from `cursor` (which then sets the page number),
    /// and signs the cursor of the next page.
    ///
    /// # Errors
    ///
    /// [`ReadError::Cursor`] when `cursor` cannot continue this search;
    /// [`ReadError::Index`] when the run index fails.
    pub async fn search_runs(
        &self,
        company: &Company,
        dag_ids: &[DagId],
        mut search: RunSearch,
        cursor: Option<&str>,
    ) -> Result<RunsFound, ReadError> {
        let found = async {
            if let Some(text) = cursor {
                // No key: no cursor was ever made here.
                let key = self.cursor_key().await?.unwrap_or_default();
                let at = cursor::decode(&key, text, company, dag_ids, &search)?;
                search.page = at.page;
                search.after = Some(at.after);
            }
            let page = self.index.search_runs(company, dag_ids, &search).await?;
            let next_cursor = match (page.next_key(), self.cursor_key().await?) {
                (Some(after), Some(key)) => {
                    let next = search.page.saturating_add(1);
                    Some(cursor::encode(
                        &key, company, dag_ids, &search, next, &after,
                    )?)
                }
                _ => None,
            };
            Ok::<_, ReadError>((page, next_cursor))
        };
        let (mut page, next_cursor) = match found.await {
            Ok(found) => found,
            Err(ReadError::Index(e)) => return Err(self.index.diagnose(e).await.into()),
            Err(e) => return Err(e),
        };
        page.items = page
            .items
            .into_iter()
            .map(|run| self.shown(company, run))
            .collect();
        Ok(RunsFound {
            page,
            number: search.page,
            next_cursor,
        })
    }

    /// The run index's cursor key, read on first use and kept; a run index
    /// without one (not migrated yet) is asked again next time, so that
    /// cursors start once `dagtrail migrate` has made it.
    async fn cursor_key(&self) -> Result<Option<Arc<[u8]>>, IndexError> {
        if let Some(key) = self.cursor_key.get() {
            return Ok(Some(Arc::clone(key)));
        }
        let key = self.index.cursor_key().await?;
        if let Some(key) = &key {
            // Another request may have set it first: the same key.
            let _ = self.cursor_key.set(Arc::clone(key));
        }
        Ok(key)
    }

    /// Every DAG of `company` (`GET /dags`, the fleet view).
    ///
    /// # Errors
    ///
    /// [`ReadError::Index`] when the run index fails.
    pub async fn dags(
        &self,
        company: &Company,
        query: &DagQuery,
    ) -> Result<Vec<DagEntry>, ReadError> {
        match self.index.list_dags(company, query).await {
            Ok(dags) => Ok(dags),
            Err(e) => Err(self.index.diagnose(e).await.into()),
        }
    }

    /// Runs and failed runs per day of one DAG, and whether the company
    /// has the DAG at all (`GET /dags/{dag_id}/calendar`).
    ///
    /// # Errors
    ///
    /// [`ReadError::Index`] when the run index fails.
    pub async fn calendar(
        &self,
        company: &Company,
        dag_id: DagId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<(Vec<DayCount>, bool), ReadError> {
        let found = async {
            let days = self.index.calendar(company, dag_id, from, to).await?;
            let known = !days.is_empty() || self.index.dag_known(company, dag_id).await?;
            Ok::<_, IndexError>((days, known))
        };
        match found.await {
            Ok(found) => Ok(found),
            Err(e) => Err(self.index.diagnose(e).await.into()),
        }
    }

    /// Whether `company` has any DAG (runs or a catalog entry).
    ///
    /// # Errors
    ///
    /// [`ReadError::Index`] when the run index fails.
    pub async fn has_dags(&self, company: &Company) -> Result<bool, ReadError> {
        Ok(!self
            .dags(company, &DagQuery::since(NaiveDate::MAX))
            .await?
            .is_empty())
    }

    /// One DAG of `company` as the fleet view has it (catalog entry, newest
    /// run, window counts from `since`); `None` when it has neither runs
    /// nor a catalog entry.
    ///
    /// # Errors
    ///
    /// [`ReadError::Index`] when the run index fails.
    pub async fn dag(
        &self,
        company: &Company,
        dag_id: DagId,
        since: NaiveDate,
    ) -> Result<Option<DagEntry>, ReadError> {
        let query = DagQuery {
            dag: Some(dag_id),
            ..DagQuery::since(since)
        };
        Ok(self.dags(company, &query).await?.into_iter().next())
    }

    /// The name people know a DAG of `company` by: its catalog name, else
    /// its id (what pages show instead of a UUID).
    ///
    /// # Errors
    ///
    /// [`ReadError::Index`] when the run index fails.
    pub async fn dag_name(&self, company: &Company, dag_id: DagId) -> Result<String, ReadError> {
        let entry = self.dag(company, dag_id, NaiveDate::MAX).await?;
        Ok(entry
            .and_then(|d| d.info.name)
            .unwrap_or_else(|| dag_id.to_string()))
    }

    /// Whether `company` has the DAG at all (runs or a catalog entry).
    ///
    /// # Errors
    ///
    /// [`ReadError::Index`] when the run index fails.
    pub async fn dag_known(&self, company: &Company, dag_id: DagId) -> Result<bool, ReadError> {
        match self.index.dag_known(company, dag_id).await {
            Ok(known) => Ok(known),
            Err(e) => Err(self.index.diagnose(e).await.into()),
        }
    }

    /// Whether every DAG a run search named is known to `company`
    /// (`dag_known` of its answer): a DAG with a run on the page `found`
    /// is (one DAG with any match is), the others are asked; a search of
    /// every DAG (`dag_ids` empty) is known when the company has a DAG.
    ///
    /// # Errors
    ///
    /// [`ReadError::Index`] when the run index fails.
    pub async fn dags_known(
        &self,
        company: &Company,
        dag_ids: &[DagId],
        found: &RunsFound,
    ) -> Result<bool, ReadError> {
        if dag_ids.is_empty() {
            return match found.page.total {
                0 => self.has_dags(company).await,
                _ => Ok(true),
            };
        }
        // A run found is proof enough.
        if dag_ids.len() == 1 && found.page.total > 0 {
            return Ok(true);
        }
        for dag in dag_ids {
            if found.page.items.iter().any(|r| r.dag_id == *dag) {
                continue;
            }
            if !self.dag_known(company, *dag).await? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// One run's summary (endpoint 2).
    ///
    /// # Errors
    ///
    /// [`ReadError::NotFound`] ([`Missing::Run`]) when the company has no
    /// such run; [`ReadError::Index`] when the run index fails.
    pub async fn get_run(&self, company: &Company, run: &RunRef) -> Result<RunSummary, ReadError> {
        let found = match self.index.get_run(company, run).await {
            Ok(found) => found,
            Err(e) => return Err(self.index.diagnose(e).await.into()),
        };
        found
            .map(|run| self.shown(company, run))
            .ok_or(ReadError::NotFound(Missing::Run))
    }

    /// Both event files, read concurrently (endpoint 3).
    ///
    /// # Errors
    ///
    /// [`ReadError::NotFound`] ([`Missing::Event`]) when the run has
    /// neither file; [`ReadError::Key`] for a run that names no folder; a
    /// store or decoding error reading either file.
    pub async fn event(&self, company: &Company, run: &RunRef) -> Result<EventPages, ReadError> {
        let folder = RunFolder::new(company, run)?;
        if !self.own_folder(company).await? {
            return Err(ReadError::NotFound(Missing::Event));
        }
        event_pages(self.store.object_store(), &self.quirks, &folder).await
    }

    /// Opens a committed attempt (endpoints 4-7).
    ///
    /// # Errors
    ///
    /// [`ReadError::NotFound`] ([`Missing::Attempt`]) when its
    /// `metadata.parquet` does not exist; [`ReadError::Key`] for a run
    /// that names no folder; a store or decoding error reading it.
    pub async fn attempt(
        &self,
        company: &Company,
        run: &RunRef,
        phase: Phase,
        attempt: u32,
    ) -> Result<AttemptReader, ReadError> {
        let folder = RunFolder::new(company, run)?.attempt(phase, attempt)?;
        if !self.own_folder(company).await? {
            return Err(ReadError::NotFound(Missing::Attempt));
        }
        AttemptReader::open(
            Arc::clone(self.store.object_store()),
            self.cache.clone(),
            Arc::clone(&self.quirks),
            folder,
        )
        .await
    }

    /// Whether `company`'s folder in the store is its own: on a store that
    /// folds case, a token for `ACME` finds `acme`'s folder under its own
    /// name, and must be told "not found" (issue 12, hardening).
    async fn own_folder(&self, company: &Company) -> Result<bool, ReadError> {
        self.store
            .is_own_company_folder(company)
            .await
            .map_err(|source| {
                ReadError::store(&object_store::path::Path::from(company.as_str()), source)
            })
    }

    /// Checks that both stores answer (for `/readyz`), each within
    /// [`READY_PROBE`], concurrently, and that the artifact store is
    /// dagtrail's (its marker).
    ///
    /// # Errors
    ///
    /// The run index's failure if it failed, else the store's, with why.
    pub async fn ready(&self) -> Result<(), NotReady> {
        let index = async {
            match tokio::time::timeout(READY_PROBE, self.index.ping()).await {
                Ok(answer) => answer.map_err(NotReady::RunIndex),
                Err(_) => Err(NotReady::RunIndexSilent),
            }
        };
        let store = async {
            match tokio::time::timeout(READY_PROBE, self.store.is_marked()).await {
                Ok(Ok(true)) => Ok(()),
                Ok(Ok(false)) => Err(NotReady::Unmarked),
                Ok(Err(e)) => Err(NotReady::ArtifactStore(e)),
                Err(_) => Err(NotReady::ArtifactStoreSilent),
            }
        };
        let (index, store) = tokio::join!(index, store);
        index.and(store)
    }
}
