//! NDJSON input: the schema inferred from the first lines, then decoded in
//! chunks with `arrow-json`. Errors are traced back to their line: a chunk
//! that fails is decoded again line by line to find the culprit.

use std::io::BufRead;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_json::reader::{Decoder, ReaderBuilder, infer_json_schema_from_iterator};
use arrow_schema::{ArrowError, Schema, SchemaRef};
use serde_json::Value;

use super::IngestError;

/// Batches of an NDJSON stream.
pub struct NdjsonBatches<R> {
    name: String,
    reader: R,
    schema: SchemaRef,
    decoder: Decoder,
    line_no: usize,
    batch_rows: usize,
    pending: Option<Vec<(usize, String)>>,
    done: bool,
}

impl<R: BufRead> NdjsonBatches<R> {
    /// Reads the first `infer_rows` lines to infer the schema.
    pub fn new(
        name: String,
        reader: R,
        infer_rows: usize,
        batch_rows: usize,
    ) -> Result<Self, IngestError> {
        let mut this = Self {
            name,
            reader,
            schema: Arc::new(Schema::empty()),
            decoder: ReaderBuilder::new(Arc::new(Schema::empty()))
                .build_decoder()
                .map_err(|e| IngestError::BadFile {
                    file: String::new(),
                    reason: e.to_string(),
                })?,
            line_no: 0,
            batch_rows: batch_rows.max(1),
            pending: None,
            done: false,
        };
        let first = this.read_lines(infer_rows.max(batch_rows))?;
        let mut values = Vec::with_capacity(first.len().min(infer_rows));
        for (line, text) in first.iter().take(infer_rows) {
            let value: Value =
                serde_json::from_str(text).map_err(|e| this.bad_line(*line, e.to_string()))?;
            if !value.is_object() {
                return Err(this.bad_line(*line, "expected a JSON object".into()));
            }
            values.push(value);
        }
        let schema = infer_json_schema_from_iterator(values.iter().map(Ok::<_, ArrowError>))
            .map_err(|e| IngestError::BadFile {
                file: this.name.clone(),
                reason: e.to_string(),
            })?;
        this.schema = Arc::new(schema);
        this.decoder = this.new_decoder()?;
        this.pending = Some(first);
        Ok(this)
    }

    /// The inferred schema.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn new_decoder(&self) -> Result<Decoder, IngestError> {
        ReaderBuilder::new(Arc::clone(&self.schema))
            .with_batch_size(self.batch_rows)
            // A number where a string was inferred is kept as text.
            .with_coerce_primitive(true)
            .build_decoder()
            .map_err(|e| IngestError::BadFile {
                file: self.name.clone(),
                reason: e.to_string(),
            })
    }

    fn bad_line(&self, line: usize, reason: String) -> IngestError {
        IngestError::BadLine {
            file: self.name.clone(),
            line,
            reason,
        }
    }

    /// Reads up to `n` non-blank lines with their 1-based numbers.
    fn read_lines(&mut self, n: usize) -> Result<Vec<(usize, String)>, IngestError> {
        let mut lines = Vec::new();
        while lines.len() < n {
            let mut buf = Vec::new();
            let read =
                self.reader
                    .read_until(b'\n', &mut buf)
                    .map_err(|source| IngestError::Io {
                        file: self.name.clone(),
                        source,
                    })?;
            if read == 0 {
                self.done = true;
                break;
            }
            self.line_no += 1;
            let text = String::from_utf8(buf)
                .map_err(|_| self.bad_line(self.line_no, "not valid UTF-8".into()))?;
            if !text.trim().is_empty() {
                lines.push((self.line_no, text));
            }
        }
        Ok(lines)
    }

    fn decode(&mut self, chunk: &[(usize, String)]) -> Result<Option<RecordBatch>, IngestError> {
        let attempt = (|| -> Result<Option<RecordBatch>, (Option<usize>, ArrowError)> {
            for (line, text) in chunk {
                let trimmed = text.trim();
                if !trimmed.starts_with('{') {
                    return Err((
                        Some(*line),
                        ArrowError::JsonError("expected a JSON object".into()),
                    ));
                }
                self.decoder
                    .decode(trimmed.as_bytes())
                    .map_err(|e| (Some(*line), e))?;
            }
            self.decoder.flush().map_err(|e| (None, e))
        })();
        match attempt {
            Ok(batch) => Ok(batch),
            Err((Some(line), e)) => Err(self.bad_line(line, e.to_string())),
            Err((None, e)) => Err(self.locate(chunk, e)),
        }
    }

    /// Finds the line of a chunk whose values do not fit the schema.
    fn locate(&self, chunk: &[(usize, String)], error: ArrowError) -> IngestError {
        for (line, text) in chunk {
            let Ok(mut decoder) = self.new_decoder() else {
                break;
            };
            let failed =
                decoder.decode(text.trim().as_bytes()).is_err() || decoder.flush().is_err();
            if failed {
                let reason = match decoder.flush() {
                    Err(e) => e.to_string(),
                    Ok(_) => error.to_string(),
                };
                return self.bad_line(
                    *line,
                    format!("{reason} (the schema was inferred from the first lines)"),
                );
            }
        }
        IngestError::BadFile {
            file: self.name.clone(),
            reason: error.to_string(),
        }
    }
}

impl<R: BufRead> Iterator for NdjsonBatches<R> {
    type Item = Result<RecordBatch, IngestError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let mut chunk = match self.pending.take() {
                Some(lines) => lines,
                None if self.done => return None,
                None => match self.read_lines(self.batch_rows) {
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
            if chunk.len() > self.batch_rows {
                // The inference window can be larger than a batch.
                self.pending = Some(chunk.split_off(self.batch_rows));
            }
            match self.decode(&chunk) {
                Ok(Some(batch)) => return Some(Ok(batch)),
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
    use super::*;

    fn read(text: &str) -> Result<Vec<RecordBatch>, IngestError> {
        NdjsonBatches::new("t.ndjson".into(), text.as_bytes(), 2, 2)?.collect()
    }

    #[test]
    fn rows_are_read_in_batches() {
        let batches = read("{\"a\":1}\n\n{\"a\":2,\"b\":\"x\"}\n{\"a\":3}\n").unwrap();
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        assert_eq!(rows, 3);
        assert_eq!(batches[0].num_columns(), 2);
    }

    #[test]
    fn errors_name_the_line() {
        let err = read("{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n{\"a\":\n").unwrap_err();
        assert!(matches!(err, IngestError::BadLine { line: 4, .. }), "{err}");
        let err = read("{\"a\":1}\n{\"a\":2}\n{\"a\":{\"x\":1}}\n").unwrap_err();
        assert!(matches!(err, IngestError::BadLine { line: 3, .. }), "{err}");
        let err = read("PAR1\u{0}\u{1}garbage").unwrap_err();
        assert!(matches!(err, IngestError::BadLine { line: 1, .. }), "{err}");
        let err = read("[1,2]\n").unwrap_err();
        assert!(err.to_string().contains("expected a JSON object"), "{err}");
    }
}
