//! What a read can fail with: [`ReadError`], each kind mapped to one HTTP
//! status in `http::error` (contract 4.3), and [`Missing`], the things a
//! 404 can name.

use object_store::path::Path;
use parquet::errors::ParquetError;

use crate::artifacts::FileError;
use crate::artifacts::key::KeyError;
use crate::runindex::IndexError;

/// What a request named that does not exist for the token's company
/// (contract 4.3: each is a 404 with its own title).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Missing {
    /// The run is not in the run index (endpoint 2).
    #[error("run")]
    Run,
    /// The run has neither event file (endpoint 3).
    #[error("event")]
    Event,
    /// The phase attempt has no `metadata.parquet`: never committed
    /// (endpoints 4-7).
    #[error("phase attempt")]
    Attempt,
    /// The company has no such DAG (no runs, no catalog entry).
    #[error("DAG")]
    Dag,
}

/// A read failed. Each kind maps to one HTTP status in `http::error`.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The run, attempt or event does not exist (for this company): 404.
    #[error("{0} not found")]
    NotFound(Missing),
    /// The run index failed: 502.
    #[error("run lookup failed: {0}")]
    Index(#[from] IndexError),
    /// A file the attempt's metadata promises is not in the store: 502.
    #[error("{key} is missing from the artifact store")]
    MissingFile {
        /// The file's key.
        key: String,
    },
    /// The store did not answer one request in its own time limit: 504.
    #[error("reading {key} timed out: {source}")]
    StoreTimeout {
        /// The file's key.
        key: String,
        /// The cause.
        source: object_store::Error,
    },
    /// The store failed otherwise (refused, unreachable, answered an
    /// error): 502.
    #[error("cannot read {key}: {source}")]
    Store {
        /// The file's key.
        key: String,
        /// The cause.
        source: object_store::Error,
    },
    /// A file could not be decoded: 502.
    #[error("cannot decode {key}: {reason}")]
    Decode {
        /// The file's key.
        key: String,
        /// Why.
        reason: String,
    },
    /// An artifact key could not be built from the request: 422.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A run search's `cursor` cannot continue it: 422.
    #[error(transparent)]
    Cursor(#[from] super::cursor::CursorError),
}

impl ReadError {
    /// A store error about `key`, classified here once: a name the store
    /// holds nothing under is [`ReadError::MissingFile`], a request the
    /// store's client gave up waiting for is [`ReadError::StoreTimeout`],
    /// anything else [`ReadError::Store`].
    pub fn store(key: &Path, source: object_store::Error) -> Self {
        FileError::store(key, source).into()
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
        FileError::from_parquet(key, error).into()
    }
}

/// A file's failure is the read's, kind for kind.
impl From<FileError> for ReadError {
    fn from(e: FileError) -> Self {
        match e {
            FileError::MissingFile { key } => Self::MissingFile { key },
            FileError::StoreTimeout { key, source } => Self::StoreTimeout { key, source },
            FileError::Store { key, source } => Self::Store { key, source },
            FileError::Decode { key, reason } => Self::Decode { key, reason },
        }
    }
}

#[cfg(test)]
mod tests {
    use object_store::ObjectStoreExt as _;
    use object_store::client::{HttpError, HttpErrorKind};

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

    /// A connection the client could not make (here refused; a connect
    /// timeout is the same kind of error) is a store that cannot be
    /// reached, even when the client files it under timeouts.
    #[tokio::test]
    async fn connections_not_made_are_failures_not_timeouts() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let refused = reqwest::Client::new()
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .unwrap_err();
        assert!(refused.is_connect());
        let error = object_store::Error::Generic {
            store: "S3",
            source: Box::new(HttpError::new(HttpErrorKind::Timeout, refused)),
        };
        assert!(matches!(
            ReadError::store(&Path::from("a/b.parquet"), error),
            ReadError::Store { .. }
        ));
    }

    /// Timeouts are told by the kind the client gives them, whatever the
    /// message says; other failures stay store failures.
    #[test]
    fn timeouts_are_classified_by_kind() {
        let key = Path::from("a/b.parquet");
        let http = |kind, message: &str| object_store::Error::Generic {
            store: "S3",
            source: Box::new(HttpError::new(
                kind,
                std::io::Error::other(message.to_owned()),
            )),
        };
        let worded_otherwise = http(HttpErrorKind::Timeout, "deadline has elapsed");
        assert!(matches!(
            ReadError::store(&key, worded_otherwise),
            ReadError::StoreTimeout { .. }
        ));
        let io_timeout = object_store::Error::Generic {
            store: "S3",
            source: Box::new(std::io::Error::from(std::io::ErrorKind::TimedOut)),
        };
        assert!(matches!(
            ReadError::store(&key, io_timeout),
            ReadError::StoreTimeout { .. }
        ));
        let says_timed_out = http(HttpErrorKind::Connect, "connection timed out");
        assert!(matches!(
            ReadError::store(&key, says_timed_out),
            ReadError::Store { .. }
        ));
    }
}
