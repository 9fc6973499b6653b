//! Parquet files in the object store: footers fetched in one request, and
//! an [`AsyncFileReader`] over `Arc<dyn ObjectStore>` (written here rather
//! than parquet's deprecated `ParquetObjectReader`, which would also tie
//! our object_store version to parquet's).

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::errors::ParquetError;
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData, ParquetMetaDataReader};

use super::FileError;
use crate::artifacts::parquet_types::TypedFooter;

/// Bytes fetched from a file's end to read its footer: enough for the
/// footer and page index of every file our writer makes, so a cold file
/// costs one request.
pub const FOOTER_PREFETCH: u64 = 512 * 1024;

/// One Parquet file in the store, with its metadata already known.
#[derive(Clone)]
pub struct StoreFile {
    store: Arc<dyn ObjectStore>,
    key: Path,
    metadata: Arc<ParquetMetaData>,
}

impl StoreFile {
    /// A reader for `key` whose metadata was loaded before.
    pub fn new(store: Arc<dyn ObjectStore>, key: Path, metadata: &TypedFooter) -> Self {
        Self {
            store,
            key,
            metadata: Arc::clone(metadata.metadata()),
        }
    }
}

fn external(e: object_store::Error) -> ParquetError {
    ParquetError::External(Box::new(e))
}

impl AsyncFileReader for StoreFile {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        async move {
            self.store
                .get_range(&self.key, range)
                .await
                .map_err(external)
        }
        .boxed()
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        // object_store coalesces nearby ranges and fetches them concurrently.
        async move {
            self.store
                .get_ranges(&self.key, &ranges)
                .await
                .map_err(external)
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        _options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        let metadata = Arc::clone(&self.metadata);
        async move { Ok(metadata) }.boxed()
    }
}

/// What the store is known to support (one per store: each
/// reader of the store holds its own). Some S3-compatible servers
/// (s3s-fs among them) fail a suffix range longer than the object instead
/// of returning the whole object as S3 does; once a suffix range failed
/// and HEAD + a bounded range then answered, footers are read that way.
#[derive(Debug, Default)]
pub struct StoreQuirks {
    suffix_broken: AtomicBool,
}

async fn get(
    store: &Arc<dyn ObjectStore>,
    key: &Path,
    range: GetRange,
) -> Result<(Bytes, u64), object_store::Error> {
    let options = GetOptions {
        range: Some(range),
        ..GetOptions::default()
    };
    let result = store.get_opts(key, options).await?;
    let size = result.meta.size;
    Ok((result.bytes().await?, size))
}

/// The last `n` bytes of the object (all of it when shorter) and its size.
async fn suffix(
    store: &Arc<dyn ObjectStore>,
    key: &Path,
    n: u64,
    quirks: &StoreQuirks,
) -> Result<(Bytes, u64), FileError> {
    let mut suffix_failed = None;
    if !quirks.suffix_broken.load(Ordering::Relaxed) {
        match get(store, key, GetRange::Suffix(n)).await {
            Ok(found) => return Ok(found),
            Err(e @ object_store::Error::NotFound { .. }) => return Err(FileError::store(key, e)),
            Err(e) => suffix_failed = Some(e),
        }
    }
    let size = store
        .head(key)
        .await
        .map_err(|e| FileError::store(key, e))?
        .size;
    let bytes = if size == 0 {
        Bytes::new()
    } else {
        get(store, key, GetRange::Bounded(size.saturating_sub(n)..size))
            .await
            .map_err(|e| FileError::store(key, e))?
            .0
    };
    // The store answered the same read another way: what failed was the
    // suffix range itself, not a passing fault. Only now is it decided for
    // this store (a transient error fails the fallback too, and changes
    // nothing).
    if let Some(e) = suffix_failed {
        tracing::info!(file = %key, error = %e, "this store refuses suffix ranges longer than the object; reading footers with HEAD + range");
        quirks.suffix_broken.store(true, Ordering::Relaxed);
    }
    Ok((bytes, size))
}

/// Loads a file's footer and page index (when it has one) with a suffix
/// request: one round trip for files whose metadata fits the prefetch
/// ([`FOOTER_PREFETCH`] bytes).
///
/// # Errors
///
/// As [`load_metadata_and_small_file`].
pub async fn load_metadata(
    store: &Arc<dyn ObjectStore>,
    key: &Path,
    quirks: &StoreQuirks,
) -> Result<TypedFooter, FileError> {
    Ok(load_metadata_and_small_file(store, key, quirks).await?.0)
}

/// Like [`load_metadata`], and also returns the whole file when the
/// prefetch already held all of it (small files: metadata, events), so
/// reading its rows costs no further request.
///
/// # Errors
///
/// [`FileError::MissingFile`] when the store holds no such file;
/// [`FileError::StoreTimeout`] or [`FileError::Store`] when a request
/// times out or fails; [`FileError::Decode`] when the footer or page index
/// does not parse or the schema cannot be read as Arrow.
pub async fn load_metadata_and_small_file(
    store: &Arc<dyn ObjectStore>,
    key: &Path,
    quirks: &StoreQuirks,
) -> Result<(TypedFooter, Option<Bytes>), FileError> {
    let decode = |e: ParquetError| FileError::decode(key, e.to_string());
    let (mut bytes, size) = suffix(store, key, FOOTER_PREFETCH, quirks).await?;
    let whole = (bytes.len() as u64 == size).then(|| bytes.clone());
    let mut reader = ParquetMetaDataReader::new().with_page_index_policy(PageIndexPolicy::Optional);
    loop {
        match reader.try_parse_sized(&bytes, size) {
            Ok(()) => break,
            Err(ParquetError::NeedMoreData(needed))
                if (needed as u64) <= size && (needed as u64) > bytes.len() as u64 =>
            {
                bytes = suffix(store, key, needed as u64, quirks).await?.0;
                if reader.has_metadata() {
                    reader
                        .read_page_indexes_sized(&bytes, size)
                        .map_err(decode)?;
                    break;
                }
            }
            Err(e) => return Err(decode(e)),
        }
    }
    let metadata = reader.finish().map_err(decode)?;
    let metadata = TypedFooter::new(metadata).map_err(decode)?;
    Ok((metadata, whole))
}

/// Decodes the rows of a file held in memory, `max_rows` rows at most.
///
/// # Errors
///
/// [`FileError::Decode`] when the file does not decode or convert to its
/// footer's types; a panic of the decoder on a corrupt file is one too, as
/// for row-group streams.
pub fn decode_small_file(
    key: &Path,
    bytes: Bytes,
    metadata: &TypedFooter,
    max_rows: usize,
) -> Result<Vec<arrow_array::RecordBatch>, FileError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        decode_in_memory(key, bytes, metadata, max_rows)
    }))
    .unwrap_or_else(|_| {
        Err(FileError::decode(
            key,
            "the Parquet decoder failed on this file",
        ))
    })
}

fn decode_in_memory(
    key: &Path,
    bytes: Bytes,
    metadata: &TypedFooter,
    max_rows: usize,
) -> Result<Vec<arrow_array::RecordBatch>, FileError> {
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::new_with_metadata(
        bytes,
        metadata.reader().clone(),
    )
    .with_limit(max_rows)
    .build()
    .map_err(|e| FileError::decode(key, e.to_string()))?;
    reader
        .map(|batch| {
            batch
                .and_then(|b| metadata.convert(b))
                .map_err(|e| FileError::decode(key, e.to_string()))
        })
        .collect()
}
