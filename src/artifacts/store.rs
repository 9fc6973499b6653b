//! Opening the artifact store from its URL: a local folder (plain path or
//! `file://`) or `s3://bucket/prefix` with the standard `AWS_*` settings.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig};
use url::Url;

use super::instrumented::InstrumentedStore;
use super::key::{key_segment, store_marker};
use crate::model::Company;

/// The artifact store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenStoreError {
    /// The URL is neither a path, `file://` nor `s3://`.
    #[error(
        "unsupported artifact store URL {0:?}: use s3://bucket/prefix, file:///abs/path or a folder path"
    )]
    UnsupportedUrl(String),
    /// The local folder could not be created.
    #[error("cannot create artifact folder {path}: {source}")]
    CreateFolder {
        /// The folder.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The object-store client refused its configuration.
    #[error("cannot open artifact store {url}: {source}")]
    Configure {
        /// The store URL.
        url: String,
        /// The cause.
        source: object_store::Error,
    },
}

/// The artifact store: an object store rooted at the layout's top, and the
/// URL it was opened from (used for `s3_data_path`).
#[derive(Debug, Clone)]
pub struct ArtifactStore {
    store: Arc<dyn ObjectStore>,
    base_url: String,
    /// Set once this process has seen or put the marker: writers mark the
    /// store on every attempt, and one HEAD per process is enough.
    marked: Arc<AtomicBool>,
    /// Whether the store folds case (see [`ArtifactStore::folds_case`]),
    /// once known.
    folds_case: Arc<OnceLock<bool>>,
    /// Company folder segments checked on a store that folds case: whether
    /// the folder under that exact name is the company's own, and until
    /// when that answer holds.
    own_folders: Arc<quick_cache::sync::Cache<String, (bool, Instant)>>,
    /// The folder's own client when the store is a local folder: its
    /// listings hide a killed writer's half-written uploads, which
    /// [`ArtifactStore::delete_prefix`] removes through the file system.
    local: Option<Arc<LocalFileSystem>>,
}

/// An object under a prefix could not be deleted.
#[derive(Debug, thiserror::Error)]
#[error("cannot delete {key}: {source}")]
pub struct DeleteError {
    /// The key (or folder) that could not be listed or deleted.
    pub key: String,
    /// The store's error.
    #[source]
    pub source: object_store::Error,
}

/// How long a company folder found at the store's top is taken as it was
/// found: a folder deleted and made again in another case (another
/// company's) is seen after at most this long.
const FOLDER_FOUND_FOR: Duration = Duration::from_secs(60);
/// How long "no such folder" is taken as true: a first write makes one.
const FOLDER_MISSING_FOR: Duration = Duration::from_secs(5);

/// Company folders remembered by [`ArtifactStore::is_own_company_folder`].
const OWN_FOLDERS_REMEMBERED: usize = 100_000;

impl ArtifactStore {
    /// Opens a store from `s3://bucket/prefix`, `file:///abs/path` or a
    /// plain folder path (created when missing).
    ///
    /// # Errors
    ///
    /// [`OpenStoreError::UnsupportedUrl`] for another scheme, a `file://`
    /// URL that is not a local path, or `s3://` without a bucket;
    /// [`OpenStoreError::CreateFolder`] when the folder cannot be created or
    /// resolved; [`OpenStoreError::Configure`] when the object-store client
    /// refuses its settings (the `AWS_*` variables among them).
    pub fn open(url: &str) -> Result<Self, OpenStoreError> {
        if let Some(rest) = url.strip_prefix("s3://") {
            return Self::open_s3(url, rest);
        }
        let folder = if url.starts_with("file://") {
            Url::parse(url)
                .ok()
                .and_then(|u| u.to_file_path().ok())
                .ok_or_else(|| OpenStoreError::UnsupportedUrl(url.to_owned()))?
        } else if url.contains("://") {
            return Err(OpenStoreError::UnsupportedUrl(url.to_owned()));
        } else {
            std::path::PathBuf::from(url)
        };
        Self::open_folder(&folder)
    }

    fn open_folder(folder: &std::path::Path) -> Result<Self, OpenStoreError> {
        let create_error = |source| OpenStoreError::CreateFolder {
            path: folder.display().to_string(),
            source,
        };
        std::fs::create_dir_all(folder).map_err(create_error)?;
        let folder = std::fs::canonicalize(folder).map_err(create_error)?;
        let base_url = Url::from_directory_path(&folder)
            .map(|u| u.as_str().trim_end_matches('/').to_owned())
            .map_err(|()| OpenStoreError::UnsupportedUrl(folder.display().to_string()))?;
        // Folders left empty by a deletion go too: a staged attempt's
        // folder is how a company's open attempts are counted.
        let store = Arc::new(
            LocalFileSystem::new_with_prefix(&folder)
                .map_err(|source| OpenStoreError::Configure {
                    url: base_url.clone(),
                    source,
                })?
                .with_automatic_cleanup(true),
        );
        let mut opened = Self::from_object_store(
            Arc::new(InstrumentedStore::new(
                Arc::clone(&store) as Arc<dyn ObjectStore>
            )),
            base_url,
        );
        opened.local = Some(store);
        Ok(opened)
    }

    fn open_s3(url: &str, rest: &str) -> Result<Self, OpenStoreError> {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let prefix = prefix.trim_matches('/');
        if bucket.is_empty() {
            return Err(OpenStoreError::UnsupportedUrl(url.to_owned()));
        }
        // Retries are bounded well below the request time limit so that an
        // unreachable store turns into a 502/504 rather than a long hang.
        let retry = RetryConfig {
            max_retries: 2,
            retry_timeout: Duration::from_secs(10),
            ..RetryConfig::default()
        };
        let client = ClientOptions::new()
            .with_connect_timeout(Duration::from_secs(5))
            .with_timeout(Duration::from_secs(60));
        // `from_env` then `with_client_options` would drop the client
        // settings read from the environment (AWS_ALLOW_HTTP among them),
        // so our defaults go first and the `AWS_*` variables on top.
        let mut builder = AmazonS3Builder::new()
            .with_client_options(client)
            .with_retry(retry);
        for (key, value) in std::env::vars() {
            if key.starts_with("AWS_")
                && let Ok(config) = key.to_ascii_lowercase().parse::<AmazonS3ConfigKey>()
            {
                builder = builder.with_config(config, value);
            }
        }
        builder = builder.with_bucket_name(bucket);
        if std::env::var_os("AWS_REGION").is_none()
            && std::env::var_os("AWS_DEFAULT_REGION").is_none()
        {
            builder = builder.with_region("us-east-1");
        }
        let s3 = builder
            .build()
            .map_err(|source| OpenStoreError::Configure {
                url: url.to_owned(),
                source,
            })?;
        let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
            Arc::new(s3)
        } else {
            Arc::new(PrefixStore::new(s3, prefix))
        };
        let store = Arc::new(InstrumentedStore::new(store));
        let base_url = if prefix.is_empty() {
            format!("s3://{bucket}")
        } else {
            format!("s3://{bucket}/{prefix}")
        };
        Ok(Self::from_object_store(store, base_url))
    }

    /// Wraps an existing object store (an instrumented one, say) whose root
    /// is the layout's top.
    pub fn from_object_store(store: Arc<dyn ObjectStore>, base_url: impl Into<String>) -> Self {
        Self {
            marked: Arc::default(),
            folds_case: Arc::default(),
            own_folders: Arc::new(quick_cache::sync::Cache::new(OWN_FOLDERS_REMEMBERED)),
            store,
            base_url: base_url.into(),
            local: None,
        }
    }

    /// Deletes every object under `prefix`, `last` (when among them) after
    /// all the others, so that a deletion cut short leaves it to say the
    /// folder is still in use. On a local folder it also deletes the
    /// uploads a killed writer left half-written (`name#N` files, which
    /// `LocalFileSystem` keeps out of its listings, so a listing alone
    /// never finds them); an S3 store keeps those out of sight itself, and
    /// its lifecycle rule for incomplete multipart uploads expires them
    /// (docs/DEPLOYMENT.md). Returns how many objects were listed.
    ///
    /// # Errors
    ///
    /// [`DeleteError`] naming the prefix when it cannot be listed, or the
    /// key that cannot be deleted (one already gone is no error).
    pub async fn delete_prefix(
        &self,
        prefix: &Path,
        last: Option<&Path>,
    ) -> Result<usize, DeleteError> {
        let error = |key: &Path| {
            let key = key.to_string();
            move |source| DeleteError { key, source }
        };
        let keys: Vec<Path> = self
            .store
            .list(Some(prefix))
            .map_ok(|meta| meta.location)
            .try_collect()
            .await
            .map_err(error(prefix))?;
        let listed = keys.len();
        let (others, last): (Vec<Path>, Vec<Path>) =
            keys.into_iter().partition(|k| Some(k) != last);
        for key in &others {
            self.delete(key).await.map_err(error(key))?;
        }
        if let Some(local) = &self.local {
            let folder = local.path_to_filesystem(prefix).map_err(error(prefix))?;
            tokio::task::spawn_blocking(move || delete_hidden_uploads(&folder))
                .await
                .map_err(|join| std::io::Error::other(join.to_string()))
                .and_then(|done| done)
                .map_err(|source| object_store::Error::Generic {
                    store: "LocalFileSystem",
                    source: Box::new(source),
                })
                .map_err(error(prefix))?;
        }
        for key in &last {
            self.delete(key).await.map_err(error(key))?;
        }
        Ok(listed)
    }

    async fn delete(&self, key: &Path) -> Result<(), object_store::Error> {
        match self.store.delete(key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The underlying object store.
    pub fn object_store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The store's URL (`s3://bucket/prefix` or `file:///abs/path`), no
    /// trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The URL of a folder in the layout (given with its trailing slash).
    pub fn url_of(&self, folder: &str) -> String {
        format!("{}/{folder}", self.base_url)
    }

    /// Puts the store's marker ([`store_marker`]) when it is missing.
    ///
    /// # Errors
    ///
    /// The store's error when it cannot be read or written.
    pub async fn mark(&self) -> Result<(), object_store::Error> {
        if self.marked.load(Ordering::Relaxed) {
            return Ok(());
        }
        let marker = store_marker();
        let found = match self.store.head(&marker).await {
            Ok(_) => Ok(()),
            Err(object_store::Error::NotFound { .. }) => {
                let body = format!(
                    "a dagtrail artifact store (written by dagtrail {})\n",
                    env!("CARGO_PKG_VERSION")
                );
                self.store.put(&marker, PutPayload::from(body)).await?;
                Ok(())
            }
            Err(e) => Err(e),
        };
        if found.is_ok() {
            self.marked.store(true, Ordering::Relaxed);
        }
        found
    }

    /// Whether the store holds its marker.
    ///
    /// # Errors
    ///
    /// The store's error when it cannot be read (a missing marker is
    /// `Ok(false)`).
    ///
    /// The first time it is found, the store is also asked whether it
    /// folds case ([`ArtifactStore::folds_case`]), so that a server which
    /// was probed for readiness pays nothing for it on a request.
    pub async fn is_marked(&self) -> Result<bool, object_store::Error> {
        match self.store.head(&store_marker()).await {
            Ok(_) => {
                if self.folds_case.get().is_none() {
                    self.folds_case().await?;
                }
                Ok(true)
            }
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Whether the store treats keys that differ only in case as one key
    /// (a local folder on macOS or Windows, an S3-compatible server on such
    /// a file system): the marker, asked for in upper case, is found.
    /// Known once the marker exists, then remembered; until then the
    /// answer is `true`, the cautious one.
    ///
    /// # Errors
    ///
    /// The store's error when it cannot be asked.
    pub async fn folds_case(&self) -> Result<bool, object_store::Error> {
        if let Some(folds) = self.folds_case.get() {
            return Ok(*folds);
        }
        let marker = store_marker();
        let shouted = Path::from(marker.as_ref().to_ascii_uppercase());
        let folds = match self.store.head(&shouted).await {
            Ok(_) => true,
            Err(object_store::Error::NotFound { .. }) => match self.store.head(&marker).await {
                Ok(_) => false,
                Err(object_store::Error::NotFound { .. }) => return Ok(true),
                Err(e) => return Err(e),
            },
            Err(e) => return Err(e),
        };
        Ok(*self.folds_case.get_or_init(|| folds))
    }

    /// Whether `company`'s folder may be read and written under its
    /// name: always on a store that keeps case apart; on one that folds
    /// case, unless the store's top holds a folder whose name differs from
    /// the company's only in case (that folder is another company's:
    /// `ACME` must not read `acme`'s runs). The answer is remembered for
    /// [`FOLDER_FOUND_FOR`] when a folder was found, [`FOLDER_MISSING_FOR`]
    /// when none was. Two companies whose names differ only in case that
    /// both write their first attempt at the same moment may both find no
    /// folder; the store then holds one folder for both (docs/RELIABILITY.md
    /// says so).
    ///
    /// # Errors
    ///
    /// The store's error when it cannot be asked or listed; a company
    /// whose name makes no key is refused by the key's own checks later,
    /// so it is `Ok(true)` here.
    pub async fn is_own_company_folder(
        &self,
        company: &Company,
    ) -> Result<bool, object_store::Error> {
        if !self.folds_case().await? {
            return Ok(true);
        }
        let Ok(segment) = key_segment(company.as_str()) else {
            return Ok(true);
        };
        if let Some((own, until)) = self.own_folders.get(&segment)
            && Instant::now() < until
        {
            return Ok(own);
        }
        // The store's top, as the store spells it: a store that folds case
        // still keeps the case a folder was created with.
        let top = self.store.list_with_delimiter(None).await?;
        let names: Vec<&str> = top.common_prefixes.iter().map(AsRef::as_ref).collect();
        let (own, valid_for) = if names.contains(&segment.as_str()) {
            (true, FOLDER_FOUND_FOR)
        } else if names.iter().any(|n| n.eq_ignore_ascii_case(&segment)) {
            (false, FOLDER_FOUND_FOR)
        } else {
            (true, FOLDER_MISSING_FOR)
        };
        self.own_folders
            .insert(segment, (own, Instant::now() + valid_for));
        Ok(own)
    }
}

/// Deletes, under `folder` and its subfolders, the files `LocalFileSystem`
/// stages a multipart upload in (`name#N`, `N` digits): what a writer
/// killed mid-upload leaves. A missing folder holds none.
fn delete_hidden_uploads(folder: &std::path::Path) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(folder) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            delete_hidden_uploads(&path)?;
        } else if is_upload_staging_file(&entry.file_name().to_string_lossy()) {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// Whether a file name is one `LocalFileSystem` gives a multipart upload
/// in progress (and hides from listings): `name#N`, `N` all digits.
fn is_upload_staging_file(name: &str) -> bool {
    name.rsplit_once('#')
        .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use object_store::{ObjectStoreExt, PutPayload};

    use super::*;

    #[tokio::test]
    async fn deleting_a_local_prefix_also_deletes_half_written_uploads() {
        let dir = tempfile::tempdir().unwrap();
        let store = ArtifactStore::open(dir.path().to_str().unwrap()).unwrap();
        let folder = Path::from("acme/run/load");
        for name in ["data_000.parquet", "open.json", "logs/000001.parquet"] {
            store
                .object_store()
                .put(
                    &Path::from(format!("{folder}/{name}")),
                    PutPayload::from("x"),
                )
                .await
                .unwrap();
        }
        let keep = Path::from("acme/other/data_000.parquet");
        store
            .object_store()
            .put(&keep, PutPayload::from("x"))
            .await
            .unwrap();
        // What `LocalFileSystem` leaves of a multipart upload cut short,
        // out of its own listings.
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::write(root.join("acme/run/load/data_001.parquet#1"), "x").unwrap();
        std::fs::write(root.join("acme/run/load/logs/000002.parquet#12"), "x").unwrap();
        // A name with `#` and more than digits is an object like any other.
        std::fs::write(root.join("acme/run/load/notes#v2"), "x").unwrap();

        let marker = folder.clone().join("open.json");
        let listed = store.delete_prefix(&folder, Some(&marker)).await.unwrap();

        assert_eq!(listed, 4);
        let left: Vec<_> = walk(&root.join("acme/run"));
        assert!(left.is_empty(), "{left:?}");
        assert!(store.object_store().head(&keep).await.is_ok());
        // A folder that does not exist is nothing to delete.
        assert_eq!(
            store
                .delete_prefix(&Path::from("acme/none"), None)
                .await
                .unwrap(),
            0
        );
    }

    fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut files = Vec::new();
        let Ok(entries) = std::fs::read_dir(dir) else {
            return files;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files.extend(walk(&path));
            } else {
                files.push(path);
            }
        }
        files
    }

    #[test]
    fn only_a_hash_and_digits_make_an_upload_in_progress() {
        assert!(is_upload_staging_file("data_000.parquet#1"));
        assert!(is_upload_staging_file("a#b#23"));
        assert!(!is_upload_staging_file("data_000.parquet"));
        assert!(!is_upload_staging_file("a#"));
        assert!(!is_upload_staging_file("a#1b"));
    }
}
