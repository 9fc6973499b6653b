//! Reading chosen rows of one Parquet file: only the row groups that hold
//! them, and with a row selection (and the offset index, when the file
//! has one) only the pages that hold them. The row groups of one request
//! are fetched concurrently.

use std::ops::Range;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use arrow_array::RecordBatch;
use futures::stream::{BoxStream, CatchUnwind};
use futures::{Stream, StreamExt, TryStreamExt};
use object_store::ObjectStore;
use object_store::path::Path;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{RowSelection, RowSelector};
use parquet::arrow::async_reader::ParquetRecordBatchStreamBuilder;
use parquet::errors::ParquetError;

use super::FileError;
use super::file::StoreFile;
use crate::artifacts::parquet_types::TypedFooter;

/// Row groups fetched at once for one request.
const CONCURRENT_ROW_GROUPS: usize = 4;
/// Rows per decoded batch.
const BATCH_ROWS: usize = 8192;

/// Start row of every row group, plus the total at the end.
pub fn row_group_starts(meta: &TypedFooter) -> Vec<u64> {
    let mut starts = Vec::with_capacity(meta.metadata().num_row_groups() + 1);
    let mut at = 0u64;
    starts.push(0);
    for rg in meta.metadata().row_groups() {
        at += u64::try_from(rg.num_rows()).unwrap_or(0);
        starts.push(at);
    }
    starts
}

/// Rows of a file.
pub fn file_rows(meta: &TypedFooter) -> u64 {
    u64::try_from(meta.metadata().file_metadata().num_rows()).unwrap_or(0)
}

/// A projection of the named columns (all of them when `names` is `None`).
pub fn projection(meta: &TypedFooter, names: Option<&[&str]>) -> ProjectionMask {
    match names {
        None => ProjectionMask::all(),
        Some(names) => ProjectionMask::columns(
            meta.metadata().file_metadata().schema_descr(),
            names.iter().copied(),
        ),
    }
}

/// A stream over the selected rows of one row group.
///
/// The Parquet decoder trusts sizes and offsets read from the file, and on
/// some corrupt files it panics instead of failing (found by the
/// `parquet_files` fuzz target). The stream is polled under
/// `catch_unwind`, so such a file ends its stream with an error, which the
/// caller reports as a 502 naming the file, and nothing else is disturbed:
/// the decoder's state is dropped with the stream.
///
/// # Errors
///
/// [`FileError::Decode`] when the reader cannot be built (a group or
/// selection the file does not have). Failures while reading come out of
/// the stream as [`ParquetError`]s.
pub fn row_group_stream(
    store: &Arc<dyn ObjectStore>,
    key: &Path,
    meta: &TypedFooter,
    group: usize,
    selection: Option<RowSelection>,
    mask: ProjectionMask,
) -> Result<RowGroupStream, FileError> {
    let stream = batch_stream(
        store,
        key,
        meta,
        meta.reader().clone(),
        group,
        selection,
        mask,
    )?;
    // The conversion into the file's types runs under the same guard as
    // the decoder: both work on what the file claims.
    let footer = meta.clone();
    let typed = stream.map(move |batch| {
        batch.and_then(|b| {
            footer
                .convert(b)
                .map_err(|e| ParquetError::ArrowError(e.to_string()))
        })
    });
    Ok(RowGroupStream {
        inner: AssertUnwindSafe(typed.boxed()).catch_unwind(),
    })
}

/// The parquet crate's stream of row group `group` of a file, decoded
/// with `reader` (the footer's, or one with a schema hint).
fn batch_stream(
    store: &Arc<dyn ObjectStore>,
    key: &Path,
    meta: &TypedFooter,
    reader: parquet::arrow::arrow_reader::ArrowReaderMetadata,
    group: usize,
    selection: Option<RowSelection>,
    mask: ProjectionMask,
) -> Result<parquet::arrow::async_reader::ParquetRecordBatchStream<StoreFile>, FileError> {
    let file = StoreFile::new(Arc::clone(store), key.clone(), meta);
    let mut builder = ParquetRecordBatchStreamBuilder::new_with_metadata(file, reader)
        .with_row_groups(vec![group])
        .with_projection(mask)
        // Fewer rows when the row group's are wide: a batch holds about
        // 8 MiB, whatever a row takes.
        .with_batch_size(crate::ingest::batch_rows(meta.metadata(), group).min(BATCH_ROWS));
    if let Some(selection) = selection {
        builder = builder.with_row_selection(selection);
    }
    builder
        .build()
        .map_err(|e| FileError::decode(key, e.to_string()))
}

/// Top-level text column `name` of row group `group`, decoded as a
/// dictionary ([`TypedFooter::dictionary_reader`]) where the file can
/// give it so, else as [`row_group_stream`] decodes it.
///
/// # Errors
///
/// [`FileError::Decode`] when the reader cannot be built.
pub fn dictionary_column_stream(
    store: &Arc<dyn ObjectStore>,
    key: &Path,
    meta: &TypedFooter,
    group: usize,
    name: &str,
) -> Result<RowGroupStream, FileError> {
    let mask = projection(meta, Some(&[name]));
    let Some(reader) = meta.dictionary_reader(name) else {
        return row_group_stream(store, key, meta, group, None, mask);
    };
    // No conversion: a dictionary reader is only made for a file whose
    // columns need none.
    let stream = batch_stream(store, key, meta, reader, group, None, mask)?;
    Ok(RowGroupStream {
        inner: AssertUnwindSafe(stream.boxed()).catch_unwind(),
    })
}

/// The batches of one row group, as [`row_group_stream`] decodes them, in
/// the file's types ([`TypedFooter::convert`]); a panic of the decoder
/// comes out as an error, and ends the stream.
pub struct RowGroupStream {
    inner: CatchUnwind<AssertUnwindSafe<BoxStream<'static, Result<RecordBatch, ParquetError>>>>,
}

impl Stream for RowGroupStream {
    type Item = Result<RecordBatch, ParquetError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_next_unpin(cx).map(|polled| {
            polled.map(|item| item.unwrap_or_else(|panic| Err(decoder_panicked(panic.as_ref()))))
        })
    }
}

/// The error that stands for a panic of the Parquet decoder.
fn decoder_panicked(panic: &(dyn std::any::Any + Send)) -> ParquetError {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown cause".to_owned());
    ParquetError::General(format!(
        "the Parquet decoder failed on this file ({message})"
    ))
}

/// Reads the rows in `ranges` (file-local row numbers, sorted, not
/// overlapping).
///
/// # Errors
///
/// [`FileError::Decode`] when a row group does not decode;
/// [`FileError::MissingFile`], [`FileError::StoreTimeout`] or
/// [`FileError::Store`] when fetching its bytes fails (as
/// [`FileError::from_parquet`] sorts them).
pub async fn read_ranges(
    store: &Arc<dyn ObjectStore>,
    key: &Path,
    meta: &TypedFooter,
    ranges: &[Range<u64>],
    mask: ProjectionMask,
) -> Result<Vec<RecordBatch>, FileError> {
    let starts = row_group_starts(meta);
    let mut plans = Vec::new();
    for group in 0..starts.len().saturating_sub(1) {
        let (gs, ge) = (starts[group], starts[group + 1]);
        let mut selectors = Vec::new();
        let mut cursor = gs;
        for r in ranges {
            let (lo, hi) = (r.start.max(gs), r.end.min(ge));
            if lo >= hi {
                continue;
            }
            if lo > cursor {
                selectors.push(RowSelector::skip((lo - cursor) as usize));
            }
            selectors.push(RowSelector::select((hi - lo) as usize));
            cursor = hi;
        }
        if selectors.is_empty() {
            continue;
        }
        if cursor < ge {
            selectors.push(RowSelector::skip((ge - cursor) as usize));
        }
        plans.push((group, RowSelection::from(selectors)));
    }
    let groups: Vec<Vec<RecordBatch>> = futures::stream::iter(plans)
        .map(|(group, selection)| {
            let stream = row_group_stream(store, key, meta, group, Some(selection), mask.clone());
            async move {
                stream?
                    .try_collect::<Vec<_>>()
                    .await
                    .map_err(|e| FileError::from_parquet(key, e))
            }
        })
        .buffered(CONCURRENT_ROW_GROUPS)
        .try_collect()
        .await?;
    Ok(groups.into_iter().flatten().collect())
}

/// Turns sorted row numbers into ranges of consecutive rows.
pub fn to_ranges(rows: &[u64]) -> Vec<Range<u64>> {
    let mut out: Vec<Range<u64>> = Vec::new();
    for &r in rows {
        match out.last_mut() {
            Some(last) if last.end == r => last.end = r + 1,
            _ => out.push(r..r + 1),
        }
    }
    out
}

/// Every row of the Parquet file at `key`, row group after row group, in
/// batches of at most 8,192 rows: memory is one row group's pages at a
/// time, whatever the file's size (the commit of an attempt staged over
/// the write API reads its parts back this way).
///
/// # Errors
///
/// As [`super::file::load_metadata`] for the footer; then the stream's
/// items carry the decoding failures.
pub async fn file_batches(
    store: &Arc<dyn ObjectStore>,
    key: &Path,
) -> Result<
    (
        arrow_schema::SchemaRef,
        BoxStream<'static, Result<RecordBatch, FileError>>,
    ),
    FileError,
> {
    let meta = super::file::load_metadata(store, key, &super::file::StoreQuirks::default()).await?;
    let schema = Arc::clone(meta.schema());
    let groups = meta.metadata().num_row_groups();
    let (store, key) = (Arc::clone(store), key.clone());
    let stream = futures::stream::iter(0..groups)
        .map(move |group| {
            let decode = {
                let key = key.clone();
                move |e: ParquetError| FileError::decode(&key, e.to_string())
            };
            match row_group_stream(&store, &key, &meta, group, None, ProjectionMask::all()) {
                Ok(rows) => rows.map_err(decode).boxed(),
                Err(e) => futures::stream::once(async move { Err(e) }).boxed(),
            }
        })
        .flatten()
        .boxed();
    Ok((schema, stream))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_rows_merge() {
        assert_eq!(to_ranges(&[1, 2, 3, 7, 9, 10]), vec![1..4, 7..8, 9..11]);
        assert!(to_ranges(&[]).is_empty());
    }
}
