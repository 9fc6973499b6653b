//! Parquet input: the file's own schema, read in batches, with the same
//! exact types as the read service ([`TypedFooter`]: INT96 timestamps,
//! intervals, UUIDs...).
//!
//! What a footer declares is checked before it is read (its length, the
//! columns and their nesting, each row group's place in the file), and
//! each row group is read in batches of as many rows as its declared bytes
//! allow. What a footer cannot bound (a page header that lies, a value
//! repeated by its dictionary) is bounded by reading a part's file in a
//! decoder process of its own under a memory limit ([`super::decoder`]).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::file::metadata::ParquetMetaDataReader;

use super::limits::{self, IngestLimits, Limit, OverLimit};
use super::{BATCH_ROWS, IngestError, InputBatch, Places};
use crate::artifacts::parquet_types::TypedFooter;

/// Batches of a Parquet file, in the file's types, a row group at a time.
pub struct ParquetBatches {
    name: String,
    file: File,
    footer: TypedFooter,
    /// The row groups still to read.
    groups: std::ops::Range<usize>,
    reader: Option<ParquetRecordBatchReader>,
    rows_read: u64,
    failed: bool,
}

/// Rows of a batch of row group `group`: [`BATCH_ROWS`] at most, fewer
/// when its rows are wide as decoded ([`decoded_bytes`]), so that a batch
/// holds about [`limits::BATCH_BYTES`].
pub fn batch_rows(metadata: &parquet::file::metadata::ParquetMetaData, group: usize) -> usize {
    let Some(rg) = metadata.row_groups().get(group) else {
        return BATCH_ROWS;
    };
    let rows = u64::try_from(rg.num_rows()).unwrap_or(0).max(1);
    let bytes = decoded_bytes(rg).max(1);
    let fit = (limits::BATCH_BYTES as u64).saturating_mul(rows) / bytes;
    usize::try_from(fit)
        .unwrap_or(BATCH_ROWS)
        .clamp(1, BATCH_ROWS)
}

/// Bytes a row group takes decoded, as far as its footer tells: a text
/// or binary column's plain bytes where the writer recorded them
/// (`unencoded_byte_array_data_bytes`, which the `parquet` crate and
/// recent writers record: a dictionary's value counts once per row then,
/// where the encoded size counts it once), fixed-width columns by their
/// width, else the encoded size. Not a bound on a hostile file (the footer
/// says what it likes: parts are decoded in a process of their own), but
/// true for honest ones.
pub fn decoded_bytes(rg: &parquet::file::metadata::RowGroupMetaData) -> u64 {
    use parquet::basic::Type;
    rg.columns()
        .iter()
        .map(|c| {
            let values = u64::try_from(c.num_values()).unwrap_or(0);
            let encoded = u64::try_from(c.uncompressed_size()).unwrap_or(0);
            let plain = match c.column_type() {
                Type::BYTE_ARRAY => c
                    .unencoded_byte_array_data_bytes()
                    .map_or(0, |b| u64::try_from(b).unwrap_or(0))
                    .saturating_add(values.saturating_mul(4)),
                Type::FIXED_LEN_BYTE_ARRAY => values
                    .saturating_mul(u64::try_from(c.column_descr().type_length()).unwrap_or(0)),
                Type::BOOLEAN => values / 8 + 1,
                Type::INT32 | Type::FLOAT => values.saturating_mul(4),
                Type::INT64 | Type::DOUBLE => values.saturating_mul(8),
                Type::INT96 => values.saturating_mul(12),
            };
            plain.max(encoded)
        })
        .fold(0u64, u64::saturating_add)
}

impl ParquetBatches {
    /// The batches' schema.
    pub fn schema(&self) -> &arrow_schema::SchemaRef {
        self.footer.schema()
    }

    fn open_group(&mut self, group: usize) -> Result<ParquetRecordBatchReader, IngestError> {
        let file = self.file.try_clone().map_err(|source| IngestError::Io {
            file: self.name.clone(),
            source,
        })?;
        ParquetRecordBatchReaderBuilder::new_with_metadata(file, self.footer.reader().clone())
            .with_row_groups(vec![group])
            .with_batch_size(batch_rows(self.footer.metadata(), group))
            .build()
            .map_err(|e| IngestError::BadFile {
                file: self.name.clone(),
                reason: format!("not a readable Parquet file ({e})"),
            })
    }
}

impl Iterator for ParquetBatches {
    type Item = Result<InputBatch, IngestError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.failed {
                return None;
            }
            let reader = match &mut self.reader {
                Some(reader) => reader,
                None => {
                    let group = self.groups.next()?;
                    match self.open_group(group) {
                        Ok(reader) => self.reader.insert(reader),
                        Err(e) => {
                            self.failed = true;
                            return Some(Err(e));
                        }
                    }
                }
            };
            let Some(batch) = reader.next() else {
                self.reader = None;
                continue;
            };
            let batch = batch.and_then(|b| self.footer.convert(b));
            return Some(match batch {
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
            });
        }
    }
}

/// Opens the file: its footer read and checked against `limits` (the
/// footer's own length at most [`IngestLimits::max_batch_bytes`], the
/// columns and nesting, no column named twice, row groups inside the
/// file).
///
/// # Errors
///
/// When it is not Parquet, or is over a limit.
pub fn open_parquet(
    name: String,
    mut file: File,
    limits: &IngestLimits,
) -> Result<ParquetBatches, IngestError> {
    let not_parquet = |e: parquet::errors::ParquetError| IngestError::BadFile {
        file: name.clone(),
        reason: format!("not a readable Parquet file ({e})"),
    };
    let io = |source| IngestError::Io {
        file: name.clone(),
        source,
    };
    let file_len = file.metadata().map_err(io)?.len();
    // The footer's length is the 4 bytes before the closing `PAR1`.
    if file_len >= 8 {
        let mut tail = [0u8; 8];
        file.seek(SeekFrom::End(-8)).map_err(io)?;
        file.read_exact(&mut tail).map_err(io)?;
        let footer_len = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]) as usize;
        // Only a footer that is there counts (else the parser says what
        // the file is not).
        let there = &tail[4..] == b"PAR1" && (footer_len as u64) <= file_len - 8;
        if there && footer_len > limits.max_batch_bytes {
            return Err(IngestError::OverLimit {
                file: name,
                at: None,
                over: OverLimit::new(
                    Limit::BatchBytes,
                    limits.max_batch_bytes,
                    format!("the Parquet footer is {footer_len} bytes"),
                ),
            });
        }
    }
    let metadata = ParquetMetaDataReader::new()
        .parse_and_finish(&file)
        .map_err(not_parquet)?;
    // A column chunk outside the file makes the reader assert.
    for (group, rg) in metadata.row_groups().iter().enumerate() {
        let outside = rg.num_rows() < 0
            || rg.columns().iter().any(|c| {
                let start = c.dictionary_page_offset().unwrap_or(c.data_page_offset());
                let len = c.compressed_size();
                start < 0
                    || len < 0
                    || u64::try_from(start.saturating_add(len)).map_or(true, |end| end > file_len)
            });
        if outside {
            return Err(IngestError::BadFile {
                file: name,
                reason: format!("row group {group} lies outside the file"),
            });
        }
    }
    let footer = TypedFooter::new(metadata).map_err(not_parquet)?;
    limits::check_schema(footer.schema(), limits)
        .map_err(|fault| IngestError::schema(name.clone(), fault))?;
    let groups = 0..footer.metadata().num_row_groups();
    Ok(ParquetBatches {
        name,
        file,
        footer,
        groups,
        reader: None,
        rows_read: 0,
        failed: false,
    })
}
