//! One committed phase attempt: its metadata, and pages of its data,
//! errors and logs.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::Schema;
use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt, future::try_join_all};
use object_store::ObjectStore;
use object_store::path::Path;
use parquet::arrow::ProjectionMask;

use super::cache::MetadataCache;
use super::file::{StoreQuirks, decode_small_file, load_metadata, load_metadata_and_small_file};
use super::logs::{self, LogFilter};
use super::page::{ParquetPage, locate};
use super::rows::{file_rows, read_ranges};
use super::{ReadError, search};
use crate::artifacts::key::{AttemptFolder, FileKind};
use crate::artifacts::parquet_types::TypedFooter;
use crate::artifacts::schemas::{AttemptMetadata, check_conforms, errors_schema, logs_schema};

/// Footers fetched at once when a request needs several files' row counts.
const CONCURRENT_FOOTERS: usize = 8;

/// Reads one committed attempt.
#[derive(Debug, Clone)]
pub struct AttemptReader {
    store: Arc<dyn ObjectStore>,
    cache: MetadataCache,
    quirks: Arc<StoreQuirks>,
    folder: AttemptFolder,
    metadata: Arc<AttemptMetadata>,
}

/// Reads a whole small file as one page (event files).
pub(crate) async fn whole_file(
    store: &Arc<dyn ObjectStore>,
    key: &Path,
    cap: u32,
    quirks: &StoreQuirks,
) -> Result<ParquetPage, ReadError> {
    let (meta, whole) = load_metadata_and_small_file(store, key, quirks).await?;
    let total = file_rows(&meta);
    if let Some(bytes) = whole {
        let batches = decode_small_file(key, bytes, &meta, cap as usize)?;
        return Ok(ParquetPage::new(
            Some(meta.schema()),
            &batches,
            0,
            cap,
            total,
        ));
    }
    let batches = read_ranges(
        store,
        key,
        &meta,
        std::slice::from_ref(&(0..total.min(u64::from(cap)))),
        ProjectionMask::all(),
    )
    .await?;
    Ok(ParquetPage::new(
        Some(meta.schema()),
        &batches,
        0,
        cap,
        total,
    ))
}

impl AttemptReader {
    /// Loads the attempt's `metadata.parquet` (cached once read: a
    /// committed attempt never changes). A missing one is a 404.
    pub(crate) async fn open(
        store: Arc<dyn ObjectStore>,
        cache: MetadataCache,
        quirks: Arc<StoreQuirks>,
        folder: AttemptFolder,
    ) -> Result<Self, ReadError> {
        let key = folder.metadata();
        let metadata = match cache.attempt(key.as_ref()) {
            Some(m) => m,
            None => {
                let (footer, whole) =
                    match load_metadata_and_small_file(&store, &key, &quirks).await {
                        Ok(found) => found,
                        Err(ReadError::MissingFile { .. }) => {
                            return Err(ReadError::NotFound("phase attempt"));
                        }
                        Err(e) => return Err(e),
                    };
                let all = 0..file_rows(&footer);
                let batches = match whole {
                    // The footer's prefetch held the whole (small) file.
                    Some(bytes) => decode_small_file(&key, bytes, &footer, 2)?,
                    None => {
                        read_ranges(
                            &store,
                            &key,
                            &footer,
                            std::slice::from_ref(&all),
                            ProjectionMask::all(),
                        )
                        .await?
                    }
                };
                let batch = arrow_select::concat::concat_batches(footer.schema(), &batches)
                    .map_err(|e| ReadError::decode(&key, e.to_string()))?;
                let parsed = AttemptMetadata::from_batch(&batch)
                    .map_err(|e| ReadError::decode(&key, e.to_string()))?;
                let parsed = Arc::new(parsed);
                cache.put_attempt(key.to_string(), Arc::clone(&parsed));
                parsed
            }
        };
        Ok(Self {
            store,
            cache,
            quirks,
            folder,
            metadata,
        })
    }

    /// The `metadata.parquet` row.
    pub fn metadata(&self) -> &AttemptMetadata {
        &self.metadata
    }

    /// The metadata row as a one-row page (endpoint 4), in the contract's
    /// column types whatever the writer used.
    pub fn metadata_page(&self) -> Result<ParquetPage, ReadError> {
        let batch = self
            .metadata
            .to_batch()
            .map_err(|e| ReadError::decode(&self.folder.metadata(), e.to_string()))?;
        Ok(ParquetPage::new(
            Some(batch.schema().as_ref()),
            &[batch],
            0,
            1,
            1,
        ))
    }

    /// A file's footer, from the cache or the store.
    pub(crate) async fn footer(&self, key: &Path) -> Result<TypedFooter, ReadError> {
        if let Some(m) = self.cache.footer(key.as_ref()) {
            return Ok(m);
        }
        let m = load_metadata(&self.store, key, &self.quirks).await?;
        self.cache.put_footer(key.to_string(), m.clone());
        Ok(m)
    }

    fn keys(&self, kind: FileKind, count: i32) -> Vec<Path> {
        (0..usize::try_from(count).unwrap_or(0))
            .map(|n| self.folder.numbered(kind, n))
            .collect()
    }

    /// The footers of several files, fetched concurrently, in order.
    pub(crate) async fn footers(&self, keys: &[Path]) -> Result<Vec<TypedFooter>, ReadError> {
        // Owned keys and a cloned reader (all `Arc`s) keep the stream's
        // futures free of borrowed lifetimes, which `Send` handlers need.
        futures::stream::iter(keys.to_vec())
            .map(|key| {
                let reader = self.clone();
                async move { reader.footer(&key).await }
            })
            .buffered(CONCURRENT_FOOTERS)
            .try_collect()
            .await
    }

    pub(crate) fn folder_index(&self) -> Path {
        self.folder.index()
    }

    pub(crate) fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The footers of errors or logs files, each checked against the
    /// contract's `schema` (a file in another shape is a 502 naming it).
    pub(crate) async fn footers_conforming(
        &self,
        keys: &[Path],
        schema: &Schema,
    ) -> Result<Vec<TypedFooter>, ReadError> {
        let footers = self.footers(keys).await?;
        for (key, meta) in keys.iter().zip(&footers) {
            check_conforms(schema, meta.schema())
                .map_err(|reason| ReadError::decode(key, reason))?;
        }
        Ok(footers)
    }

    /// Reads rows `[offset, offset + limit)` of a sequence of files.
    async fn page_of(
        &self,
        keys: &[Path],
        file_rows: &[u64],
        fallback_schema: Option<Arc<Schema>>,
        page: u64,
        limit: u32,
    ) -> Result<ParquetPage, ReadError> {
        let total: u64 = file_rows.iter().sum();
        let offset = page.saturating_mul(u64::from(limit));
        let parts = locate(file_rows, offset, u64::from(limit));
        let reads = parts.iter().map(|(i, range)| async move {
            let key = &keys[*i];
            let meta = self.footer(key).await?;
            let available = super::rows::file_rows(&meta);
            if range.end > available {
                return Err(ReadError::decode(
                    key,
                    format!(
                        "holds {available} rows, metadata.parquet counts {}",
                        file_rows[*i]
                    ),
                ));
            }
            read_ranges(
                &self.store,
                key,
                &meta,
                std::slice::from_ref(range),
                ProjectionMask::all(),
            )
            .await
        });
        let batches: Vec<RecordBatch> = try_join_all(reads).await?.into_iter().flatten().collect();
        let schema = self.page_schema(&batches, keys, fallback_schema).await?;
        Ok(ParquetPage::new(
            schema.as_deref(),
            &batches,
            page,
            limit,
            total,
        ))
    }

    /// The columns of a page: its rows' schema, else the first file's
    /// (an empty page still shows its columns), else `fallback`.
    async fn page_schema(
        &self,
        batches: &[RecordBatch],
        keys: &[Path],
        fallback: Option<Arc<Schema>>,
    ) -> Result<Option<Arc<Schema>>, ReadError> {
        Ok(match (batches.first(), keys.first()) {
            (Some(b), _) => Some(b.schema()),
            (None, Some(first)) => Some(Arc::clone(self.footer(first).await?.schema())),
            (None, None) => fallback,
        })
    }

    /// A page of data rows, the data files read as one sequence (endpoint 5).
    pub async fn data_page(&self, page: u64, limit: u32) -> Result<ParquetPage, ReadError> {
        let keys = self.keys(FileKind::Data, self.metadata.data_files);
        let rows: Vec<u64> = self
            .metadata
            .data_file_rows
            .iter()
            .map(|n| u64::try_from(*n).unwrap_or(0))
            .collect();
        self.page_of(&keys, &rows, None, page, limit).await
    }

    /// A page of the data rows whose `_searchable` text contains `keyword`
    /// (case-insensitive, literal), in (`_file`, `_row`) order.
    pub async fn search_data(
        &self,
        keyword: &str,
        page: u64,
        limit: u32,
    ) -> Result<ParquetPage, ReadError> {
        // An attempt without data rows may have no index at all: there is
        // nothing to search.
        let hits = if self.metadata.data_rows == 0 {
            Vec::new()
        } else {
            search::matching_rows(self, keyword).await?
        };
        let total = hits.len() as u64;
        let offset = usize::try_from(page.saturating_mul(u64::from(limit))).unwrap_or(usize::MAX);
        let wanted = hits.get(offset..).unwrap_or(&[]);
        let wanted = &wanted[..wanted.len().min(limit as usize)];
        let keys = self.keys(FileKind::Data, self.metadata.data_files);
        let batches = search::fetch_rows(self, &keys, wanted).await?;
        let schema = self.page_schema(&batches, &keys, None).await?;
        Ok(ParquetPage::new(
            schema.as_deref(),
            &batches,
            page,
            limit,
            total,
        ))
    }

    /// A page of error rows (endpoint 6).
    pub async fn errors_page(&self, page: u64, limit: u32) -> Result<ParquetPage, ReadError> {
        let keys = self.keys(FileKind::Errors, self.metadata.error_files);
        let schema = errors_schema();
        let rows: Vec<u64> = self
            .footers_conforming(&keys, &schema)
            .await?
            .iter()
            .map(file_rows)
            .collect();
        self.page_of(&keys, &rows, Some(schema), page, limit).await
    }

    /// The logs files' keys.
    pub(crate) fn log_keys(&self) -> Vec<Path> {
        self.keys(FileKind::Logs, self.metadata.log_files)
    }

    /// A page of log rows, optionally filtered by level and keyword
    /// (endpoint 7).
    pub async fn logs_page(
        &self,
        filter: &LogFilter,
        page: u64,
        limit: u32,
    ) -> Result<ParquetPage, ReadError> {
        let keys = self.log_keys();
        let schema = logs_schema();
        let footers = self.footers_conforming(&keys, &schema).await?;
        if filter.is_empty() {
            let rows: Vec<u64> = footers.iter().map(file_rows).collect();
            return self.page_of(&keys, &rows, Some(schema), page, limit).await;
        }
        logs::filtered_page(self, &keys, filter, page, limit).await
    }

    /// Every matching log row as NDJSON, streamed as it is read (endpoint 7
    /// with `Accept: application/x-ndjson`). Footers are read before the
    /// first byte, so a missing file is an error status, not a cut stream.
    pub async fn logs_ndjson(
        &self,
        filter: LogFilter,
    ) -> Result<impl Stream<Item = Result<Bytes, ReadError>> + Send + 'static + use<>, ReadError>
    {
        logs::ndjson(self.clone(), filter).await
    }
}
