//! Parquet input: the file's own schema, read in batches, with the same
//! exact types as the read service ([`TypedFooter`]: INT96 timestamps,
//! intervals, UUIDs...).

use std::fs::File;

use arrow_array::RecordBatch;
use arrow_schema::ArrowError;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::file::metadata::ParquetMetaDataReader;

use super::{IngestError, NamedBatches};
use crate::artifacts::parquet_types::TypedFooter;

/// Batches of a Parquet file, in the file's types.
pub struct TypedBatches {
    reader: ParquetRecordBatchReader,
    footer: TypedFooter,
}

impl Iterator for TypedBatches {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        let batch = self.reader.next()?;
        Some(batch.and_then(|b| self.footer.convert(b)))
    }
}

/// Batches of a Parquet file.
pub type ParquetBatches = NamedBatches<TypedBatches>;

/// Opens the file; fails when it is not Parquet.
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
    Ok(NamedBatches::new(name, TypedBatches { reader, footer }))
}
