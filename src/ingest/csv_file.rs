//! CSV input with a header line, from a file or stdin: cells read as text
//! by the `csv` crate (which knows the line each record starts on, quoted
//! line breaks included), then typed by the rules of [`super::infer`] from
//! the first rows and checked value by value. An empty cell is null.

use std::collections::HashSet;
use std::io::Read;
use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{Field, FieldRef, Schema, SchemaRef};
use csv::StringRecord;

use super::infer::{Evidence, Origin, convert_text};
use super::{IngestError, InputBatch, Place, Places};

/// Batches of a CSV input.
pub struct CsvBatches<R> {
    name: String,
    reader: csv::Reader<R>,
    schema: SchemaRef,
    batch_rows: usize,
    /// Records read ahead (the inference window), with their lines.
    pending: Option<Vec<(usize, StringRecord)>>,
    done: bool,
}

impl<R: Read> CsvBatches<R> {
    /// Reads the header and the first `infer_rows` records to infer the
    /// column types.
    ///
    /// # Errors
    ///
    /// No header line, a column named twice, or a malformed record.
    pub fn new(
        name: String,
        input: R,
        infer_rows: usize,
        batch_rows: usize,
    ) -> Result<Self, IngestError> {
        let reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .from_reader(input);
        let mut this = Self {
            name,
            reader,
            schema: Arc::new(Schema::empty()),
            batch_rows: batch_rows.max(1),
            pending: None,
            done: false,
        };
        let header = this.reader.headers().cloned();
        let header = header.map_err(|e| this.csv_error(&e))?;
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
        let first = this.read_records(infer_rows.max(batch_rows))?;
        let window = &first[..first.len().min(infer_rows.max(1))];
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

    fn read_records(&mut self, n: usize) -> Result<Vec<(usize, StringRecord)>, IngestError> {
        let mut records = Vec::new();
        while records.len() < n {
            let mut record = StringRecord::new();
            match self.reader.read_record(&mut record) {
                Ok(true) => {
                    let line = record
                        .position()
                        .map_or(0, |p| usize::try_from(p.line()).unwrap_or(usize::MAX));
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
            None => match self.read_records(self.batch_rows) {
                Ok(records) => records,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            },
        };
        if records.len() > self.batch_rows {
            self.pending = Some(records.split_off(self.batch_rows));
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
        CsvBatches::new("t.csv".into(), text.as_bytes(), 2, 2)?.collect()
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
