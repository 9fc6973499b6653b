//! Reading a phase's rows from files for `dagtrail ingest`: NDJSON, CSV
//! (a file or stdin) or Parquet, with the column types inferred without
//! loss ([`infer`]). Every error names the file and, where there is one,
//! the 1-based line of the input (for Parquet, the 1-based row).

mod csv_file;
pub mod infer;
mod ndjson;
mod number_text;
mod parquet_file;
mod part;

use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use tokio::sync::mpsc;

pub use self::csv_file::CsvBatches;
pub use self::ndjson::NdjsonBatches;
pub use self::parquet_file::{ParquetBatches, open_parquet};
pub use self::part::{PART_MEDIA_TYPES, PartFormat, media_type, open_part};

/// Rows per batch handed to the writer.
pub const BATCH_ROWS: usize = 8_192;
/// Rows read to infer a schema.
pub const INFER_ROWS: usize = 1_000;

/// Where a row is in its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// A 1-based line of a text input (the line a CSV record starts on).
    Line(usize),
    /// A 1-based row of a Parquet file.
    Row(u64),
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Place::Line(n) => write!(f, "line {n}"),
            Place::Row(n) => write!(f, "row {n}"),
        }
    }
}

/// Where each row of a batch is in its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Places {
    /// The line of each row.
    Lines(Vec<usize>),
    /// Rows numbered on from the batch's first (0-based).
    Rows {
        /// The input row of the batch's first row.
        first: u64,
    },
}

impl Places {
    /// The place of the batch's row `row` (0-based).
    pub fn of(&self, row: usize) -> Place {
        match self {
            Places::Lines(lines) => Place::Line(lines.get(row).copied().unwrap_or(0)),
            Places::Rows { first } => Place::Row(first + row as u64 + 1),
        }
    }
}

/// Rows of an input, and where they came from.
#[derive(Debug, Clone)]
pub struct InputBatch {
    /// The rows, typed.
    pub batch: RecordBatch,
    /// Where each row is in the input.
    pub places: Places,
}

/// A file could not be read as the rows it claims to hold.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// One value or line is malformed.
    #[error("{file}: {at}: {reason}")]
    BadValue {
        /// The file (`-` for stdin).
        file: String,
        /// Where in it.
        at: Place,
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
    /// The format a path's extension names (`-`, stdin, is NDJSON unless
    /// told otherwise).
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

/// Batches of an input, read on a blocking thread.
pub type Batches = Box<dyn Iterator<Item = Result<InputBatch, IngestError>> + Send>;

impl Input {
    /// An input whose format comes from `format` or else the extension.
    ///
    /// # Errors
    ///
    /// When the format cannot be told, or Parquet is asked of stdin.
    pub fn new(path: impl Into<PathBuf>, format: Option<InputFormat>) -> Result<Self, IngestError> {
        let path = path.into();
        let format = format.or_else(|| InputFormat::from_path(&path)).ok_or_else(|| {
            IngestError::BadFile {
                file: path.display().to_string(),
                reason: "cannot tell the format from the extension: use .ndjson, .csv or .parquet, or --format".into(),
            }
        })?;
        if format == InputFormat::Parquet && path.as_os_str() == "-" {
            return Err(IngestError::BadFile {
                file: "-".into(),
                reason: "Parquet cannot be read from stdin (its footer is at the end): give a file"
                    .into(),
            });
        }
        Ok(Self { path, format })
    }

    fn name(&self) -> String {
        self.path.display().to_string()
    }

    /// Opens the input as an iterator of batches (blocking I/O).
    ///
    /// # Errors
    ///
    /// When the file cannot be opened or its first rows cannot be read.
    pub fn open(&self) -> Result<Batches, IngestError> {
        let name = self.name();
        if self.path.as_os_str() == "-" {
            let stdin = std::io::BufReader::new(std::io::stdin());
            return Ok(match self.format {
                InputFormat::Csv => Box::new(CsvBatches::new(name, stdin, INFER_ROWS, BATCH_ROWS)?),
                _ => Box::new(NdjsonBatches::new(name, stdin, INFER_ROWS, BATCH_ROWS)?),
            });
        }
        let file = std::fs::File::open(&self.path).map_err(|source| IngestError::Io {
            file: name.clone(),
            source,
        })?;
        let buffered = std::io::BufReader::with_capacity(1 << 20, file);
        Ok(match self.format {
            InputFormat::Ndjson => {
                Box::new(NdjsonBatches::new(name, buffered, INFER_ROWS, BATCH_ROWS)?)
            }
            InputFormat::Csv => Box::new(CsvBatches::new(name, buffered, INFER_ROWS, BATCH_ROWS)?),
            InputFormat::Parquet => {
                Box::new(open_parquet(name, buffered.into_inner(), BATCH_ROWS)?)
            }
        })
    }

    /// Reads the input on a blocking thread, handing batches over a
    /// bounded channel: parsing overlaps uploading, and at most two batches
    /// wait in memory.
    ///
    /// # Errors
    ///
    /// Sent, not returned: a failure of [`Input::open`] or of a batch is
    /// the channel's last item, and a reader that panics ends it with
    /// [`IngestError::BadFile`] rather than looking like the end of the
    /// input.
    pub fn stream(&self) -> mpsc::Receiver<Result<InputBatch, IngestError>> {
        let input = self.clone();
        stream_batches(self.name(), move || input.open())
    }
}

/// Runs `open` and reads its batches on a blocking thread, handing them
/// over a bounded channel: parsing overlaps what the caller does with them
/// (uploading, staging), and at most two batches wait in memory. Shared by
/// `dagtrail ingest` ([`Input::stream`]) and the write API's parts.
///
/// # Errors
///
/// Sent, not returned: a failure of `open` or of a batch is the channel's
/// last item, and a reader that panics ends it with
/// [`IngestError::BadFile`] naming `name` rather than looking like the end
/// of the input (which would commit the rows read so far).
pub fn stream_batches(
    name: String,
    open: impl FnOnce() -> Result<Batches, IngestError> + Send + 'static,
) -> mpsc::Receiver<Result<InputBatch, IngestError>> {
    let (tx, rx) = mpsc::channel(2);
    tokio::task::spawn_blocking(move || {
        let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let batches = match open() {
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
        }));
        // The Parquet decoder panics on some corrupt files.
        if read.is_err() {
            let _ = tx.blocking_send(Err(IngestError::BadFile {
                file: name,
                reason: "the file could not be decoded (the reader failed on it)".into(),
            }));
        }
    });
    rx
}
