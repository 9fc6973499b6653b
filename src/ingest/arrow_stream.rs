//! Arrow IPC streams (a part sent as `application/vnd.apache.arrow.stream`,
//! and what a Parquet decoder process hands back), read a message at a
//! time with every size it declares checked before anything is allocated
//! for it.
//!
//! Why the framing is read here and not by `arrow-ipc`'s `StreamReader`:
//! that reader allocates a compressed buffer's decompressed size as its
//! 8-byte prefix declares it (33 bytes can ask for terabytes) and has no
//! bound on a message's size or a stream's dictionaries. The framing is a
//! few fields (continuation marker, metadata length, the flatbuffer
//! `Message`, its body); the message itself is parsed and verified by
//! `arrow-ipc`'s generated code, and the checked messages are then read by
//! its `StreamReader`.

use std::io::Read;
use std::sync::{Arc, Mutex};

use arrow_ipc::reader::StreamReader;
use arrow_ipc::{CompressionType, MessageHeader};

use super::limits::{self, IngestLimits, Limit, OverLimit};
use super::{IngestError, InputBatch, Places};

/// Bytes of one message's metadata (its flatbuffer header) at most: a
/// schema of thousands of columns takes a few hundred kilobytes.
const MAX_METADATA_BYTES: usize = 16 * 1024 * 1024;

/// What marks a message's length since Arrow 0.15.
const CONTINUATION: [u8; 4] = [0xff; 4];

/// Batches of an Arrow IPC stream, each row's place its 1-based row number.
pub struct ArrowStreamBatches<R: Read> {
    name: String,
    reader: StreamReader<Checked<R>>,
    /// What [`Checked`] refused, told apart from the decoder's errors.
    fault: Arc<Mutex<Option<IngestError>>>,
    rows_read: u64,
    done: bool,
}

impl<R: Read> ArrowStreamBatches<R> {
    /// Reads the stream's schema (its first message) and checks it
    /// ([`limits::check_schema`]).
    ///
    /// # Errors
    ///
    /// [`IngestError::BadFile`] when the stream does not start with a
    /// schema or names a column twice; [`IngestError::OverLimit`] for too
    /// many columns or levels, or a message over its bound.
    pub fn new(name: String, reader: R, limits: &IngestLimits) -> Result<Self, IngestError> {
        let fault = Arc::new(Mutex::new(None));
        let checked = Checked {
            name: name.clone(),
            reader,
            limits: limits.clone(),
            message: std::io::Cursor::new(Vec::new()),
            rows_read: 0,
            dictionary_bytes: std::collections::HashMap::new(),
            fault: Arc::clone(&fault),
        };
        let reader = StreamReader::try_new(checked, None).map_err(|e| {
            take_fault(&fault).unwrap_or_else(|| IngestError::BadFile {
                file: name.clone(),
                reason: format!("not an Arrow IPC stream ({e})"),
            })
        })?;
        limits::check_schema(&reader.schema(), limits)
            .map_err(|fault| IngestError::schema(name.clone(), fault))?;
        Ok(Self {
            name,
            reader,
            fault,
            rows_read: 0,
            done: false,
        })
    }
}

fn take_fault(fault: &Mutex<Option<IngestError>>) -> Option<IngestError> {
    fault.lock().ok().and_then(|mut f| f.take())
}

/// The stream's bytes, a message at a time, each handed on only once its
/// declared sizes are checked.
struct Checked<R> {
    name: String,
    reader: R,
    limits: IngestLimits,
    /// The message being handed on.
    message: std::io::Cursor<Vec<u8>>,
    /// Rows of the batches handed on (for messages).
    rows_read: u64,
    /// Bytes of the dictionaries the decoder holds, by id.
    dictionary_bytes: std::collections::HashMap<i64, usize>,
    fault: Arc<Mutex<Option<IngestError>>>,
}

impl<R: Read> Read for Checked<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.message.position() >= self.message.get_ref().len() as u64 {
            match self.next_message() {
                Ok(Some(message)) => self.message = std::io::Cursor::new(message),
                // The decoder takes the input's end as the stream's.
                Ok(None) => return Ok(0),
                Err(e) => {
                    let text = e.to_string();
                    if let Ok(mut fault) = self.fault.lock() {
                        *fault = Some(e);
                    }
                    return Err(std::io::Error::other(text));
                }
            }
        }
        self.message.read(buf)
    }
}

impl<R: Read> Checked<R> {
    fn bad(&self, reason: String) -> IngestError {
        IngestError::BadFile {
            file: self.name.clone(),
            reason,
        }
    }

    fn over(&self, limit: Limit, bound: usize, what: String) -> IngestError {
        IngestError::OverLimit {
            file: self.name.clone(),
            at: None,
            over: OverLimit::new(limit, bound, what),
        }
    }

    fn io(&self, source: std::io::Error) -> IngestError {
        // A body cut short reads as a stream that ends mid-message.
        if source.kind() == std::io::ErrorKind::UnexpectedEof {
            return self.bad(format!(
                "the stream ends inside a message (after row {})",
                self.rows_read
            ));
        }
        IngestError::Io {
            file: self.name.clone(),
            source,
        }
    }

    /// The next message, framed as the decoder takes it (marker, length,
    /// metadata, body), once its declared sizes are checked; `None` at the
    /// end of the stream.
    fn next_message(&mut self) -> Result<Option<Vec<u8>>, IngestError> {
        let mut word = [0u8; 4];
        match read_full(&mut self.reader, &mut word) {
            Ok(0) => return Ok(None),
            Ok(4) => {}
            Ok(_) => return Err(self.bad("the stream ends inside a message".into())),
            Err(e) => return Err(self.io(e)),
        }
        if word == CONTINUATION {
            self.reader.read_exact(&mut word).map_err(|e| self.io(e))?;
        }
        let metadata_len = u32::from_le_bytes(word) as usize;
        if metadata_len == 0 {
            return Ok(None);
        }
        if metadata_len > MAX_METADATA_BYTES {
            return Err(self.bad(format!(
                "a message's header is {metadata_len} bytes, over the {MAX_METADATA_BYTES} this server reads"
            )));
        }
        let mut framed = Vec::new();
        framed
            .try_reserve_exact(8 + metadata_len)
            .map_err(|e| self.bad(e.to_string()))?;
        framed.extend_from_slice(&CONTINUATION);
        framed.extend_from_slice(&word);
        framed.resize(8 + metadata_len, 0);
        self.reader
            .read_exact(&mut framed[8..])
            .map_err(|e| self.io(e))?;
        let (body_len, batch_rows, dictionary) = {
            let message = arrow_ipc::root_as_message(&framed[8..])
                .map_err(|e| self.bad(format!("not an Arrow IPC message ({e})")))?;
            let body_len = usize::try_from(message.bodyLength())
                .map_err(|_| self.bad("a message's body length is negative".into()))?;
            match message.header_type() {
                MessageHeader::Schema => (body_len, None, None),
                MessageHeader::RecordBatch => {
                    let rows = message.header_as_record_batch().map(|b| b.length());
                    (body_len, rows, None)
                }
                MessageHeader::DictionaryBatch => {
                    let dictionary = message.header_as_dictionary_batch();
                    let rows = dictionary.and_then(|d| d.data()).map(|b| b.length());
                    let id = dictionary.map(|d| (d.id(), d.isDelta()));
                    (body_len, rows, id)
                }
                other => {
                    return Err(self.bad(format!(
                        "a message of type {other:?}: a part's stream holds a schema, dictionaries and record batches"
                    )));
                }
            }
        };
        let max = self.limits.max_batch_bytes;
        if body_len > max {
            return Err(self.over(
                Limit::BatchBytes,
                max,
                format!(
                    "a batch's message is {body_len} bytes (after row {}): send smaller batches",
                    self.rows_read
                ),
            ));
        }
        // Every row counts a byte at least: a batch of a billion rows of
        // nulls holds no buffers but takes the writer hours.
        if let Some(rows) = batch_rows
            && usize::try_from(rows).map_or(true, |rows| rows > max)
        {
            return Err(self.over(
                Limit::BatchBytes,
                max,
                format!("a batch declares {rows} rows"),
            ));
        }
        framed
            .try_reserve_exact(body_len)
            .map_err(|e| self.bad(e.to_string()))?;
        let read = (&mut self.reader)
            .take(body_len as u64)
            .read_to_end(&mut framed)
            .map_err(|e| self.io(e))?;
        if read != body_len {
            return Err(self.bad(format!(
                "the stream ends inside a message (after row {})",
                self.rows_read
            )));
        }
        let decoded = self.decoded_bytes(&framed, metadata_len)?;
        if dictionary.is_none()
            && let Some(rows) = batch_rows
        {
            self.rows_read += u64::try_from(rows).unwrap_or(0);
        }
        if decoded > max {
            return Err(self.over(
                Limit::BatchBytes,
                max,
                format!(
                    "a batch decompresses to {decoded} bytes (after row {}): send smaller batches",
                    self.rows_read
                ),
            ));
        }
        if let Some((id, delta)) = dictionary {
            // The decoder keeps one dictionary per id for the batches
            // after it: a new one replaces it, a delta adds to it.
            let size = body_len.max(decoded);
            let held = self.dictionary_bytes.entry(id).or_insert(0);
            *held = if delta {
                held.saturating_add(size)
            } else {
                size
            };
            let all = self
                .dictionary_bytes
                .values()
                .fold(0usize, |a, b| a.saturating_add(*b));
            if all > max {
                return Err(self.over(
                    Limit::BatchBytes,
                    max,
                    format!("the stream's dictionaries hold {all} bytes"),
                ));
            }
        }
        Ok(Some(framed))
    }

    /// Bytes a batch's body decodes to: its own size, or for a compressed
    /// body the sizes its buffers declare (each buffer's 8-byte prefix).
    /// Buffers that lie outside the body are refused here, where the
    /// decoder would panic.
    fn decoded_bytes(&self, framed: &[u8], metadata_len: usize) -> Result<usize, IngestError> {
        let (metadata, body) = framed[8..].split_at(metadata_len);
        let message = arrow_ipc::root_as_message(metadata)
            .map_err(|e| self.bad(format!("not an Arrow IPC message ({e})")))?;
        let batch = match message.header_type() {
            MessageHeader::RecordBatch => message.header_as_record_batch(),
            MessageHeader::DictionaryBatch => {
                message.header_as_dictionary_batch().and_then(|d| d.data())
            }
            _ => return Ok(body.len()),
        };
        let batch = batch.ok_or_else(|| self.bad("a batch message without its batch".into()))?;
        let compression = batch.compression();
        if let Some(c) = &compression
            && !matches!(
                c.codec(),
                CompressionType::LZ4_FRAME | CompressionType::ZSTD
            )
        {
            return Err(self.bad(format!("unknown buffer compression {:?}", c.codec())));
        }
        let mut decoded = 0usize;
        for buffer in batch.buffers().into_iter().flatten() {
            let range = usize::try_from(buffer.offset())
                .ok()
                .zip(usize::try_from(buffer.length()).ok())
                .and_then(|(offset, length)| Some(offset..offset.checked_add(length)?))
                .filter(|range| range.end <= body.len())
                .ok_or_else(|| self.bad("a buffer lies outside its message".into()))?;
            let size = if compression.is_none() || range.is_empty() {
                range.len()
            } else {
                let prefix: [u8; 8] = body
                    .get(range.start..range.start + 8)
                    .and_then(|p| p.try_into().ok())
                    .ok_or_else(|| self.bad("a compressed buffer without its length".into()))?;
                match i64::from_le_bytes(prefix) {
                    // Stored as it is.
                    -1 => range.len(),
                    n => usize::try_from(n)
                        .map_err(|_| self.bad("a compressed buffer's length is negative".into()))?,
                }
            };
            decoded = decoded.saturating_add(size);
        }
        Ok(decoded)
    }
}

/// Reads until `buf` is full or the input ends; the bytes read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

impl<R: Read> Iterator for ArrowStreamBatches<R> {
    type Item = Result<InputBatch, IngestError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.reader.next()? {
            Ok(batch) => {
                let places = Places::Rows {
                    first: self.rows_read,
                };
                self.rows_read += batch.num_rows() as u64;
                Some(Ok(InputBatch { batch, places }))
            }
            Err(e) => {
                self.done = true;
                Some(Err(take_fault(&self.fault).unwrap_or_else(|| {
                    IngestError::BadFile {
                        file: self.name.clone(),
                        reason: format!(
                            "not a readable Arrow IPC stream after row {} ({e})",
                            self.rows_read
                        ),
                    }
                })))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
    use arrow_ipc::writer::{IpcWriteOptions, StreamWriter};

    use super::*;

    fn stream(batches: &[RecordBatch], options: IpcWriteOptions) -> Vec<u8> {
        let mut out = Vec::new();
        let mut writer =
            StreamWriter::try_new_with_options(&mut out, &batches[0].schema(), options).unwrap();
        for batch in batches {
            writer.write(batch).unwrap();
        }
        writer.finish().unwrap();
        drop(writer);
        out
    }

    fn read(bytes: &[u8], limits: &IngestLimits) -> Result<Vec<InputBatch>, IngestError> {
        ArrowStreamBatches::new("t".into(), bytes, limits)?.collect()
    }

    #[test]
    fn streams_are_read_whole() {
        let batch = RecordBatch::try_from_iter([
            ("n", Arc::new(Int64Array::from(vec![1, 2, 3])) as ArrayRef),
            (
                "s",
                Arc::new(StringArray::from(vec!["a", "b", "c"])) as ArrayRef,
            ),
        ])
        .unwrap();
        let bytes = stream(&[batch.clone(), batch.clone()], IpcWriteOptions::default());
        let read = read(&bytes, &IngestLimits::default()).unwrap();
        assert_eq!(read.len(), 2);
        assert_eq!(read[1].batch, batch);
        assert_eq!(read[1].places, Places::Rows { first: 3 });
        // Cut short: refused, not taken as the end.
        assert!(matches!(
            super::super::limits::check_schema(&batch.schema(), &IngestLimits::default()),
            Ok(())
        ));
        let cut = read_cut(&bytes[..bytes.len() - 20]);
        assert!(cut.is_err());
    }

    fn read_cut(bytes: &[u8]) -> Result<Vec<InputBatch>, IngestError> {
        read(bytes, &IngestLimits::default())
    }

    #[test]
    fn declared_sizes_are_checked_before_decoding() {
        let batch = RecordBatch::try_from_iter([(
            "s",
            Arc::new(StringArray::from(vec!["x".repeat(100_000)])) as ArrayRef,
        )])
        .unwrap();
        let small = IngestLimits {
            max_batch_bytes: 50_000,
            ..IngestLimits::default()
        };
        let plain = stream(std::slice::from_ref(&batch), IpcWriteOptions::default());
        let err = read(&plain, &small).unwrap_err();
        assert!(
            matches!(&err, IngestError::OverLimit { over, .. } if over.limit == Limit::BatchBytes),
            "{err}"
        );
        // Compressed to a few hundred bytes, it still declares 100 KB.
        let zstd = stream(
            &[batch],
            IpcWriteOptions::default()
                .try_with_compression(Some(CompressionType::ZSTD))
                .unwrap(),
        );
        assert!(zstd.len() < 50_000);
        let err = read(&zstd, &small).unwrap_err();
        assert!(err.to_string().contains("decompresses to"), "{err}");
    }

    #[test]
    fn a_lying_compressed_length_is_refused() {
        let batch = RecordBatch::try_from_iter([(
            "s",
            Arc::new(StringArray::from(vec!["x".repeat(1000)])) as ArrayRef,
        )])
        .unwrap();
        let mut bytes = stream(
            &[batch],
            IpcWriteOptions::default()
                .try_with_compression(Some(CompressionType::ZSTD))
                .unwrap(),
        );
        // The values buffer's prefix is the 1000 bytes it decompresses to;
        // make it claim 2^60.
        let at = bytes
            .windows(8)
            .rposition(|w| w == 1000i64.to_le_bytes())
            .unwrap();
        bytes[at..at + 8].copy_from_slice(&(1i64 << 60).to_le_bytes());
        let err = read(&bytes, &IngestLimits::default()).unwrap_err();
        assert!(err.to_string().contains("decompresses to"), "{err}");
    }
}
