//! NDJSON input: the structure of the rows inferred from the first lines
//! by `arrow-json`, every scalar decoded as its text (a number's own
//! digits), then typed by the rules of [`super::infer`] and checked value
//! by value. Errors are traced back to their line.

use std::io::BufRead;
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_json::reader::{Decoder, ReaderBuilder, infer_json_schema_from_iterator};
use arrow_schema::{ArrowError, DataType, Field, FieldRef, Schema, SchemaRef};
use serde_json::Value;

use super::infer::{Evidence, Origin, convert, text_leaves, typed};
use super::limits::{self, IngestLimits, JsonShapeFault, Line};
use super::{IngestError, InputBatch, Place, Places, Window};

mod chunks;

use chunks::{TextLine, widest_struct};

/// Batches of an NDJSON stream.
pub struct NdjsonBatches<R> {
    name: String,
    reader: R,
    /// Every scalar leaf as text (`Utf8`), booleans as booleans.
    raw: SchemaRef,
    /// The inferred types, which [`convert`] gives the raw batches.
    schema: SchemaRef,
    decoder: Option<Decoder>,
    line_no: usize,
    window: Window,
    max_row_bytes: usize,
    max_nesting: usize,
    pending: Option<Vec<TextLine>>,
    /// Leaves of the widest struct of the schema: what one JSON object
    /// below a row's top decodes to at most.
    struct_leaves: usize,
    done: bool,
}

/// The raw (text) form of an inferred type, and where each text leaf's
/// values come from, depth first.
fn raw_type(data_type: &DataType, origins: &mut Vec<Origin>) -> DataType {
    let raw_field = |f: &FieldRef, origins: &mut Vec<Origin>| -> FieldRef {
        Arc::new(Field::new(f.name(), raw_type(f.data_type(), origins), true))
    };
    match data_type {
        DataType::Int64 | DataType::Float64 => {
            origins.push(Origin::JsonNumber);
            DataType::Utf8
        }
        DataType::Boolean => DataType::Boolean,
        DataType::List(f) => DataType::List(raw_field(f, origins)),
        DataType::Struct(fields) => {
            DataType::Struct(fields.iter().map(|f| raw_field(f, origins)).collect())
        }
        // Strings, and columns null in every inferred line (text, so that
        // later values are kept as written).
        _ => {
            origins.push(Origin::JsonString);
            DataType::Utf8
        }
    }
}

impl<R: BufRead> NdjsonBatches<R> {
    /// Reads the first lines (`window`'s rows and bytes) to infer the
    /// schema. Every line is checked before it is decoded: at most
    /// `limits.max_row_bytes` bytes (reading stops there), nested at most
    /// `limits.max_nesting` levels, no object naming a key twice; the
    /// inferred columns at most `limits.max_columns`.
    ///
    /// # Errors
    ///
    /// A line that is not a JSON object or is over a limit, or a file that
    /// cannot be read.
    pub fn new(
        name: String,
        reader: R,
        limits: &IngestLimits,
        window: Window,
    ) -> Result<Self, IngestError> {
        let empty = Arc::new(Schema::empty());
        let window = Window {
            infer_rows: window.infer_rows.max(1),
            batch_rows: window.batch_rows.max(1),
            ..window
        };
        let mut this = Self {
            decoder: None,
            name,
            reader,
            raw: Arc::clone(&empty),
            schema: empty,
            line_no: 0,
            window,
            max_row_bytes: limits.max_row_bytes,
            max_nesting: limits.max_nesting,
            pending: None,
            struct_leaves: 0,
            done: false,
        };
        let first = this.read_lines(
            window.infer_rows.max(window.batch_rows),
            window.infer_bytes.max(window.batch_bytes),
        )?;
        let inferred_rows = window.inferred_rows(first.iter().map(|(_, text, _)| text.len()));
        let window_lines = &first[..first.len().min(inferred_rows)];
        // One line's value at a time: a line's value takes tens of times
        // its text (a list of small numbers), never the window's.
        let fault = std::cell::RefCell::new(None);
        let values = window_lines.iter().map(|(line, text, _)| {
            let value = if text.trim_start().starts_with('{') {
                serde_json::from_str::<Value>(text)
                    .map_err(|e| this.bad_line(*line, json_error(&e)))
                    .and_then(|v| {
                        if v.is_object() {
                            Ok(v)
                        } else {
                            Err(this.not_an_object(*line))
                        }
                    })
            } else {
                Err(this.not_an_object(*line))
            };
            value.map_err(|e| {
                *fault.borrow_mut() = Some(e);
                ArrowError::JsonError("refused".into())
            })
        });
        let inferred = infer_json_schema_from_iterator(values);
        if let Some(e) = fault.borrow_mut().take() {
            return Err(e);
        }
        let inferred = inferred.map_err(|e| IngestError::BadFile {
            file: this.name.clone(),
            reason: e.to_string(),
        })?;
        limits::check_schema(&inferred, limits)
            .map_err(|fault| IngestError::schema(this.name.clone(), fault))?;
        let mut origins = Vec::new();
        let raw_fields: Vec<FieldRef> = inferred
            .fields()
            .iter()
            .map(|f| {
                Arc::new(Field::new(
                    f.name(),
                    raw_type(f.data_type(), &mut origins),
                    true,
                )) as FieldRef
            })
            .collect();
        this.raw = Arc::new(Schema::new(raw_fields));
        this.struct_leaves = widest_struct(this.raw.fields());
        // The window once more, as text, to see every value's digits, in
        // chunks of bounded cost.
        let mut evidence: Vec<Evidence> = origins.into_iter().map(Evidence::new).collect();
        let mut rest = window_lines;
        while !rest.is_empty() {
            let take = this.chunk_len(rest)?;
            let (chunk, after) = rest.split_at(take);
            rest = after;
            let mut decoder = new_decoder(&this.name, &this.raw, chunk.len())?;
            let raw = this.decode_with(&mut decoder, chunk)?;
            let mut leaves = Vec::new();
            if let Some(raw) = raw {
                raw.columns()
                    .iter()
                    .for_each(|c| text_leaves(c, &mut leaves));
            }
            for (leaf, evidence) in leaves.iter().zip(evidence.iter_mut()) {
                if let Some(text) = leaf.as_any().downcast_ref() {
                    evidence.see(text);
                }
            }
        }
        let mut types = evidence.iter().map(Evidence::data_type);
        let fields: Vec<FieldRef> = this
            .raw
            .fields()
            .iter()
            .map(|f| {
                Arc::new(Field::new(f.name(), typed(f.data_type(), &mut types), true)) as FieldRef
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

    fn bad_line(&self, line: usize, reason: String) -> IngestError {
        IngestError::BadValue {
            file: self.name.clone(),
            at: Place::Line(line),
            reason,
        }
    }

    fn not_an_object(&self, line: usize) -> IngestError {
        let hint = if self.name == "-" {
            " (stdin is read as NDJSON; for CSV pass --format csv)"
        } else {
            ""
        };
        self.bad_line(line, format!("expected a JSON object{hint}"))
    }

    /// Reads up to `n` non-blank lines with their 1-based numbers, fewer
    /// once they hold `max_bytes` (at least one), each checked by
    /// [`limits::check_json_shape`].
    fn read_lines(&mut self, n: usize, max_bytes: usize) -> Result<Vec<TextLine>, IngestError> {
        let mut lines = Vec::new();
        let mut bytes = 0usize;
        while lines.len() < n && (lines.is_empty() || bytes < max_bytes) {
            let mut buf = Vec::new();
            let read = limits::read_line(&mut self.reader, &mut buf, self.max_row_bytes).map_err(
                |source| IngestError::Io {
                    file: self.name.clone(),
                    source,
                },
            )?;
            self.line_no += 1;
            match read {
                Line::Read(_) => {}
                Line::End => {
                    self.done = true;
                    break;
                }
                Line::TooLong => {
                    self.done = true;
                    return Err(IngestError::OverLimit {
                        file: self.name.clone(),
                        at: Some(Place::Line(self.line_no)),
                        over: limits::OverLimit::new(
                            limits::Limit::RowBytes,
                            self.max_row_bytes,
                            "the line is longer",
                        ),
                    });
                }
            }
            let mut text = String::from_utf8(buf)
                .map_err(|_| self.bad_line(self.line_no, "not valid UTF-8".into()))?;
            // A byte-order mark, as Windows tools write one, opens no object.
            if self.line_no == 1 && text.starts_with('\u{feff}') {
                text.drain(..'\u{feff}'.len_utf8());
            }
            if text.trim().is_empty() {
                continue;
            }
            if !text.trim_start().starts_with('{') {
                return Err(self.not_an_object(self.line_no));
            }
            let counts = match limits::check_json_shape(text.as_bytes(), self.max_nesting) {
                Ok(counts) => counts,
                Err(JsonShapeFault::TooDeep(over)) => {
                    return Err(IngestError::OverLimit {
                        file: self.name.clone(),
                        at: Some(Place::Line(self.line_no)),
                        over,
                    });
                }
                Err(JsonShapeFault::Syntax(_)) => {
                    // Said as serde_json says it, placed by its column.
                    let reason = match serde_json::from_str::<serde::de::IgnoredAny>(&text) {
                        Err(e) if !e.to_string().contains("trailing characters") => json_error(&e),
                        _ => "more than one JSON object on the line".into(),
                    };
                    return Err(self.bad_line(self.line_no, reason));
                }
                Err(fault) => return Err(self.bad_line(self.line_no, fault.to_string())),
            };
            bytes += text.len();
            lines.push((self.line_no, text, counts));
        }
        Ok(lines)
    }

    /// Decodes lines into a raw (text) batch, naming the line of an error.
    fn decode_with(
        &self,
        decoder: &mut Decoder,
        chunk: &[TextLine],
    ) -> Result<Option<RecordBatch>, IngestError> {
        for (line, text, _) in chunk {
            let trimmed = text.trim();
            if !trimmed.starts_with('{') {
                return Err(self.not_an_object(*line));
            }
            let before = decoder.len();
            let read = decoder
                .decode(trimmed.as_bytes())
                .map_err(|e| self.bad_line(*line, e.to_string()))?;
            // One line, one object: rows are named by their lines.
            if read != trimmed.len() || decoder.len() != before + 1 {
                return Err(self.bad_line(*line, "more than one JSON object on the line".into()));
            }
            if decoder.has_partial_record() {
                return Err(self.bad_line(*line, "the JSON object does not end on its line".into()));
            }
        }
        match decoder.flush() {
            Ok(batch) => Ok(batch),
            Err(e) => Err(self.locate(chunk, &e.to_string())),
        }
    }

    /// Finds the line of a chunk whose values do not fit the structure.
    fn locate(&self, chunk: &[TextLine], reason: &str) -> IngestError {
        for (line, text, _) in chunk {
            let Ok(mut decoder) = new_decoder(&self.name, &self.raw, 1) else {
                break;
            };
            let failed = decoder.decode(text.trim().as_bytes()).err();
            let failed = failed.or_else(|| decoder.flush().err());
            if let Some(e) = failed {
                let text = e.to_string();
                let reason = match text
                    .split_once("column '")
                    .and_then(|(_, rest)| rest.split_once("' missing from schema"))
                {
                    // Strict: a column the first lines lack would be lost.
                    Some((column, _)) => format!(
                        "column {column:?} is not among the columns of the first lines, which the columns and their types are inferred from (at most {} lines or {} bytes): give it in the first line (null will do) or in a part of its own",
                        self.window.infer_rows, self.window.infer_bytes
                    ),
                    None => format!("{text} (the structure was inferred from the first lines)"),
                };
                return self.bad_line(*line, reason);
            }
        }
        IngestError::BadFile {
            file: self.name.clone(),
            reason: reason.to_owned(),
        }
    }

    /// Types a raw batch, naming the line of a value that does not fit.
    fn typed_batch(
        &self,
        raw: &RecordBatch,
        chunk: &[TextLine],
    ) -> Result<RecordBatch, IngestError> {
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(raw.num_columns());
        for (column, field) in raw.columns().iter().zip(self.schema.fields()) {
            match convert(column, field.data_type()) {
                Ok(array) => columns.push(array),
                Err(unfit) => {
                    // Which row: convert them one at a time (taken, not
                    // sliced: a slice of a list keeps all its values).
                    let row = (0..column.len())
                        .find(|i| {
                            let index = arrow_array::UInt32Array::from(vec![
                                u32::try_from(*i).unwrap_or(u32::MAX),
                            ]);
                            arrow_select::take::take(column.as_ref(), &index, None)
                                .map_or(true, |one| convert(&one, field.data_type()).is_err())
                        })
                        .unwrap_or(0);
                    let line = chunk.get(row).map_or(0, |(line, _, _)| *line);
                    return Err(
                        self.bad_line(line, format!("column {}: {}", field.name(), unfit.reason))
                    );
                }
            }
        }
        RecordBatch::try_new(Arc::clone(&self.schema), columns).map_err(|e| IngestError::BadFile {
            file: self.name.clone(),
            reason: e.to_string(),
        })
    }
}

/// A JSON syntax error of one line, placed by its column (the line is
/// named apart, and serde's own line count is always 1).
fn json_error(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let reason = text
        .rfind(" at line ")
        .map_or(text.as_str(), |at| &text[..at]);
    format!("{reason} (column {})", e.column())
}

fn new_decoder(name: &str, schema: &SchemaRef, batch_rows: usize) -> Result<Decoder, IngestError> {
    ReaderBuilder::new(Arc::clone(schema))
        .with_batch_size(batch_rows.max(1))
        // Numbers are read as their text, to be typed without loss; a
        // number where text was inferred is kept as text.
        .with_coerce_primitive(true)
        // A key past the first lines' columns is refused, not dropped.
        .with_strict_mode(true)
        .build_decoder()
        .map_err(|e| IngestError::BadFile {
            file: name.to_owned(),
            reason: e.to_string(),
        })
}

impl<R: BufRead> Iterator for NdjsonBatches<R> {
    type Item = Result<InputBatch, IngestError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let mut chunk = match self.pending.take() {
                Some(lines) => lines,
                None if self.done => return None,
                None => match self.read_lines(self.window.batch_rows, self.window.batch_bytes) {
                    Ok(lines) => lines,
                    Err(e) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                },
            };
            if chunk.is_empty() {
                continue;
            }
            // A batch's rows, fewer when what they decode to is costly
            // (the inference window can also be larger than a batch).
            let take = match self.chunk_len(&chunk) {
                Ok(take) => take.min(self.window.batch_rows),
                Err(e) => {
                    self.done = true;
                    self.pending = None;
                    return Some(Err(e));
                }
            };
            if chunk.len() > take {
                let rest = chunk.split_off(take);
                self.pending = Some(match self.pending.take() {
                    Some(mut later) => {
                        let mut rest = rest;
                        rest.append(&mut later);
                        rest
                    }
                    None => rest,
                });
            }
            let mut decoder = match self.decoder.take() {
                Some(d) => d,
                None => match new_decoder(&self.name, &self.raw, self.window.batch_rows) {
                    Ok(d) => d,
                    Err(e) => return Some(Err(e)),
                },
            };
            let decoded = self
                .decode_with(&mut decoder, &chunk)
                .and_then(|raw| raw.map(|raw| self.typed_batch(&raw, &chunk)).transpose());
            self.decoder = Some(decoder);
            match decoded {
                Ok(Some(batch)) => {
                    let places = Places::Lines(chunk.iter().map(|(line, _, _)| *line).collect());
                    return Some(Ok(InputBatch { batch, places }));
                }
                Ok(None) => {}
                Err(e) => {
                    self.done = true;
                    self.pending = None;
                    return Some(Err(e));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::cast::AsArray;

    use super::*;

    fn read(text: &str) -> Result<Vec<InputBatch>, IngestError> {
        NdjsonBatches::new(
            "t.ndjson".into(),
            text.as_bytes(),
            &IngestLimits::default(),
            Window::rows(2, 2),
        )?
        .collect()
    }

    fn line_of(err: &IngestError) -> Option<usize> {
        match err {
            IngestError::BadValue {
                at: Place::Line(line),
                ..
            } => Some(*line),
            _ => None,
        }
    }

    #[test]
    fn rows_are_read_in_batches() {
        let batches = read("{\"a\":1}\n\n{\"a\":2,\"b\":\"x\"}\n{\"a\":3}\n").unwrap();
        let rows: usize = batches.iter().map(|b| b.batch.num_rows()).sum();
        assert_eq!(rows, 3);
        assert_eq!(batches[0].batch.num_columns(), 2);
        assert_eq!(batches[0].places, Places::Lines(vec![1, 3]));
        assert_eq!(batches[1].places, Places::Lines(vec![4]));
    }

    #[test]
    fn errors_name_the_line() {
        let err = read("{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n{\"a\":\n").unwrap_err();
        assert_eq!(line_of(&err), Some(4), "{err}");
        let err = read("{\"a\":1}\n{\"a\":2}\n{\"a\":{\"x\":1}}\n").unwrap_err();
        assert_eq!(line_of(&err), Some(3), "{err}");
        let err = read("PAR1\u{0}\u{1}garbage").unwrap_err();
        assert_eq!(line_of(&err), Some(1), "{err}");
        let err = read("[1,2]\n").unwrap_err();
        assert!(err.to_string().contains("expected a JSON object"), "{err}");
        let err = read("{\"a\":1}\n{\"a\":2}\n\n{\"a\":1.5}\n").unwrap_err();
        assert_eq!(line_of(&err), Some(4), "{err}");
        assert!(err.to_string().contains("64-bit integer"), "{err}");
        // Inside a list, past the inferred rows.
        let err =
            read("{\"xs\":[1]}\n{\"xs\":[2]}\n{\"xs\":[3]}\n{\"xs\":[4, 1.5]}\n").unwrap_err();
        assert_eq!(line_of(&err), Some(4), "{err}");
        let err = read("{\"a\":1}\n{\"a\":2}\n{\"a\":3}{\"a\":4}\n").unwrap_err();
        assert_eq!(line_of(&err), Some(3), "{err}");
        let err = read("{\"a\":1}\n{\"a\":2}\n{\"a\":\n3}\n").unwrap_err();
        assert_eq!(line_of(&err), Some(3), "{err}");
    }

    #[test]
    fn a_byte_order_mark_and_crlf_are_read_through() {
        let batches = read("\u{feff}{\"a\":1}\r\n{\"a\":2}\r\n").unwrap();
        assert_eq!(batches[0].batch.num_rows(), 2);
        assert_eq!(batches[0].batch.schema().field(0).name(), "a");
    }

    #[test]
    fn integers_past_i64_are_kept_exactly() {
        let text = "{\"n\":1,\"span_id\":18446744073709551615}\n{\"n\":2,\"span_id\":9223372036854775808}\n{\"n\":3,\"span_id\":12345678901234567890}\n{\"n\":4,\"span_id\":17}\n";
        let batches: Vec<InputBatch> = NdjsonBatches::new(
            "t".into(),
            text.as_bytes(),
            &IngestLimits::default(),
            Window::default(),
        )
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
        let batch = &batches[0].batch;
        assert_eq!(batch.schema().field(1).data_type(), &DataType::UInt64);
        let ids = batch
            .column(1)
            .as_primitive::<arrow_array::types::UInt64Type>();
        assert_eq!(
            ids.values().to_vec(),
            vec![
                u64::MAX,
                9_223_372_036_854_775_808,
                12_345_678_901_234_567_890,
                17
            ]
        );
    }

    #[test]
    fn nested_numbers_are_typed_too() {
        let text = "{\"a\":{\"big\":18446744073709551616,\"xs\":[0.1,2]}}\n";
        let batches: Vec<InputBatch> = NdjsonBatches::new(
            "t".into(),
            text.as_bytes(),
            &IngestLimits::default(),
            Window::rows(10, 10),
        )
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
        let rows = crate::artifacts::json_values::batch_to_rows(&batches[0].batch);
        assert_eq!(
            serde_json::Value::Object(rows[0].clone()),
            serde_json::json!({"a": {"big": "18446744073709551616", "xs": [0.1, 2.0]}})
        );
    }
}
