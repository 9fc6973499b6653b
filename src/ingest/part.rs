//! A part of an attempt uploaded over the write API: its media type, and
//! its bytes (a blocking reader over the request body) as batches.

use std::io::{BufRead, Seek};

use super::{
    ArrowStreamBatches, Batches, CsvBatches, IngestError, IngestLimits, NdjsonBatches, Window,
    open_parquet,
};

/// The formats a part is uploaded in, by `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartFormat {
    /// One JSON object per line (`application/x-ndjson`).
    Ndjson,
    /// Comma-separated values with a header line (`text/csv`).
    Csv,
    /// Apache Parquet (`application/vnd.apache.parquet`).
    Parquet,
    /// The Arrow IPC streaming format (`application/vnd.apache.arrow.stream`).
    ArrowStream,
}

/// The media types a part is taken in, as the 415 answer lists them.
pub const PART_MEDIA_TYPES: &str = "application/x-ndjson (or application/jsonl), text/csv, application/vnd.apache.parquet, application/vnd.apache.arrow.stream";

/// The media type of a `Content-Type`, its parameters left out: `mime`
/// parses only the essence, because its parameter grammar is stricter than
/// what clients send and RFC 9110 section 5.6.6 allows (`type/sub ;
/// charset=x`, empty parameters), and none of them changes a part's
/// format.
pub fn media_type(content_type: &str) -> Option<mime::Mime> {
    content_type.split(';').next()?.trim().parse().ok()
}

impl PartFormat {
    /// The format of a `Content-Type` (parameters such as `charset`
    /// ignored), or `None`.
    pub fn of_media_type(content_type: &str) -> Option<Self> {
        // The essence is lowercased by the parser (RFC 9110 section 8.3.1:
        // type and subtype are case-insensitive).
        match media_type(content_type)?.essence_str() {
            "application/x-ndjson"
            | "application/ndjson"
            | "application/jsonl"
            | "application/x-jsonlines" => Some(Self::Ndjson),
            "text/csv" => Some(Self::Csv),
            "application/vnd.apache.parquet" | "application/x-parquet" => Some(Self::Parquet),
            "application/vnd.apache.arrow.stream" => Some(Self::ArrowStream),
            _ => None,
        }
    }
}

/// Opens a part's bytes as batches under `limits` (rows and bytes per
/// batch, row length, columns and nesting: [`IngestLimits`]), the column
/// types inferred as `dagtrail ingest` infers them. Text and Arrow streams
/// are decoded as they arrive; Parquet, whose footer is at its end, is
/// first spooled to an anonymous temporary file (disk, not memory), then
/// decoded by `limits.decoder` in a process of its own when set
/// ([`super::decoder`]).
///
/// # Errors
///
/// [`IngestError`] naming `name` and, for text, the line: the first rows
/// do not parse or are over a limit, the stream is not Arrow IPC, or the
/// spooled file is not Parquet or cannot be written.
pub fn open_part<R: BufRead + Send + 'static>(
    format: PartFormat,
    name: String,
    mut reader: R,
    limits: &IngestLimits,
) -> Result<Batches, IngestError> {
    let window = Window::default();
    Ok(match format {
        PartFormat::Ndjson => Box::new(NdjsonBatches::new(name, reader, limits, window)?),
        PartFormat::Csv => Box::new(CsvBatches::new(name, reader, limits, window)?),
        PartFormat::ArrowStream => Box::new(ArrowStreamBatches::new(name, reader, limits)?),
        PartFormat::Parquet => {
            let io = |source| IngestError::Io {
                file: name.clone(),
                source,
            };
            let mut spool = tempfile::tempfile().map_err(io)?;
            std::io::copy(&mut reader, &mut spool).map_err(io)?;
            spool.rewind().map_err(io)?;
            match &limits.decoder {
                Some(decoder) => Box::new(super::decoder::spawn(decoder, name, spool, limits)?),
                None => Box::new(open_parquet(name, spool, limits)?),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::PartFormat;

    #[test]
    fn media_types_are_read_by_their_essence() {
        for (content_type, format) in [
            ("application/x-ndjson", Some(PartFormat::Ndjson)),
            (
                "Application/X-NDJSON; charset=utf-8",
                Some(PartFormat::Ndjson),
            ),
            ("application/jsonl", Some(PartFormat::Ndjson)),
            ("text/csv;charset=UTF-8", Some(PartFormat::Csv)),
            ("text/csv ; charset=utf-8", Some(PartFormat::Csv)),
            ("text/csv;;header=present", Some(PartFormat::Csv)),
            ("text/csv;\theader=present", Some(PartFormat::Csv)),
            ("application/x-ndjson; charset", Some(PartFormat::Ndjson)),
            ("application/vnd.apache.parquet", Some(PartFormat::Parquet)),
            (
                "application/vnd.apache.arrow.stream",
                Some(PartFormat::ArrowStream),
            ),
            ("application/json", None),
            ("text/csv-schema", None),
            ("", None),
            ("not a media type", None),
        ] {
            assert_eq!(
                PartFormat::of_media_type(content_type),
                format,
                "{content_type}"
            );
        }
    }
}
