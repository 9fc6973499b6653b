//! Parquet input: the file's own schema, read in batches.

use std::fs::File;

use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};

use super::{IngestError, NamedBatches};

/// Batches of a Parquet file.
pub type ParquetBatches = NamedBatches<ParquetRecordBatchReader>;

/// Opens the file; fails when it is not Parquet.
pub fn open_parquet(
    name: String,
    file: File,
    batch_rows: usize,
) -> Result<ParquetBatches, IngestError> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.with_batch_size(batch_rows).build())
        .map_err(|e| IngestError::BadFile {
            file: name.clone(),
            reason: format!("not a readable Parquet file ({e})"),
        })?;
    Ok(NamedBatches::new(name, reader))
}
