//! CSV input with a header line; the schema inferred from the first rows.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_csv::reader::{Format, Reader, ReaderBuilder};

use super::IngestError;

/// Batches of a CSV file.
pub struct CsvBatches {
    name: String,
    reader: Reader<File>,
    failed: bool,
}

impl CsvBatches {
    /// Infers the schema from the first `infer_rows` rows, then reads the
    /// file from the start.
    pub fn open(
        name: String,
        path: &Path,
        infer_rows: usize,
        batch_rows: usize,
    ) -> Result<Self, IngestError> {
        let io = |source| IngestError::Io {
            file: name.clone(),
            source,
        };
        let bad = |e: arrow_schema::ArrowError| IngestError::BadFile {
            file: name.clone(),
            reason: e.to_string(),
        };
        let format = Format::default().with_header(true);
        let (schema, _) = format
            .infer_schema(File::open(path).map_err(io)?, Some(infer_rows))
            .map_err(bad)?;
        if schema.fields().is_empty() {
            return Err(IngestError::BadFile {
                file: name,
                reason: "no header line".into(),
            });
        }
        let reader = ReaderBuilder::new(Arc::new(schema))
            .with_format(format)
            .with_batch_size(batch_rows)
            .build(File::open(path).map_err(io)?)
            .map_err(bad)?;
        Ok(Self {
            name,
            reader,
            failed: false,
        })
    }
}

impl Iterator for CsvBatches {
    type Item = Result<RecordBatch, IngestError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let next = self.reader.next()?;
        Some(next.map_err(|e| {
            self.failed = true;
            // arrow-csv's messages carry the line number.
            IngestError::BadFile {
                file: self.name.clone(),
                reason: e.to_string(),
            }
        }))
    }
}
