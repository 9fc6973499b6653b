//! Typed configuration shared by the subcommands: where the run index and
//! the artifact store are (contract section 5), read from flags or the
//! `DAGTRAIL_*` environment variables (a flag wins).

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{ArgAction, Args};

use crate::artifacts::store::{ArtifactStore, OpenStoreError};
use crate::runindex::{self, DEFAULT_MAX_CONNECTIONS, IndexError, IndexOptions, RunIndex};

/// Where the run index and the artifacts live.
#[derive(Debug, Clone, Args)]
pub struct StorageSettings {
    /// Where the embedded default keeps its files.
    #[arg(long, env = "DAGTRAIL_DATA_DIR", default_value = "./dagtrail-data")]
    pub data_dir: PathBuf,
    /// Run index: postgres://... or sqlite://<path> [default: sqlite://<data dir>/dagtrail.db]
    #[arg(long, env = "DAGTRAIL_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// A file holding the run index URL (a mounted secret), instead of
    /// DAGTRAIL_DATABASE_URL.
    #[arg(
        long,
        env = "DAGTRAIL_DATABASE_URL_FILE",
        conflicts_with = "database_url",
        value_parser = read_secret_file
    )]
    pub database_url_file: Option<Secret>,
    /// Artifact store: s3://bucket/prefix, file:///abs/path or a folder [default: <data dir>/artifacts]
    #[arg(long, env = "DAGTRAIL_STORE_URL")]
    pub store_url: Option<String>,
    /// Bring the run index's schema up to this version when it is behind
    /// (no DDL runs when it is current).
    #[arg(long, env = "DAGTRAIL_MIGRATE", default_value_t = true, action = ArgAction::Set)]
    pub migrate: bool,
    /// Most run-index connections this process holds open. Every process
    /// has its own pool: the sum over all processes must stay under the
    /// database's connection limit.
    #[arg(
        long,
        env = "DAGTRAIL_DB_MAX_CONNECTIONS",
        default_value_t = DEFAULT_MAX_CONNECTIONS,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub db_max_connections: u32,
    /// Longest wait for a run-index connection; the index's default when
    /// unset. `serve` keeps it under its request timeout, so that a database
    /// that is down is reported as such (502) rather than as a timeout.
    #[arg(skip)]
    pub acquire_timeout: Option<std::time::Duration>,
}

/// What bounds the memory of one input as decoded (an uploaded part, an
/// event, a file `dagtrail ingest` reads): [`crate::ingest::IngestLimits`].
#[derive(Debug, Clone, Args)]
pub struct IngestSettings {
    /// Bytes of one row at most: an NDJSON line, a CSV record, a row of
    /// Parquet or Arrow as decoded (and so every cell in it); longer rows
    /// are refused (413). Decoding takes up to about 50 times a row's bytes
    /// for the first rows, whose types are inferred.
    #[arg(long, env = "DAGTRAIL_MAX_ROW_BYTES", default_value_t = crate::ingest::limits::DEFAULT_MAX_ROW_BYTES)]
    pub max_row_bytes: usize,
    /// Columns of one input at most, each field of a nested column counted
    /// (more are refused with 422).
    #[arg(long, env = "DAGTRAIL_MAX_COLUMNS", default_value_t = crate::ingest::limits::DEFAULT_MAX_COLUMNS)]
    pub max_columns: usize,
    /// Levels of nesting of a value at most (lists and objects within
    /// lists and objects; more are refused with 422).
    #[arg(long, env = "DAGTRAIL_MAX_NESTING", default_value_t = crate::ingest::limits::DEFAULT_MAX_NESTING)]
    pub max_nesting: usize,
    /// Bytes of one Arrow IPC message (a batch of a part) at most, as sent
    /// and as decompressed (more are refused with 413: send smaller
    /// batches).
    #[arg(long, env = "DAGTRAIL_MAX_BATCH_BYTES", default_value_t = crate::ingest::limits::DEFAULT_MAX_BATCH_BYTES)]
    pub max_batch_bytes: usize,
    /// Bytes one part may decode to at most (its values laid out plainly;
    /// more are refused with 413): a small part whose values repeat cannot
    /// take an upload slot for hours.
    #[arg(long, env = "DAGTRAIL_MAX_PART_DECODED_BYTES", default_value_t = crate::ingest::limits::DEFAULT_MAX_DECODED_BYTES)]
    pub max_part_decoded_bytes: u64,
    /// Memory (bytes) of the process that decodes one Parquet part; a part
    /// that needs more is refused (413).
    #[arg(long, env = "DAGTRAIL_DECODER_MEMORY_BYTES", default_value_t = crate::ingest::limits::DEFAULT_DECODER_MEMORY)]
    pub decoder_memory_bytes: u64,
}

impl IngestSettings {
    /// The limits, Parquet decoded by `decoder` (this program) when given.
    pub fn limits(&self, decoder: Option<PathBuf>) -> crate::ingest::IngestLimits {
        crate::ingest::IngestLimits {
            max_row_bytes: self.max_row_bytes.max(1),
            max_columns: self.max_columns.max(1),
            max_nesting: self.max_nesting.max(1),
            max_batch_bytes: self.max_batch_bytes.max(1024),
            max_decoded_bytes: Some(self.max_part_decoded_bytes.max(1)),
            decoder_memory: self.decoder_memory_bytes.max(64 * 1024 * 1024),
            decoder,
        }
    }
}

/// Opening the configured storage failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The run index could not be opened.
    #[error("cannot open the run index at {url}: {source}")]
    Index {
        /// The database URL, without its password.
        url: String,
        /// The cause.
        source: IndexError,
    },
    /// The artifact store could not be opened.
    #[error(transparent)]
    Store(#[from] OpenStoreError),
}

/// The run index and the artifact store, opened.
#[derive(Debug, Clone)]
pub struct Storage {
    /// The run index.
    pub index: Arc<dyn RunIndex>,
    /// The artifact store.
    pub store: ArtifactStore,
}

impl StorageSettings {
    /// Settings for the embedded default under `data_dir`.
    pub fn embedded(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            database_url: None,
            database_url_file: None,
            store_url: None,
            migrate: true,
            db_max_connections: DEFAULT_MAX_CONNECTIONS,
            acquire_timeout: None,
        }
    }

    /// The run index URL (from the flag, the variable or the file),
    /// defaulting to the embedded SQLite file.
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .or_else(|| {
                self.database_url_file
                    .as_ref()
                    .map(|s| s.expose().to_owned())
            })
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("dagtrail.db").display()))
    }

    /// The artifact store URL, defaulting to the embedded folder.
    pub fn store_url(&self) -> String {
        self.store_url
            .clone()
            .unwrap_or_else(|| self.data_dir.join("artifacts").display().to_string())
    }

    /// Opens both stores.
    ///
    /// # Errors
    ///
    /// [`StorageError::Index`] when the run index cannot be opened (see
    /// [`runindex::open`]); [`StorageError::Store`] when the artifact store
    /// cannot (see [`ArtifactStore::open`]).
    pub async fn open(&self) -> Result<Storage, StorageError> {
        self.open_reporting(&indicatif::ProgressBar::hidden()).await
    }

    /// [`StorageSettings::open`], a migration's progress drawn on
    /// `progress` ([`IndexOptions::progress`]).
    ///
    /// # Errors
    ///
    /// As [`StorageSettings::open`].
    pub async fn open_reporting(
        &self,
        progress: &indicatif::ProgressBar,
    ) -> Result<Storage, StorageError> {
        let url = self.database_url();
        let defaults = IndexOptions::default();
        let options = IndexOptions {
            migrate: self.migrate,
            acquire_timeout: self.acquire_timeout.unwrap_or(defaults.acquire_timeout),
            max_connections: self.db_max_connections,
            progress: progress.clone(),
        };
        let index = runindex::open(&url, &options)
            .await
            .map_err(|source| StorageError::Index {
                url: redact_url(&url),
                source,
            })?;
        let store = ArtifactStore::open(&self.store_url())?;
        Ok(Storage { index, store })
    }
}

pub use crate::runindex::redact_url;

/// Reads a secret from a file (`*_FILE` settings: a mounted secret), one
/// trailing newline trimmed, as clap's value parser.
///
/// # Errors
///
/// The reason, when the file cannot be read or is empty.
pub fn read_secret_file(path: &str) -> Result<Secret, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let value = text.strip_suffix('\n').unwrap_or(&text);
    let value = value.strip_suffix('\r').unwrap_or(value);
    if value.is_empty() {
        return Err(format!("{path} is empty"));
    }
    Ok(Secret::new(value))
}

/// A secret that never shows in `Debug` or `Display` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

/// The file in the data folder that keeps the signing secret `serve
/// --demo` makes up, so that tokens survive restarts.
pub const DEMO_SECRET_FILE: &str = "demo-jwt-secret";

/// The demo's signing secret in `data_dir`, when one was made.
///
/// # Errors
///
/// When the file exists but cannot be read.
pub fn demo_secret(data_dir: &std::path::Path) -> std::io::Result<Option<Secret>> {
    match std::fs::read_to_string(data_dir.join(DEMO_SECRET_FILE)) {
        Ok(text) if !text.trim().is_empty() => Ok(Some(Secret::new(text.trim()))),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The demo's signing secret in `data_dir`, made up (256 bits from the
/// operating system's random generator, the file readable by its owner
/// only) on first use.
///
/// # Errors
///
/// When the file cannot be read or written.
pub fn demo_secret_or_new(data_dir: &std::path::Path) -> std::io::Result<Secret> {
    if let Some(secret) = demo_secret(data_dir)? {
        return Ok(secret);
    }
    std::fs::create_dir_all(data_dir)?;
    let mut bits = [0u8; 32];
    getrandom::fill(&mut bits).map_err(|e| std::io::Error::other(e.to_string()))?;
    let made_up: String = bits.iter().map(|b| format!("{b:02x}")).collect();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(data_dir.join(DEMO_SECRET_FILE)) {
        Ok(mut file) => {
            std::io::Write::write_all(&mut file, made_up.as_bytes())?;
            Ok(Secret::new(made_up))
        }
        // Another process made it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => demo_secret(data_dir)?
            .ok_or_else(|| std::io::Error::other("the demo secret file is empty")),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://app:hunter2@db:5432/runs"),
            "postgres://app:***@db:5432/runs"
        );
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "Secret(***)");
    }

    #[test]
    fn the_pool_size_is_at_least_one() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            storage: StorageSettings,
        }
        use clap::Parser as _;
        let parse = |n: &str| {
            Cli::try_parse_from(["dagtrail", "--db-max-connections", n])
                .map(|cli| cli.storage.db_max_connections)
        };
        assert_eq!(parse("3").ok(), Some(3));
        assert!(parse("0").is_err());
        assert_eq!(
            Cli::try_parse_from(["dagtrail"])
                .ok()
                .map(|cli| cli.storage.db_max_connections),
            Some(DEFAULT_MAX_CONNECTIONS)
        );
    }

    #[test]
    fn the_demo_secret_is_made_once_and_private() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(demo_secret(dir.path()).unwrap(), None);
        let made = demo_secret_or_new(dir.path()).unwrap();
        assert_eq!(made.expose().len(), 64);
        assert_eq!(demo_secret_or_new(dir.path()).unwrap(), made);
        assert_eq!(demo_secret(dir.path()).unwrap(), Some(made));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join(DEMO_SECRET_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn embedded_defaults_live_under_the_data_dir() {
        let s = StorageSettings::embedded("/tmp/x");
        assert_eq!(s.database_url(), "sqlite:///tmp/x/dagtrail.db");
        assert_eq!(s.store_url(), "/tmp/x/artifacts");
    }
}
