//! What writing an attempt can fail with.

use arrow_schema::ArrowError;
use parquet::errors::ParquetError;

use super::normalize::SchemaMismatch;
use crate::artifacts::store::DeleteError;

/// Writing an attempt failed. Nothing is committed after a failure.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// `metadata.parquet` already exists: committed attempts are immutable.
    #[error(
        "{key} already exists: attempt {attempt} is committed and immutable (a re-run writes the next attempt)"
    )]
    AlreadyCommitted {
        /// The metadata key.
        key: String,
        /// The attempt number.
        attempt: u32,
    },
    /// The Parquet encoder failed.
    #[error("cannot write {key}: {source}")]
    Parquet {
        /// The file's key.
        key: String,
        /// The cause.
        source: ParquetError,
    },
    /// The object store failed.
    #[error("cannot store {key}: {source}")]
    Store {
        /// The file's key.
        key: String,
        /// The cause.
        source: object_store::Error,
    },
    /// A data batch does not have the schema of the attempt's first batch.
    #[error("data batch schema differs from the first batch's: expected {expected}, got {got}")]
    SchemaChanged {
        /// The attempt's schema.
        expected: String,
        /// The batch's schema.
        got: String,
    },
    /// Error or log rows do not fit the contract schema.
    #[error("{what} rows do not fit the contract schema: {source}")]
    Schema {
        /// `errors` or `logs`.
        what: &'static str,
        /// The mismatch.
        source: SchemaMismatch,
    },
    /// An error row names a data row by a position the attempt has no row
    /// at.
    #[error(
        "error row {error_row} names data row {position} (its 0-based position among the attempt's data rows, as `_row` without `_file`), but the attempt has {data_rows} data rows"
    )]
    RowPosition {
        /// The error row, 0-based in its batch.
        error_row: usize,
        /// The position it gave.
        position: i64,
        /// The data rows written.
        data_rows: u64,
    },
    /// An Arrow operation failed.
    #[error("arrow: {0}")]
    Arrow(#[from] ArrowError),
}

impl From<DeleteError> for WriteError {
    fn from(e: DeleteError) -> Self {
        Self::Store {
            key: e.key,
            source: e.source,
        }
    }
}
