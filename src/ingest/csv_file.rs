//! CSV input with a header line, from a file or stdin: cells read as text
//! by the `csv` crate (which knows the line each record starts on, quoted
//! line breaks included), then typed by the rules of [`super::infer`] from
//! the first rows and checked value by value. An empty cell is null.

use std::collections::HashSet;
use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arrow_array::builder::StringBuilder;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{Field, FieldRef, Schema, SchemaRef};
use csv::StringRecord;

use super::infer::{Evidence, Origin, convert_text};
use super::limits::{IngestLimits, Limit, OverLimit};
use super::{IngestError, InputBatch, Place, Places, Window};

/// Bytes the CSV reader may have read ahead of the record it is on (its
/// buffer), beyond a record's bound.
const READ_AHEAD: usize = 64 * 1024;

/// The input under the CSV reader, counting what it hands over since the
/// record being read began: past the bound, reading fails, so that a
/// record without an end (an unclosed quote, a 1 GiB cell) is never held
/// whole.
struct Metered<R> {
    inner: R,
    read: Arc<AtomicUsize>,
    bound: usize,
}

/// The error [`Metered`] fails with, told apart from the input's own.
#[derive(Debug)]
struct RecordTooLong;

impl std::fmt::Display for RecordTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a record is over the row limit")
    }
}

impl std::error::Error for RecordTooLong {}

impl<R: Read> Read for Metered<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.read.load(Ordering::Relaxed) > self.bound {
            return Err(std::io::Error::other(RecordTooLong));
        }
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n, Ordering::Relaxed);
        Ok(n)
    }
}

/// Batches of a CSV input.
pub struct CsvBatches<R> {
    name: String,
    reader: csv::Reader<Metered<R>>,
    /// Bytes handed to the reader since the current record began.
    read: Arc<AtomicUsize>,
    max_row_bytes: usize,
    schema: SchemaRef,
    window: Window,
    /// Records read ahead (the inference window), with their lines.
    pending: Option<Vec<(usize, StringRecord)>>,
    done: bool,
}

impl<R: Read> CsvBatches<R> {
    /// Reads the header and the first records (`window`'s rows and bytes)
    /// to infer the column types. A record (the header too) is read no
    /// further than `limits.max_row_bytes`, and the header names at most
    /// `limits.max_columns` columns.
    ///
    /// # Errors
    ///
    /// No header line, a column named twice, too many columns, a record
    /// over the row limit, or a malformed record.
    pub fn new(
        name: String,
        input: R,
        limits: &IngestLimits,
        window: Window,
    ) -> Result<Self, IngestError> {
        let read = Arc::new(AtomicUsize::new(0));
        let reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .from_reader(Metered {
                inner: input,
                read: Arc::clone(&read),
                bound: limits.max_row_bytes.saturating_add(READ_AHEAD),
            });
        let mut this = Self {
            name,
            reader,
            read,
            max_row_bytes: limits.max_row_bytes,
            schema: Arc::new(Schema::empty()),
            window: Window {
                infer_rows: window.infer_rows.max(1),
                batch_rows: window.batch_rows.max(1),
                ..window
            },
            pending: None,
            done: false,
        };
        let header = this.reader.headers().cloned();
        let header = header.map_err(|e| this.csv_error(&e))?;
        if header.len() > limits.max_columns {
            return Err(IngestError::OverLimit {
                file: this.name,
                at: Some(Place::Line(1)),
                over: OverLimit::new(
                    Limit::Columns,
                    limits.max_columns,
                    format!("the header names {} columns", header.len()),
                ),
            });
        }
        if header.is_empty() || header.iter().all(str::is_empty) {
            return Err(IngestError::BadFile {
                file: this.name,
                reason: "no header line (the first line names the columns)".into(),
            });
        }
        let mut seen = HashSet::new();
        if let Some(twice) = header.iter().find(|h| !seen.insert(*h)) {
            return Err(IngestError::BadValue {
                file: this.name.clone(),
                at: Place::Line(1),
                reason: format!("column {twice:?} is named twice in the header"),
            });
        }
        let window = this.window;
        let first = this.read_records(
            window.infer_rows.max(window.batch_rows),
            window.infer_bytes.max(window.batch_bytes),
        )?;
        let inferred_rows = window.inferred_rows(first.iter().map(|(_, r)| r.as_slice().len()));
        let window = &first[..first.len().min(inferred_rows)];
        let texts = text_columns(header.len(), window);
        let fields: Vec<FieldRef> = header
            .iter()
            .zip(&texts)
            .map(|(name, column)| {
                let mut evidence = Evidence::new(Origin::CsvCell);
                if let Some(text) = column.as_any().downcast_ref() {
                    evidence.see(text);
                }
                Arc::new(Field::new(name, evidence.data_type(), true)) as FieldRef
            })
            .collect();
        this.schema = Arc::new(Schema::new(fields));
        this.pending = Some(first);
        Ok(this)
    }

    /// The inferred schema.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn csv_error(&self, e: &csv::Error) -> IngestError {
        if let csv::ErrorKind::Io(io) = e.kind()
            && io
                .get_ref()
                .is_some_and(|inner| inner.is::<RecordTooLong>())
        {
            return self.too_long(e.position().map(|p| p.line()));
        }
        match e.position() {
            Some(p) => IngestError::BadValue {
                file: self.name.clone(),
                at: Place::Line(usize::try_from(p.line()).unwrap_or(usize::MAX)),
                reason: e.kind_text(),
            },
            None => IngestError::BadFile {
                file: self.name.clone(),
                reason: e.to_string(),
            },
        }
    }

    /// A record over the row limit, at `line` when known.
    fn too_long(&self, line: Option<u64>) -> IngestError {
        IngestError::OverLimit {
            file: self.name.clone(),
            at: line.map(|l| Place::Line(usize::try_from(l).unwrap_or(usize::MAX))),
            over: OverLimit::new(Limit::RowBytes, self.max_row_bytes, "a record is longer"),
        }
    }

    /// Reads up to `n` records, fewer once they hold `max_bytes` (at least
    /// one).
    fn read_records(
        &mut self,
        n: usize,
        max_bytes: usize,
    ) -> Result<Vec<(usize, StringRecord)>, IngestError> {
        let mut records = Vec::new();
        let mut bytes = 0usize;
        while records.len() < n && (records.is_empty() || bytes < max_bytes) {
            let mut record = StringRecord::new();
            // What the reader read ahead of this record was counted for
            // the last one: a record's count is over by at most its buffer.
            self.read.store(0, Ordering::Relaxed);
            match self.reader.read_record(&mut record) {
                Ok(true) => {
                    let line = record.position().map(|p| p.line());
                    if record.as_slice().len() > self.max_row_bytes {
                        self.done = true;
                        return Err(self.too_long(line));
                    }
                    // A field's bounds take memory too: 1,000 empty
                    // fields are no empty record.
                    bytes += record.as_slice().len() + 8 * record.len();
                    let line = line.map_or(0, |l| usize::try_from(l).unwrap_or(usize::MAX));
                    records.push((line, record));
                }
                Ok(false) => {
                    self.done = true;
                    break;
                }
                Err(e) => return Err(self.csv_error(&e)),
            }
        }
        Ok(records)
    }

    fn typed_batch(&self, records: &[(usize, StringRecord)]) -> Result<RecordBatch, IngestError> {
        let texts = text_columns(self.schema.fields().len(), records);
        let mut columns = Vec::with_capacity(texts.len());
        for (text, field) in texts.iter().zip(self.schema.fields()) {
            let converted = text
                .as_any()
                .downcast_ref()
                .map(|t| convert_text(t, field.data_type()));
            match converted {
                Some(Ok(array)) => columns.push(array),
                Some(Err(unfit)) => {
                    let line = records.get(unfit.index).map_or(0, |(line, _)| *line);
                    return Err(IngestError::BadValue {
                        file: self.name.clone(),
                        at: Place::Line(line),
                        reason: format!("column {}: {}", field.name(), unfit.reason),
                    });
                }
                None => columns.push(Arc::clone(text)),
            }
        }
        RecordBatch::try_new(Arc::clone(&self.schema), columns).map_err(|e| IngestError::BadFile {
            file: self.name.clone(),
            reason: e.to_string(),
        })
    }
}

/// The records' cells as text columns (an empty cell is null).
fn text_columns(width: usize, records: &[(usize, StringRecord)]) -> Vec<ArrayRef> {
    (0..width)
        .map(|i| {
            let mut column = StringBuilder::with_capacity(records.len(), records.len() * 8);
            for (_, record) in records {
                match record.get(i) {
                    Some(cell) if !cell.is_empty() => column.append_value(cell),
                    _ => column.append_null(),
                }
            }
            Arc::new(column.finish()) as ArrayRef
        })
        .collect()
}

trait KindText {
    fn kind_text(&self) -> String;
}

impl KindText for csv::Error {
    /// The error without the position the message names separately.
    fn kind_text(&self) -> String {
        match self.kind() {
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            } => format!("{len} fields where the header has {expected_len}"),
            csv::ErrorKind::Utf8 { .. } => "not valid UTF-8".into(),
            _ => self.to_string(),
        }
    }
}

impl<R: Read> Iterator for CsvBatches<R> {
    type Item = Result<InputBatch, IngestError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut records = match self.pending.take() {
            Some(records) => records,
            None if self.done => return None,
            None => match self.read_records(self.window.batch_rows, self.window.batch_bytes) {
                Ok(records) => records,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            },
        };
        if records.len() > self.window.batch_rows {
            self.pending = Some(records.split_off(self.window.batch_rows));
        }
        if records.is_empty() {
            return None;
        }
        Some(match self.typed_batch(&records) {
            Ok(batch) => Ok(InputBatch {
                batch,
                places: Places::Lines(records.iter().map(|(line, _)| *line).collect()),
            }),
            Err(e) => {
                self.done = true;
                self.pending = None;
                Err(e)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use arrow_schema::{DataType, TimeUnit};

    use super::*;

    fn read(text: &str) -> Result<Vec<InputBatch>, IngestError> {
        CsvBatches::new(
            "t.csv".into(),
            text.as_bytes(),
            &IngestLimits::default(),
            Window::rows(2, 2),
        )?
        .collect()
    }

    #[test]
    fn cells_are_typed_like_json_values() {
        let batches =
            read("id,at,name,zip\n1,2026-11-20T02:52:00Z,\"a, b\",007\n2,2026-11-20T03:00:00Z,,010\n3,2026-11-20T04:00:00Z,\"multi\nline\",123\n")
                .unwrap();
        let schema = batches[0].batch.schema();
        assert_eq!(schema.field(0).data_type(), &DataType::Int64);
        assert_eq!(
            schema.field(1).data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
        assert_eq!(
            schema.field(3).data_type(),
            &DataType::Utf8,
            "leading zeros are kept"
        );
        assert_eq!(batches[0].places, Places::Lines(vec![2, 3]));
        assert_eq!(
            batches[1].places,
            Places::Lines(vec![4]),
            "a record's first line"
        );
        assert!(
            batches[0].batch.column(2).is_null(1),
            "an empty cell is null"
        );
    }

    #[test]
    fn errors_name_the_line() {
        let err = read("a,b\n1,2\n3\n").unwrap_err();
        assert!(
            matches!(
                err,
                IngestError::BadValue {
                    at: Place::Line(3),
                    ..
                }
            ),
            "{err}"
        );
        let err = read("a\n1\n2\n\"x\ny\"\nz\n").unwrap_err();
        assert!(
            matches!(
                err,
                IngestError::BadValue {
                    at: Place::Line(4),
                    ..
                }
            ),
            "{err}"
        );
        let err = read("a,a\n1,2\n").unwrap_err();
        assert!(err.to_string().contains("named twice"), "{err}");
        assert!(read("").is_err());
    }
}
