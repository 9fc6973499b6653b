//! One committed phase attempt: opening it through its
//! `metadata.parquet` (endpoint 4) and what every endpoint below it needs
//! (footers, file keys, a page of a sequence of files). Each endpoint's
//! reading is in its own file as methods on [`AttemptReader`]: `data.rs`
//! (5), `error_rows.rs` (6), `logs.rs` (7).

use std::ops::Range;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::Schema;
use futures::{StreamExt, TryStreamExt, future::try_join_all};
use object_store::ObjectStore;
use object_store::path::Path;
use parquet::arrow::ProjectionMask;

use super::cache::MetadataCache;
use super::error::{Missing, ReadError};
use super::page::{ParquetPage, locate};
use crate::artifacts::FileError;
use crate::artifacts::file::{
    StoreQuirks, decode_small_file, load_metadata, load_metadata_and_small_file,
};
use crate::artifacts::key::{AttemptFolder, FileKind};
use crate::artifacts::parquet_types::TypedFooter;
use crate::artifacts::rows::{file_rows, read_ranges};
use crate::artifacts::schemas::{AttemptMetadata, check_conforms};

/// Footers fetched at once when a request needs several files' row counts.
const CONCURRENT_FOOTERS: usize = 8;

/// Reads one committed attempt. Cheap to clone (every part is shared).
#[derive(Debug, Clone)]
pub struct AttemptReader {
    store: Arc<dyn ObjectStore>,
    pub(super) cache: MetadataCache,
    quirks: Arc<StoreQuirks>,
    folder: AttemptFolder,
    metadata: Arc<AttemptMetadata>,
}

impl AttemptReader {
    /// Loads the attempt's `metadata.parquet` (cached once read: a
    /// committed attempt never changes).
    ///
    /// # Errors
    ///
    /// [`ReadError::NotFound`] ([`Missing::Attempt`]) when the attempt has
    /// no `metadata.parquet` (never committed); a store or decoding error
    /// reading it.
    pub(super) async fn open(
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
                        Err(FileError::MissingFile { .. }) => {
                            return Err(ReadError::NotFound(Missing::Attempt));
                        }
                        Err(e) => return Err(e.into()),
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
    ///
    /// # Errors
    ///
    /// [`ReadError::Decode`] when the row cannot be put in those types.
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
    pub(super) async fn footer(&self, key: &Path) -> Result<TypedFooter, ReadError> {
        if let Some(m) = self.cache.footer(key.as_ref()) {
            return Ok(m);
        }
        let m = load_metadata(&self.store, key, &self.quirks).await?;
        // A contract file's columns of only nulls (Arrow type `null`, as
        // pandas writes them) read as the types the contract says.
        let contract = match key.filename() {
            Some(name) if name.starts_with("errors_") => {
                Some(crate::artifacts::schemas::errors_schema())
            }
            Some(name) if name.starts_with("logs_") => {
                Some(crate::artifacts::schemas::logs_schema())
            }
            Some("metadata.parquet") => Some(crate::artifacts::schemas::metadata_schema()),
            _ => None,
        };
        let m = match contract {
            Some(schema) => m.with_nulls_as(&schema),
            None => m,
        };
        self.cache.put_footer(key.to_string(), m.clone());
        Ok(m)
    }

    /// The keys of the attempt's `count` files of `kind`.
    pub(super) fn keys(&self, kind: FileKind, count: i32) -> Vec<Path> {
        (0..usize::try_from(count).unwrap_or(0))
            .map(|n| self.folder.numbered(kind, n))
            .collect()
    }

    /// The footers of several files, fetched concurrently, in order.
    pub(super) async fn footers(&self, keys: &[Path]) -> Result<Vec<TypedFooter>, ReadError> {
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

    /// The attempt's `index.parquet`.
    pub(super) fn index_parquet(&self) -> Path {
        self.folder.index_parquet()
    }

    /// The store the attempt is read from.
    pub(super) fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The footers of errors or logs files, each checked against the
    /// contract's `schema` (a file in another shape is a 502 naming it).
    pub(super) async fn footers_conforming(
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

    /// Page `page` of `limit` rows of a sequence of files with
    /// `file_rows` rows each, read as one.
    pub(super) async fn page_of(
        &self,
        keys: &[Path],
        file_rows: &[u64],
        fallback_schema: Option<Arc<Schema>>,
        page: u64,
        limit: u32,
    ) -> Result<ParquetPage, ReadError> {
        let total: u64 = file_rows.iter().sum();
        let parts = locate(file_rows, page, limit);
        let reads = parts.iter().map(|(i, range)| async move {
            let key = &keys[*i];
            let meta = self.footer(key).await?;
            let available = crate::artifacts::rows::file_rows(&meta);
            if range.end > available {
                return Err(ReadError::decode(
                    key,
                    format!(
                        "holds {available} rows, metadata.parquet counts {}",
                        file_rows[*i]
                    ),
                ));
            }
            self.rows_in_blocks(key, &meta, range.clone()).await
        });
        let batches: Vec<RecordBatch> = try_join_all(reads).await?.into_iter().flatten().collect();
        let rows = PageRows {
            batches: &batches,
            total,
        };
        self.page_from(rows, keys, fallback_schema, page, limit)
            .await
    }

    /// Rows `range` of a file (all its columns), sliced from blocks of
    /// [`block_rows`] rows that are decoded whole once and kept in the
    /// cache, bounded by bytes with the footers: the next page of the same
    /// rows, or the same page again, decodes nothing. A Parquet page holds
    /// hundreds to many thousands of rows and is decompressed whole for
    /// any one of them, so a block costs about what a 50-row page did.
    async fn rows_in_blocks(
        &self,
        key: &Path,
        meta: &TypedFooter,
        range: Range<u64>,
    ) -> Result<Vec<RecordBatch>, ReadError> {
        if range.is_empty() {
            return Ok(Vec::new());
        }
        // Blocks never cross a row group: a block is then one ranged read.
        let starts = crate::artifacts::rows::row_group_starts(meta);
        let mut out = Vec::new();
        let mut at = range.start;
        while at < range.end {
            let group = starts.partition_point(|s| *s <= at).saturating_sub(1);
            let (group_start, group_end) = match (starts.get(group), starts.get(group + 1)) {
                (Some(s), Some(e)) => (*s, *e),
                _ => return Err(ReadError::decode(key, format!("has no row {at}"))),
            };
            let Some(block) = block_rows(meta, group) else {
                // Rows too wide for a block: the page's rows alone, as
                // without blocks, and not kept.
                let to = range.end.min(group_end);
                out.extend(
                    read_ranges(
                        &self.store,
                        key,
                        meta,
                        std::slice::from_ref(&(at..to)),
                        ProjectionMask::all(),
                    )
                    .await?,
                );
                at = to;
                continue;
            };
            let number = (at - group_start) / block;
            let span =
                group_start + number * block..(group_start + (number + 1) * block).min(group_end);
            let cache_key = format!("{key}#rows{block}:{}", span.start);
            let decoded = match self.cache.rows(&cache_key) {
                Some(batch) => batch,
                None => {
                    let batches = read_ranges(
                        &self.store,
                        key,
                        meta,
                        std::slice::from_ref(&span),
                        ProjectionMask::all(),
                    )
                    .await?;
                    let batch = match batches.as_slice() {
                        [one] => one.clone(),
                        _ => arrow_select::concat::concat_batches(meta.schema(), &batches)
                            .map_err(|e| ReadError::decode(key, e.to_string()))?,
                    };
                    // A file whose row groups hold fewer rows than its
                    // footer counts is refused, never sliced past its end.
                    if batch.num_rows() as u64 != span.end - span.start {
                        return Err(ReadError::decode(
                            key,
                            format!(
                                "rows {}..{} decode as {} rows",
                                span.start,
                                span.end,
                                batch.num_rows()
                            ),
                        ));
                    }
                    self.cache.put_rows(cache_key, batch.clone());
                    batch
                }
            };
            let to = range.end.min(span.end);
            out.push(decoded.slice((at - span.start) as usize, (to - at) as usize));
            at = to;
        }
        Ok(out)
    }

    /// Page `page` of `limit` holding `rows`, with the columns of its rows,
    /// else of the first of `keys` (an empty page still shows its
    /// columns), else `fallback`.
    pub(super) async fn page_from(
        &self,
        rows: PageRows<'_>,
        keys: &[Path],
        fallback: Option<Arc<Schema>>,
        page: u64,
        limit: u32,
    ) -> Result<ParquetPage, ReadError> {
        let schema = match (rows.batches.first(), keys.first()) {
            (Some(b), _) => Some(b.schema()),
            (None, Some(first)) => Some(Arc::clone(self.footer(first).await?.schema())),
            (None, None) => fallback,
        };
        Ok(ParquetPage::new(
            schema.as_deref(),
            rows.batches,
            page,
            limit,
            rows.total,
        ))
    }
}

/// The rows of a page, and how many rows the request matches in all.
pub(super) struct PageRows<'a> {
    /// The page's rows.
    pub batches: &'a [RecordBatch],
    /// Rows matching over all pages.
    pub total: u64,
}

/// Uncompressed bytes a row block aims at: a few Parquet pages of each
/// column, small beside the cache.
const BLOCK_BYTES: u64 = 1024 * 1024;

/// Rows per block of row group `group` of a file
/// ([`AttemptReader::rows_in_blocks`]): a power of two up to 1,024 (about
/// one Parquet page of our writer's, so a first page costs what it did
/// without blocks) whose rows hold about [`BLOCK_BYTES`] uncompressed, by
/// the group's own mean row; `None` when even 64 rows would hold more than
/// that (wide rows: a page then reads its own rows only).
fn block_rows(meta: &TypedFooter, group: usize) -> Option<u64> {
    let group = meta.metadata().row_groups().get(group)?;
    let rows = u64::try_from(group.num_rows()).unwrap_or(0).max(1);
    let bytes = u64::try_from(group.total_byte_size()).unwrap_or(0).max(1);
    let fit = BLOCK_BYTES.saturating_mul(rows) / bytes;
    (fit >= 64).then(|| 1 << fit.min(1024).ilog2())
}
