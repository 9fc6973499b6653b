//! Parquet input: the file's own schema, read in batches, with the same
//! exact types as the read service ([`TypedFooter`]: INT96 timestamps,
//! intervals, UUIDs...).

use std::fs::File;

use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::file::metadata::ParquetMetaDataReader;

use super::{IngestError, InputBatch, Places};
use crate::artifacts::parquet_types::TypedFooter;

/// Batches of a Parquet file, in the file's types.
pub struct ParquetBatches {
    name: String,
    reader: ParquetRecordBatchReader,
    footer: TypedFooter,
    rows_read: u64,
    failed: bool,
}

impl Iterator for ParquetBatches {
    type Item = Result<InputBatch, IngestError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let batch = self.reader.next()?.and_then(|b| self.footer.convert(b));
        Some(match batch {
            Ok(batch) => {
                let places = Places::Rows {
                    first: self.rows_read,
                };
                self.rows_read += batch.num_rows() as u64;
                Ok(InputBatch { batch, places })
            }
            Err(e) => {
                self.failed = true;
                Err(IngestError::BadFile {
                    file: self.name.clone(),
                    reason: e.to_string(),
                })
            }
        })
    }
}

/// Opens the file.
///
/// # Errors
///
/// When it is not Parquet.
pub fn open_parquet(
    name: String,
    file: File,
    batch_rows: usize,
) -> Result<ParquetBatches, IngestError> {
    let not_parquet = |e: parquet::errors::ParquetError| IngestError::BadFile {
        file: name.clone(),
        reason: format!("not a readable Parquet file ({e})"),
    };
    let metadata = ParquetMetaDataReader::new()
        .parse_and_finish(&file)
        .map_err(not_parquet)?;
    let footer = TypedFooter::new(metadata).map_err(not_parquet)?;
    let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(file, footer.reader().clone())
        .with_batch_size(batch_rows)
        .build()
        .map_err(not_parquet)?;
    Ok(ParquetBatches {
        name,
        reader,
        footer,
        rows_read: 0,
        failed: false,
    })
}
