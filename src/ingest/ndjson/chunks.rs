//! How many lines of NDJSON are decoded at once: as many as hold a
//! bounded number of values decoded, counted from each line's shape (a
//! line of empty objects in a list of a wide struct decodes to far more
//! than its bytes).

use std::io::BufRead;

use arrow_schema::DataType;

use super::NdjsonBatches;
use crate::ingest::{IngestError, Place, limits};

/// A line: its 1-based number, its text, and what it holds.
pub(super) type TextLine = (usize, String, limits::JsonCounts);

/// Values one decoded chunk may hold at most (about 8 bytes each, and
/// what the decoder keeps of each): a line of 350,000 empty objects in a
/// list of a 1,000-field struct decodes to 350 million.
const CHUNK_CELLS: u64 = 2 * 1024 * 1024;

/// Leaves of the widest struct anywhere in `fields` (0 without one).
pub(super) fn widest_struct(fields: &arrow_schema::Fields) -> usize {
    fields
        .iter()
        .map(|f| struct_width(f.data_type()))
        .max()
        .unwrap_or(0)
}

fn struct_width(data_type: &DataType) -> usize {
    match data_type {
        DataType::Struct(fields) => {
            let own: usize = fields.iter().map(|f| limits::leaves(f.data_type())).sum();
            own.max(widest_struct(fields))
        }
        DataType::List(f) | DataType::LargeList(f) => struct_width(f.data_type()),
        _ => 0,
    }
}

impl<R: BufRead> NdjsonBatches<R> {
    /// How many of `lines`' first lines to decode at once: as many as
    /// hold at most [`CHUNK_CELLS`] values decoded, at least one.
    ///
    /// # Errors
    ///
    /// [`IngestError::OverLimit`] for a line that alone decodes to more
    /// than a row may (sixteen times the row limit, at 8 bytes a value).
    pub(super) fn chunk_len(&self, lines: &[TextLine]) -> Result<usize, IngestError> {
        let most = (self.max_row_bytes as u64).saturating_mul(16) / 8;
        let mut cells = 0u64;
        for (at, (line, _, counts)) in lines.iter().enumerate() {
            let own = counts.cells(self.struct_leaves);
            if own > most {
                return Err(IngestError::OverLimit {
                    file: self.name.clone(),
                    at: Some(Place::Line(*line)),
                    over: limits::OverLimit::new(
                        limits::Limit::RowBytes,
                        self.max_row_bytes,
                        format!("the line decodes to {own} values"),
                    ),
                });
            }
            if at > 0 && cells.saturating_add(own) > CHUNK_CELLS {
                return Ok(at);
            }
            cells = cells.saturating_add(own);
        }
        Ok(lines.len().max(1))
    }
}
