//! Parquet input: the file's own schema, read in batches.

use std::fs::File;

use arrow_array::RecordBatch;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};

use super::IngestError;

/// Batches of a Parquet file.
pub struct ParquetBatches {
    name: String,
    reader: ParquetRecordBatchReader,
    failed: bool,
}

impl ParquetBatches {
    /// Opens the file; fails when it is not Parquet.
    pub fn new(name: String, file: File, batch_rows: usize) -> Result<Self, IngestError> {
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.with_batch_size(batch_rows).build())
            .map_err(|e| IngestError::BadFile {
                file: name.clone(),
                reason: format!("not a readable Parquet file ({e})"),
            })?;
        Ok(Self {
            name,
            reader,
            failed: false,
        })
    }
}

impl Iterator for ParquetBatches {
    type Item = Result<RecordBatch, IngestError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let next = self.reader.next()?;
        Some(next.map_err(|e| {
            self.failed = true;
            IngestError::BadFile {
                file: self.name.clone(),
                reason: e.to_string(),
            }
        }))
    }
}
