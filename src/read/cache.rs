//! A bounded in-process cache (LRU-like by bytes, via `quick_cache`) of
//! what never changes once an attempt is committed: Parquet footers and
//! `metadata.parquet` rows. Only files of committed attempts are put here:
//! readers look an attempt's metadata up first, and a missing one is a 404
//! that caches nothing.

use std::sync::Arc;

use arrow_array::RecordBatch;

use crate::artifacts::parquet_types::TypedFooter;
use quick_cache::Weighter;
use quick_cache::sync::Cache;

use crate::artifacts::schemas::AttemptMetadata;

/// A cached value.
#[derive(Clone)]
pub enum Cached {
    /// A Parquet file's footer and page index.
    Footer(TypedFooter),
    /// The row of a `metadata.parquet`.
    Attempt(Arc<AttemptMetadata>),
    /// A block of a committed file's rows, decoded (see
    /// [`MetadataCache::rows`]).
    Rows(RecordBatch),
    /// The keyword skipping index of an `index.parquet`, parsed.
    Ngrams(Arc<crate::artifacts::ngram::NgramIndex>),
}

#[derive(Clone)]
struct ByBytes;

impl Weighter<String, Cached> for ByBytes {
    fn weight(&self, key: &String, value: &Cached) -> u64 {
        let value = match value {
            Cached::Footer(m) => m.metadata().memory_size(),
            Cached::Attempt(m) => 256 + m.message.len() + m.data_file_rows.len() * 8,
            Cached::Rows(batch) => batch.get_array_memory_size(),
            Cached::Ngrams(index) => index.bytes(),
        };
        (key.len() + value) as u64
    }
}

/// Cache lookups, by `kind` (`footer`, `metadata`) and `result` (`hit`,
/// `miss`).
pub const CACHE_LOOKUPS: &str = "dagtrail_metadata_cache_lookups_total";

fn count_lookup(kind: &'static str, hit: bool) {
    let result = if hit { "hit" } else { "miss" };
    metrics::counter!(CACHE_LOOKUPS, "kind" => kind, "result" => result).increment(1);
}

/// The cache, shared by every request.
#[derive(Clone)]
pub struct MetadataCache {
    inner: Arc<Cache<String, Cached, ByBytes>>,
}

impl std::fmt::Debug for MetadataCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetadataCache")
            .field("items", &self.inner.len())
            .field("bytes", &self.inner.weight())
            .finish()
    }
}

impl MetadataCache {
    /// A cache holding at most `bytes` (estimated) of metadata.
    pub fn new(bytes: u64) -> Self {
        let items = usize::try_from(bytes / 16_384).unwrap_or(1024).max(16);
        Self {
            inner: Arc::new(Cache::with_weighter(items, bytes.max(1), ByBytes)),
        }
    }

    /// Bytes held (estimated).
    pub fn bytes(&self) -> u64 {
        self.inner.weight()
    }

    /// A file's footer, when cached.
    pub fn footer(&self, key: &str) -> Option<TypedFooter> {
        self.lookup(key, "footer", |cached| match cached {
            Cached::Footer(m) => Some(m),
            _ => None,
        })
    }

    /// An attempt's metadata row, when cached.
    pub fn attempt(&self, key: &str) -> Option<Arc<AttemptMetadata>> {
        self.lookup(key, "metadata", |cached| match cached {
            Cached::Attempt(m) => Some(m),
            _ => None,
        })
    }

    /// A decoded block of rows of a committed file (its key and the
    /// block's number): consecutive pages of one file are sliced from one
    /// decoding instead of each decompressing the same Parquet pages.
    pub fn rows(&self, key: &str) -> Option<RecordBatch> {
        self.lookup(key, "rows", |cached| match cached {
            Cached::Rows(batch) => Some(batch),
            _ => None,
        })
    }

    /// A parsed keyword skipping index.
    pub fn ngrams(&self, key: &str) -> Option<Arc<crate::artifacts::ngram::NgramIndex>> {
        self.lookup(key, "ngrams", |cached| match cached {
            Cached::Ngrams(index) => Some(index),
            _ => None,
        })
    }

    /// Keeps a parsed keyword skipping index.
    pub fn put_ngrams(&self, key: String, index: Arc<crate::artifacts::ngram::NgramIndex>) {
        self.inner.insert(key, Cached::Ngrams(index));
    }

    /// Keeps a decoded block of rows (see [`MetadataCache::rows`]).
    pub fn put_rows(&self, key: String, batch: RecordBatch) {
        self.inner.insert(key, Cached::Rows(batch));
    }

    /// The entry at `key` that `pick` takes (one of its kind), counted as a
    /// lookup of `kind`.
    fn lookup<T>(
        &self,
        key: &str,
        kind: &'static str,
        pick: impl FnOnce(Cached) -> Option<T>,
    ) -> Option<T> {
        let found = self.inner.get(key).and_then(pick);
        count_lookup(kind, found.is_some());
        found
    }

    /// Remembers a footer.
    pub fn put_footer(&self, key: String, metadata: TypedFooter) {
        self.inner.insert(key, Cached::Footer(metadata));
    }

    /// Remembers an attempt's metadata row.
    pub fn put_attempt(&self, key: String, metadata: Arc<AttemptMetadata>) {
        self.inner.insert(key, Cached::Attempt(metadata));
    }
}
