//! A store that does not tell upper from lower case (a local folder on
//! macOS or Windows, an S3-compatible server on such a file system): a
//! token for `ACME` must not read `acme`'s artifacts, and a writer for
//! `ACME` must not write into `acme`'s folder. Before, the artifact
//! endpoints went to the store with the token's company as it was, and such
//! a store handed over the other company's files.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use axum::http::StatusCode;
use chrono::{TimeZone, Utc};
use dagtrail::artifacts::ArtifactStore;
use dagtrail::artifacts::instrumented::InstrumentedStore;
use dagtrail::artifacts::writer::{PhaseOutcome, WriterOptions};
use dagtrail::http::Limits;
use dagtrail::model::{Company, Phase};
use dagtrail::record::{RecordError, Recorder};
use dagtrail::runindex::{self, IndexOptions};
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result,
};

use crate::support::{
    artifacts_dir, commit_rows, embedded, embedded_with, id_name_batch, text_batch, token,
};

/// A case-preserving, case-insensitive store over a (case-sensitive)
/// folder, as APFS or NTFS behave: each part of a key is looked up among
/// the names its parent folder holds, ignoring ASCII case, and a name
/// found is used as it was first written. Only the requests dagtrail's
/// readers and writers make are folded (listing whole trees is not).
#[derive(Debug)]
struct FoldingStore {
    inner: Arc<dyn ObjectStore>,
}

impl FoldingStore {
    /// The key as the folder spells it.
    async fn resolve(&self, key: &Path) -> Path {
        let mut actual: Vec<String> = Vec::new();
        for part in key.parts() {
            let parent = Path::parse(actual.join("/")).unwrap();
            let listing = self
                .inner
                .list_with_delimiter((!actual.is_empty()).then_some(&parent))
                .await;
            let names: Vec<String> = listing
                .map(|l| {
                    l.common_prefixes
                        .iter()
                        .filter_map(|p| p.filename().map(str::to_owned))
                        .chain(
                            l.objects
                                .iter()
                                .filter_map(|o| o.location.filename().map(str::to_owned)),
                        )
                        .collect()
                })
                .unwrap_or_default();
            let wanted = part.as_ref();
            // The seed's folder may hold names a folding store could not
            // (two runs whose ids differ only in case): the exact one wins.
            let name = if names.iter().any(|n| n == wanted) {
                wanted.to_owned()
            } else {
                names
                    .into_iter()
                    .find(|n| n.eq_ignore_ascii_case(wanted))
                    .unwrap_or_else(|| wanted.to_owned())
            };
            actual.push(name);
        }
        // Parsed, not built from parts: the parts are already encoded.
        Path::parse(actual.join("/")).unwrap()
    }
}

impl fmt::Display for FoldingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FoldingStore({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for FoldingStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        let location = self.resolve(location).await;
        self.inner.put_opts(&location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        let location = self.resolve(location).await;
        self.inner.put_multipart_opts(&location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let location = self.resolve(location).await;
        self.inner.get_opts(&location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        match prefix {
            Some(prefix) => {
                let prefix = self.resolve(prefix).await;
                self.inner.list_with_delimiter(Some(&prefix)).await
            }
            None => self.inner.list_with_delimiter(None).await,
        }
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        let (from, to) = (self.resolve(from).await, self.resolve(to).await);
        self.inner.copy_opts(&from, &to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        let (from, to) = (self.resolve(from).await, self.resolve(to).await);
        self.inner.rename_opts(&from, &to, options).await
    }
}

fn folding(store: &ArtifactStore) -> ArtifactStore {
    let inner = Arc::clone(store.object_store());
    ArtifactStore::from_object_store(Arc::new(FoldingStore { inner }), store.base_url())
}

/// The company's name in another case (the test companies are lower case).
fn shouted(company: &Company) -> Company {
    Company::new(company.as_str().to_ascii_uppercase()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_for_acme_in_capitals_reads_nothing_of_acme_on_a_folding_store() {
    let app = embedded_with(|s| folding(&s), None, Limits::default()).await;
    let ok = PhaseOutcome {
        success: Some(true),
        ..PhaseOutcome::default()
    };
    app.recorder
        .record_event(
            &app.company,
            &app.run,
            &[text_batch(vec![("message_id", vec!["m-1"])])],
            &[text_batch(vec![("trigger", vec!["manual"])])],
            &ok,
            Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap(),
        )
        .await
        .unwrap();
    let run = app.run_url();
    let owner = app.token();
    let intruder = token(shouted(&app.company).as_str());
    // The simulation folds: the intruder's key reaches the owner's file.
    let store = folding(&ArtifactStore::open(artifacts_dir(&app).to_str().unwrap()).unwrap());
    assert!(store.folds_case().await.unwrap());
    for tail in [
        "/event",
        "/phases/extract",
        "/phases/extract/data",
        "/phases/extract/errors",
        "/phases/extract/logs",
    ] {
        let url = format!("{run}{tail}");
        let own = app.call(&url, Some(&owner), &[]).await;
        assert_eq!(
            own.status,
            StatusCode::OK,
            "{tail}: {}",
            String::from_utf8_lossy(&own.body)
        );
        let other = app.call(&url, Some(&intruder), &[]).await;
        assert_eq!(
            other.status,
            StatusCode::NOT_FOUND,
            "{tail}: {}",
            String::from_utf8_lossy(&other.body)
        );
        // Told exactly what a run it has no files for is told.
        let nothing = app
            .call(
                &url.replace(&app.dag.to_string(), "00000000-0000-4000-8000-000000000000"),
                Some(&intruder),
                &[],
            )
            .await;
        assert_eq!(other.json()["title"], nothing.json()["title"], "{tail}");
        assert_eq!(other.json()["detail"], nothing.json()["detail"], "{tail}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_for_acme_in_capitals_is_refused_on_a_folding_store() {
    let app = embedded().await;
    let dir = artifacts_dir(&app);
    let index = runindex::open(
        &format!("sqlite://{}", dir.with_file_name("runs.db").display()),
        &IndexOptions::default(),
    )
    .await
    .unwrap();
    let store = folding(&ArtifactStore::open(dir.to_str().unwrap()).unwrap());
    let recorder = Recorder::new(index, store, WriterOptions::default());
    let refused = recorder
        .begin(&shouted(&app.company), &app.run, Phase::Load, 1)
        .await;
    assert!(
        matches!(refused, Err(RecordError::CompanyFolderTaken(_))),
        "{:?}",
        refused.err()
    );
    // The owner still writes.
    commit_rows(
        &recorder,
        &app.company,
        &app.run,
        (Phase::Load, 1),
        &id_name_batch(0, 3, |i| format!("row {i}")),
        12,
    )
    .await;
}

/// On a store that keeps case apart (S3, a Linux folder), `acme` and
/// `ACME` are two companies with two folders, and reading costs no LIST.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_keeping_store_is_never_listed_and_keeps_acme_and_capitals_apart() {
    let counting: Arc<std::sync::Mutex<Option<InstrumentedStore>>> = Arc::default();
    let slot = Arc::clone(&counting);
    let wrap = move |store: ArtifactStore| {
        let counted = InstrumentedStore::new(Arc::clone(store.object_store()));
        *slot.lock().unwrap() = Some(counted.clone());
        ArtifactStore::from_object_store(Arc::new(counted), store.base_url())
    };
    let app = embedded_with(wrap, None, Limits::default()).await;
    let counted = counting.lock().unwrap().clone().unwrap();
    let loud = shouted(&app.company);
    commit_rows(
        &app.recorder,
        &loud,
        &app.run,
        (Phase::Extract, 1),
        &id_name_batch(0, 2, |i| format!("LOUD {i}")),
        12,
    )
    .await;
    let data = format!("{}/phases/extract/data", app.run_url());
    let theirs = app.call(&data, Some(&token(loud.as_str())), &[]).await;
    assert_eq!(theirs.status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&theirs.body).contains("LOUD 0"));
    let ours = app.get(&data).await;
    assert_eq!(ours.status, StatusCode::OK);
    assert!(!String::from_utf8_lossy(&ours.body).contains("LOUD"));
    assert_eq!(counted.counts().lists, 0, "never LIST");
}
