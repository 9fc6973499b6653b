//! What bounds the memory of one input, whatever it declares (issue 23):
//! the bytes of a row, the columns and their nesting, the bytes of a
//! batch and of a whole part as decoded. A part's size on the wire says
//! little about what it decodes to (a 64 MB NDJSON line of `[0,0,…]` took
//! 3.2 GB; 33 KB of Parquet held a 1 GiB string), so every decoder checks
//! these before it allocates for them, and every batch any decoder yields
//! is cut into pieces of bounded bytes before the writer sees it.
//!
//! The figures each limit buys are in docs/RELIABILITY.md ("Memory").
//! Lines of NDJSON are read and their shapes walked in `json.rs`,
//! schemas bounded in `schema.rs`, rows and batches measured and cut in
//! `sizes.rs`.

mod json;
mod schema;
mod sizes;
#[cfg(test)]
mod tests;

pub use json::{JsonCounts, JsonShapeFault, Line, check_json_shape, read_line};
pub(crate) use schema::leaves;
pub use schema::{SchemaFault, check_schema};
pub use sizes::{Pieces, SplitFault, row_bytes, split_by_bytes, values_in};

/// Bytes of one row at most by default (`DAGTRAIL_MAX_ROW_BYTES`): an
/// NDJSON line, a CSV record, a row of Parquet or Arrow as decoded, and so
/// every cell in it.
pub const DEFAULT_MAX_ROW_BYTES: usize = 1024 * 1024;
/// Columns of an input at most by default (`DAGTRAIL_MAX_COLUMNS`),
/// counting each leaf of a nested column.
pub const DEFAULT_MAX_COLUMNS: usize = 1_000;
/// Levels of nesting at most by default (`DAGTRAIL_MAX_NESTING`): a JSON
/// value inside an object or list is one level down.
pub const DEFAULT_MAX_NESTING: usize = 32;
/// Bytes of one Arrow IPC message at most by default
/// (`DAGTRAIL_MAX_BATCH_BYTES`), as sent and as decompressed.
pub const DEFAULT_MAX_BATCH_BYTES: usize = 64 * 1024 * 1024;
/// Bytes one part may decode to at most by default
/// (`DAGTRAIL_MAX_PART_DECODED_BYTES`): 4 GiB, so that a small part whose
/// values repeat (a dictionary, run-end encoding) cannot keep a slot for
/// hours.
pub const DEFAULT_MAX_DECODED_BYTES: u64 = 4 * 1024 * 1024 * 1024;
/// Memory a Parquet part's decoder process may take by default
/// (`DAGTRAIL_DECODER_MEMORY_BYTES`).
pub const DEFAULT_DECODER_MEMORY: u64 = 256 * 1024 * 1024;
/// Bytes of rows handed to the writer at once: text inputs end a batch
/// here (or at 8,192 rows), and any decoder's batch is cut to it.
pub const BATCH_BYTES: usize = 8 * 1024 * 1024;
/// Bytes of the first rows that column types are inferred from (at least
/// one row, at most 1,000): the first batch's. Inference holds one row's
/// value at a time, so this bounds time, not memory.
pub const INFER_BYTES: usize = BATCH_BYTES;

/// What bounds one input (handed to a decoder process as JSON).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IngestLimits {
    /// Bytes of one row (line, record, decoded row) at most.
    pub max_row_bytes: usize,
    /// Leaf columns at most.
    pub max_columns: usize,
    /// Nesting levels at most.
    pub max_nesting: usize,
    /// Bytes of one Arrow IPC message at most, as sent and decompressed.
    pub max_batch_bytes: usize,
    /// Bytes one input may decode to (`None`: no bound, for files an
    /// operator ingests on their own machine).
    pub max_decoded_bytes: Option<u64>,
    /// Memory of a Parquet decoder process.
    pub decoder_memory: u64,
    /// The executable that decodes Parquet in a process of its own, under
    /// [`IngestLimits::decoder_memory`] (`dagtrail decode-part`); `None`
    /// decodes in this process (the CLI on its own files, tests).
    #[serde(skip)]
    pub decoder: Option<std::path::PathBuf>,
}

impl Default for IngestLimits {
    fn default() -> Self {
        Self {
            max_row_bytes: DEFAULT_MAX_ROW_BYTES,
            max_columns: DEFAULT_MAX_COLUMNS,
            max_nesting: DEFAULT_MAX_NESTING,
            max_batch_bytes: DEFAULT_MAX_BATCH_BYTES,
            max_decoded_bytes: Some(DEFAULT_MAX_DECODED_BYTES),
            decoder_memory: DEFAULT_DECODER_MEMORY,
            decoder: None,
        }
    }
}

impl IngestLimits {
    /// The defaults for files an operator ingests with `dagtrail ingest`:
    /// no bound on a file's decoded bytes (it may hold billions of rows);
    /// every other bound as for parts.
    pub fn for_files() -> Self {
        Self {
            max_decoded_bytes: None,
            ..Self::default()
        }
    }
}

/// Which limit an input is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Limit {
    /// [`IngestLimits::max_row_bytes`].
    RowBytes,
    /// [`IngestLimits::max_columns`].
    Columns,
    /// [`IngestLimits::max_nesting`].
    Nesting,
    /// [`IngestLimits::max_batch_bytes`].
    BatchBytes,
    /// [`IngestLimits::max_decoded_bytes`].
    DecodedBytes,
    /// [`IngestLimits::decoder_memory`].
    DecoderMemory,
}

impl Limit {
    /// The setting that raises it.
    pub fn setting(self) -> &'static str {
        match self {
            Limit::RowBytes => "DAGTRAIL_MAX_ROW_BYTES",
            Limit::Columns => "DAGTRAIL_MAX_COLUMNS",
            Limit::Nesting => "DAGTRAIL_MAX_NESTING",
            Limit::BatchBytes => "DAGTRAIL_MAX_BATCH_BYTES",
            Limit::DecodedBytes => "DAGTRAIL_MAX_PART_DECODED_BYTES",
            Limit::DecoderMemory => "DAGTRAIL_DECODER_MEMORY_BYTES",
        }
    }

    /// Whether going past it makes the input too large (413) rather than
    /// of a shape the server refuses (422).
    pub fn too_large(self) -> bool {
        !matches!(self, Limit::Columns | Limit::Nesting)
    }

    fn unit(self) -> &'static str {
        match self {
            Limit::Columns => "columns",
            Limit::Nesting => "levels",
            _ => "bytes",
        }
    }
}

/// An input over one of its limits: what went past it, the bound and the
/// setting that raises it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[error("{what}: over the limit of {bound} {unit} ({setting})", unit = limit.unit(), setting = limit.setting())]
pub struct OverLimit {
    /// The limit.
    pub limit: Limit,
    /// Its value.
    pub bound: u64,
    /// What went past it ("a line is longer", "2,301 columns").
    pub what: String,
}

impl OverLimit {
    /// `what` over `limit`, whose value is `bound`.
    pub fn new(limit: Limit, bound: impl TryInto<u64>, what: impl Into<String>) -> Self {
        Self {
            limit,
            bound: bound.try_into().unwrap_or(u64::MAX),
            what: what.into(),
        }
    }
}
