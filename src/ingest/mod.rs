//! Reading a phase's rows from files for `dagtrail ingest`: NDJSON (a file
//! or stdin), CSV or Parquet, with the schema inferred. Every error names
//! the file and, where there is one, the line.

mod csv;
mod ndjson;
mod parquet_file;

use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use tokio::sync::mpsc;

pub use self::csv::{CsvBatches, open_csv};
pub use self::ndjson::NdjsonBatches;
pub use self::parquet_file::{ParquetBatches, open_parquet};

/// Rows per batch handed to the writer.
pub const BATCH_ROWS: usize = 8_192;
/// Rows read to infer a schema.
pub const INFER_ROWS: usize = 1_000;

/// A file could not be read as the rows it claims to hold.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// One line is malformed.
    #[error("{file}: line {line}: {reason}")]
    BadLine {
        /// The file (`-` for stdin).
        file: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The file as a whole is not what it claims.
    #[error("{file}: {reason}")]
    BadFile {
        /// The file.
        file: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The file could not be read.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// Batches of an Arrow reader, with errors naming the file; the first
/// error ends the stream (shared by the CSV and Parquet inputs).
pub struct NamedBatches<I> {
    name: String,
    inner: I,
    failed: bool,
}

impl<I> NamedBatches<I> {
    fn new(name: String, inner: I) -> Self {
        Self {
            name,
            inner,
            failed: false,
        }
    }
}

impl<I: Iterator<Item = Result<RecordBatch, arrow_schema::ArrowError>>> Iterator
    for NamedBatches<I>
{
    type Item = Result<RecordBatch, IngestError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let next = self.inner.next()?;
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

/// The formats `ingest` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InputFormat {
    /// One JSON object per line.
    Ndjson,
    /// Comma-separated values with a header line.
    Csv,
    /// Apache Parquet.
    Parquet,
}

impl InputFormat {
    /// The format a path's extension names (`-` is NDJSON on stdin).
    pub fn from_path(path: &Path) -> Option<Self> {
        if path.as_os_str() == "-" {
            return Some(Self::Ndjson);
        }
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "ndjson" | "jsonl" | "json" => Some(Self::Ndjson),
            "csv" => Some(Self::Csv),
            "parquet" | "pq" => Some(Self::Parquet),
            _ => None,
        }
    }
}

/// An input: a path (`-` for stdin) and its format.
#[derive(Debug, Clone)]
pub struct Input {
    /// The file, or `-` for stdin.
    pub path: PathBuf,
    /// Its format.
    pub format: InputFormat,
}

impl Input {
    /// An input whose format comes from `format` or else the extension.
    pub fn new(path: impl Into<PathBuf>, format: Option<InputFormat>) -> Result<Self, IngestError> {
        let path = path.into();
        let format = format.or_else(|| InputFormat::from_path(&path)).ok_or_else(|| {
            IngestError::BadFile {
                file: path.display().to_string(),
                reason: "cannot tell the format from the extension: use .ndjson, .csv or .parquet, or --format".into(),
            }
        })?;
        if format != InputFormat::Ndjson && path.as_os_str() == "-" {
            return Err(IngestError::BadFile {
                file: "-".into(),
                reason: "only NDJSON can be read from stdin".into(),
            });
        }
        Ok(Self { path, format })
    }

    fn name(&self) -> String {
        self.path.display().to_string()
    }

    /// Opens the input as an iterator of batches (blocking I/O).
    pub fn open(
        &self,
    ) -> Result<Box<dyn Iterator<Item = Result<RecordBatch, IngestError>> + Send>, IngestError>
    {
        let name = self.name();
        if self.path.as_os_str() == "-" {
            let stdin = std::io::BufReader::new(std::io::stdin());
            return Ok(Box::new(NdjsonBatches::new(
                name, stdin, INFER_ROWS, BATCH_ROWS,
            )?));
        }
        let file = std::fs::File::open(&self.path).map_err(|source| IngestError::Io {
            file: name.clone(),
            source,
        })?;
        Ok(match self.format {
            InputFormat::Ndjson => Box::new(NdjsonBatches::new(
                name,
                std::io::BufReader::with_capacity(1 << 20, file),
                INFER_ROWS,
                BATCH_ROWS,
            )?),
            InputFormat::Csv => Box::new(open_csv(name, &self.path, INFER_ROWS, BATCH_ROWS)?),
            InputFormat::Parquet => Box::new(open_parquet(name, file, BATCH_ROWS)?),
        })
    }

    /// Reads the input on a blocking thread, handing batches over a
    /// bounded channel: parsing overlaps uploading, and at most two batches
    /// wait in memory.
    pub fn stream(&self) -> mpsc::Receiver<Result<RecordBatch, IngestError>> {
        let (tx, rx) = mpsc::channel(2);
        let input = self.clone();
        tokio::task::spawn_blocking(move || {
            let batches = match input.open() {
                Ok(batches) => batches,
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            };
            for batch in batches {
                let failed = batch.is_err();
                if tx.blocking_send(batch).is_err() || failed {
                    return;
                }
            }
        });
        rx
    }
}
