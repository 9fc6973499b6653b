//! Reading a phase's rows from files for `dagtrail ingest`: NDJSON, CSV
//! (a file or stdin) or Parquet, with the column types inferred without
//! loss ([`infer`]). Every error names the file and, where there is one,
//! the 1-based line of the input (for Parquet, the 1-based row).

mod arrow_stream;
mod csv_file;
pub mod decoder;
pub mod infer;
pub mod limits;
mod ndjson;
mod number_text;
mod parquet_file;
mod part;

use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use tokio::sync::mpsc;

pub use self::arrow_stream::ArrowStreamBatches;
pub use self::csv_file::CsvBatches;
pub use self::limits::{IngestLimits, Limit, OverLimit};
pub use self::ndjson::NdjsonBatches;
pub use self::parquet_file::{ParquetBatches, batch_rows, open_parquet};
pub use self::part::{PART_MEDIA_TYPES, PartFormat, media_type, open_part};

/// Rows per batch handed to the writer at most (fewer when they hold more
/// than [`limits::BATCH_BYTES`]).
pub const BATCH_ROWS: usize = 8_192;
/// Rows read to infer a schema at most (fewer past
/// [`limits::INFER_BYTES`]).
pub const INFER_ROWS: usize = 1_000;

/// How many rows a text reader infers its types from and hands over at
/// once, by count and by bytes: whichever bound comes first (at least one
/// row each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Rows types are inferred from.
    pub infer_rows: usize,
    /// Bytes of them.
    pub infer_bytes: usize,
    /// Rows of a batch.
    pub batch_rows: usize,
    /// Bytes of them.
    pub batch_bytes: usize,
}

impl Default for Window {
    fn default() -> Self {
        Self {
            infer_rows: INFER_ROWS,
            infer_bytes: limits::INFER_BYTES,
            batch_rows: BATCH_ROWS,
            batch_bytes: limits::BATCH_BYTES,
        }
    }
}

impl Window {
    /// How many of the first rows, of these sizes in bytes, types are
    /// inferred from: within both bounds, at least one.
    pub fn inferred_rows(&self, sizes: impl Iterator<Item = usize>) -> usize {
        let mut bytes = 0usize;
        sizes
            .take(self.infer_rows)
            .take_while(|size| {
                let fits = bytes == 0 || bytes + size <= self.infer_bytes;
                bytes += size;
                fits
            })
            .count()
            .max(1)
    }

    /// A window of `infer_rows` and `batch_rows` rows, bytes unbounded
    /// beyond the defaults (tests of the row logic).
    pub fn rows(infer_rows: usize, batch_rows: usize) -> Self {
        Self {
            infer_rows,
            batch_rows,
            ..Self::default()
        }
    }
}

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
    /// The places of `rows` rows from the batch's row `first` (0-based).
    pub fn from(&self, first: usize, rows: usize) -> Self {
        match self {
            Places::Lines(lines) => Places::Lines(
                lines
                    .get(first..(first + rows).min(lines.len()))
                    .unwrap_or_default()
                    .to_vec(),
            ),
            Places::Rows { first: start } => Places::Rows {
                first: start + first as u64,
            },
        }
    }

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
    /// The input goes past one of its limits ([`IngestLimits`]).
    #[error("{file}: {}{over}", at.map(|at| format!("{at}: ")).unwrap_or_default())]
    OverLimit {
        /// The file.
        file: String,
        /// Where in it, when known.
        at: Option<Place>,
        /// Which limit, and by what.
        over: OverLimit,
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

impl IngestError {
    /// A schema's fault in `file`: over a limit, or a column named twice.
    pub fn schema(file: String, fault: limits::SchemaFault) -> Self {
        match fault {
            limits::SchemaFault::Over(over) => IngestError::OverLimit {
                file,
                at: None,
                over,
            },
            limits::SchemaFault::Duplicate(_) => IngestError::BadFile {
                file,
                reason: fault.to_string(),
            },
        }
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
    /// What bounds it.
    pub limits: IngestLimits,
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
        Ok(Self {
            path,
            format,
            limits: IngestLimits::for_files(),
        })
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
        let limits = &self.limits;
        let window = Window::default();
        if self.path.as_os_str() == "-" {
            let stdin = std::io::BufReader::new(std::io::stdin());
            return Ok(match self.format {
                InputFormat::Csv => Box::new(CsvBatches::new(name, stdin, limits, window)?),
                _ => Box::new(NdjsonBatches::new(name, stdin, limits, window)?),
            });
        }
        let file = std::fs::File::open(&self.path).map_err(|source| IngestError::Io {
            file: name.clone(),
            source,
        })?;
        let buffered = std::io::BufReader::with_capacity(1 << 20, file);
        Ok(match self.format {
            InputFormat::Ndjson => Box::new(NdjsonBatches::new(name, buffered, limits, window)?),
            InputFormat::Csv => Box::new(CsvBatches::new(name, buffered, limits, window)?),
            InputFormat::Parquet => Box::new(open_parquet(name, buffered.into_inner(), limits)?),
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
        stream_batches(self.name(), self.limits.clone(), move || input.open())
    }

    /// The input read under `limits` instead of the defaults for files
    /// ([`IngestLimits::for_files`]).
    pub fn with_limits(mut self, limits: IngestLimits) -> Self {
        self.limits = limits;
        self
    }
}

/// Runs `open` and reads its batches on a blocking thread, handing them
/// over a bounded channel: parsing overlaps what the caller does with them
/// (uploading, staging), and at most two batches wait in memory. Shared by
/// `dagtrail ingest` ([`Input::stream`]) and the write API's parts. Every
/// batch is cut into pieces of at most [`limits::BATCH_BYTES`] as its
/// values will be laid out ([`limits::split_by_bytes`]: a dictionary's
/// value counts once per row that shows it), so that what follows the
/// decoder holds bounded bytes whatever the input's encoding.
///
/// # Errors
///
/// Sent, not returned: a failure of `open` or of a batch is the channel's
/// last item, and a reader that panics ends it with
/// [`IngestError::BadFile`] naming `name` rather than looking like the end
/// of the input (which would commit the rows read so far). A row over
/// [`IngestLimits::max_row_bytes`], or more than
/// [`IngestLimits::max_decoded_bytes`] in all, is
/// [`IngestError::OverLimit`].
pub fn stream_batches(
    name: String,
    limits: IngestLimits,
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
            let mut decoded = 0u64;
            for batch in batches {
                let pieces = batch.and_then(|batch| bounded(&name, &limits, batch, &mut decoded));
                let pieces = match pieces {
                    Ok(pieces) => pieces,
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        return;
                    }
                };
                for piece in pieces {
                    if tx.blocking_send(Ok(piece)).is_err() {
                        return;
                    }
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

/// How many times its text a row of NDJSON or CSV may take decoded: a
/// JSON list of small integers takes about four times its text as int64
/// values and offsets; nothing within the row limit comes near sixteen.
const TEXT_EXPANSION: usize = 16;

/// `input` cut into pieces of at most [`limits::BATCH_BYTES`], its bytes
/// added to `decoded`.
///
/// # Errors
///
/// [`IngestError::OverLimit`] for a row over the row limit (placed), or
/// when `decoded` goes past the part's limit.
fn bounded(
    name: &str,
    limits: &IngestLimits,
    input: InputBatch,
    decoded: &mut u64,
) -> Result<Vec<InputBatch>, IngestError> {
    let over = |at, over| IngestError::OverLimit {
        file: name.to_owned(),
        at,
        over,
    };
    // A text row was measured as sent (its line or record); what it
    // decodes to may be a few times more (`0,` is 2 bytes of text, 8 of
    // int64), and is bounded here only against what no text row within
    // the limit decodes to. A binary format's row is measured here alone.
    let max_row = match input.places {
        Places::Lines(_) => limits.max_row_bytes.saturating_mul(TEXT_EXPANSION),
        Places::Rows { .. } => limits.max_row_bytes,
    };
    // Measuring takes 8 bytes a value: at most an eighth of a message.
    let max_values = (limits.max_batch_bytes / 8) as u64;
    let (pieces, bytes) =
        limits::split_by_bytes(&input.batch, limits::BATCH_BYTES, max_row, max_values).map_err(
            |fault| match fault {
                limits::SplitFault::Row { row, bytes } => over(
                    Some(input.places.of(row)),
                    OverLimit::new(
                        Limit::RowBytes,
                        max_row,
                        format!("a row takes {bytes} bytes decoded"),
                    ),
                ),
                limits::SplitFault::Values(values) => over(
                    None,
                    OverLimit::new(
                        Limit::BatchBytes,
                        limits.max_batch_bytes,
                        format!(
                            "a batch holds {values} values (at most one for every 8 bytes of the limit): send smaller batches"
                        ),
                    ),
                ),
            },
        )?;
    *decoded = decoded.saturating_add(bytes);
    if let Some(max) = limits.max_decoded_bytes
        && *decoded > max
    {
        return Err(over(
            None,
            OverLimit::new(
                Limit::DecodedBytes,
                max,
                format!("the rows decode to more than {max} bytes"),
            ),
        ));
    }
    if pieces.len() == 1 {
        return Ok(vec![input]);
    }
    Ok(pieces
        .into_iter()
        .map(|(first, batch)| {
            let places = input.places.from(first, batch.num_rows());
            InputBatch { batch, places }
        })
        .collect())
}
