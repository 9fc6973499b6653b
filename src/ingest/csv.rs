//! CSV input with a header line; the schema inferred from the first rows.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow_csv::reader::{Format, Reader, ReaderBuilder};

use super::{IngestError, NamedBatches};

/// Batches of a CSV file.
pub type CsvBatches = NamedBatches<Reader<File>>;

/// Infers the schema from the first `infer_rows` rows, then reads the
/// file from the start.
pub fn open_csv(
    name: String,
    path: &Path,
    infer_rows: usize,
    batch_rows: usize,
) -> Result<CsvBatches, IngestError> {
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
    Ok(NamedBatches::new(name, reader))
}
