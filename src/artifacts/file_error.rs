//! What reading a file of the store can fail with ([`FileError`]), each
//! store error classified once: nothing under the name, a timeout of a
//! store that answers, any other failure; or bytes that do not decode.

use object_store::path::Path;
use parquet::errors::ParquetError;

/// Reading one file of the artifact store failed.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The store holds no file under the key.
    #[error("{key} is missing from the artifact store")]
    MissingFile {
        /// The file's key.
        key: String,
    },
    /// The store did not answer one request in its own time limit.
    #[error("reading {key} timed out: {source}")]
    StoreTimeout {
        /// The file's key.
        key: String,
        /// The cause.
        source: object_store::Error,
    },
    /// The store failed otherwise (refused, unreachable, answered an
    /// error).
    #[error("cannot read {key}: {source}")]
    Store {
        /// The file's key.
        key: String,
        /// The cause.
        source: object_store::Error,
    },
    /// The file could not be decoded.
    #[error("cannot decode {key}: {reason}")]
    Decode {
        /// The file's key.
        key: String,
        /// Why.
        reason: String,
    },
}

impl FileError {
    /// A store error about `key`, classified here once: a name the store
    /// holds nothing under is [`FileError::MissingFile`], a request the
    /// store's client gave up waiting for is [`FileError::StoreTimeout`],
    /// anything else [`FileError::Store`].
    pub fn store(key: &Path, source: object_store::Error) -> Self {
        let key = key.to_string();
        if names_nothing(&source) {
            return Self::MissingFile { key };
        }
        if timed_out(&source) {
            return Self::StoreTimeout { key, source };
        }
        Self::Store { key, source }
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

/// The causes of `error`, itself first.
fn causes<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(error), |e| e.source())
}

/// Whether a store error says that nothing exists under the name: not
/// found, or a local folder's refusal of the name itself (too long, or a
/// part of it that is a file). Whatever the store says about a name,
/// reading something that does not exist is a 404, never a 502.
fn names_nothing(error: &object_store::Error) -> bool {
    if matches!(error, object_store::Error::NotFound { .. }) {
        return true;
    }
    causes(error)
        .find_map(|e| e.downcast_ref::<std::io::Error>())
        .is_some_and(|io| {
            matches!(
                io.kind(),
                std::io::ErrorKind::NotFound
                    | std::io::ErrorKind::NotADirectory
                    | std::io::ErrorKind::InvalidFilename
            )
        })
}

/// Whether a store error is a timeout of a store that answers: the S3
/// client's own kind (`HttpErrorKind::Timeout`, which it also gives when
/// retries ran out on timeouts) or an I/O timeout, found by type along the
/// causes, never by the wording of a message. A connection that could not
/// be made in time is not one: the store cannot be reached, a failure
/// (502) as a refused connection is.
fn timed_out(error: &object_store::Error) -> bool {
    let connecting = causes(error).any(|e| {
        e.downcast_ref::<reqwest::Error>()
            .is_some_and(reqwest::Error::is_connect)
    });
    !connecting
        && causes(error).any(|e| {
            e.downcast_ref::<object_store::client::HttpError>()
                .is_some_and(|h| h.kind() == object_store::client::HttpErrorKind::Timeout)
                || e.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        })
}
