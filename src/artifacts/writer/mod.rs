//! Writing one phase attempt in the contract's layout.
//!
//! [`AttemptWriter`] streams data batches into `data_NNN.parquet` (rolling
//! past [`WriterOptions::rows_per_file`]) while building `index.parquet`,
//! writes errors and logs into their own numbered files, and on
//! [`AttemptWriter::commit`] writes `metadata.parquet` **last**: until then
//! the attempt does not exist for readers. Memory is bounded by one row
//! group per open file, whatever the number of rows.

mod error;
mod normalize;
mod rolling;
mod row_positions;
mod searchable;
mod small_file;

use std::sync::Arc;

use arrow_array::{Int32Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{ArrowError, SchemaRef};
use chrono::{DateTime, Utc};
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::AsyncArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

pub use error::WriteError;
pub use normalize::{Problem, SchemaMismatch, conform_errors, conform_logs};
pub use searchable::{VALUE_SEPARATOR, searchable_text};
pub use small_file::{put_parquet, put_parquet_batches, storable};

use self::rolling::RollingFiles;
use super::json_values::{JsonRow, batch_to_rows};
use super::key::{AttemptFolder, FileKind};
use super::ngram::NgramIndexBuilder;
use super::schemas::{AttemptMetadata, errors_schema, index_schema, logs_schema};
use super::store::ArtifactStore;
use crate::model::Phase;

/// The writer's name and version, recorded in `metadata.parquet`.
pub const WRITER_NAME: &str = concat!("dagtrail ", env!("CARGO_PKG_VERSION"));

/// Compression codec of the written files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Codec {
    /// zstd level 1: about snappy's speed, markedly smaller files.
    #[default]
    Zstd,
    /// Snappy: the most widely supported codec.
    Snappy,
    /// No compression.
    None,
}

/// Sizes and codec of the files an attempt is written in.
#[derive(Debug, Clone)]
pub struct WriterOptions {
    /// Data rows per `data_NNN.parquet` before rolling to the next file.
    pub rows_per_file: usize,
    /// Error or log rows per `errors_NNN` / `logs_NNN` file.
    pub log_rows_per_file: usize,
    /// Rows per row group (the unit of concurrent reads).
    pub row_group_rows: usize,
    /// Encoded bytes per row group at most: bounds memory for wide rows.
    pub row_group_bytes: usize,
    /// Rows per data page (the unit a reader decodes to reach one row).
    pub page_rows: usize,
    /// Compression codec.
    pub codec: Codec,
    /// Data rows copied into the run index (the contract caps it at 100).
    pub inline_rows: usize,
}

impl Default for WriterOptions {
    fn default() -> Self {
        Self {
            rows_per_file: 100_000,
            log_rows_per_file: 1_000_000,
            row_group_rows: 65_536,
            row_group_bytes: 32 * 1024 * 1024,
            page_rows: 1_000,
            codec: Codec::Zstd,
            inline_rows: 100,
        }
    }
}

impl WriterOptions {
    /// The Parquet writer properties for these options: page statistics and
    /// the offset index on, so readers can fetch single pages.
    pub fn properties(&self) -> WriterProperties {
        let compression = match self.codec {
            Codec::Zstd => ZstdLevel::try_new(1).map_or(Compression::SNAPPY, Compression::ZSTD),
            Codec::Snappy => Compression::SNAPPY,
            Codec::None => Compression::UNCOMPRESSED,
        };
        WriterProperties::builder()
            .set_compression(compression)
            .set_max_row_group_row_count(Some(self.row_group_rows.max(1)))
            .set_max_row_group_bytes(Some(self.row_group_bytes.max(1024 * 1024)))
            .set_data_page_row_count_limit(self.page_rows.max(1))
            .set_write_batch_size(self.page_rows.clamp(1, 1024))
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_offset_index_disabled(false)
            .set_created_by(WRITER_NAME.to_owned())
            .build()
    }

    /// The properties for files of `schema`'s columns: as
    /// [`WriterOptions::properties`], with each column's open page and
    /// dictionary bounded so that all of them together stay near
    /// [`OPEN_PAGES_BYTES`] (a writer keeps one of each per leaf column: at
    /// the default 1 MiB each, 1,000 columns of distinct values held 1 GB).
    pub fn properties_for(&self, schema: &arrow_schema::Schema) -> WriterProperties {
        let leaves: usize = schema
            .fields()
            .iter()
            .map(|f| crate::ingest::limits::leaves(f.data_type()))
            .sum::<usize>()
            .max(1);
        let per_column = (OPEN_PAGES_BYTES / leaves).clamp(16 * 1024, 1024 * 1024);
        self.properties()
            .into_builder()
            .set_data_page_size_limit(per_column)
            .set_dictionary_page_size_limit(per_column)
            .build()
    }

    /// The logs files' properties: `level` is left uncompressed. Its pages
    /// hold dictionary keys of a few values, a few hundred bytes each, which
    /// compression cannot shrink further but every level filter then
    /// decompressed page by page (most of a filter's time in profiles).
    fn logs_properties(&self) -> WriterProperties {
        self.properties()
            .into_builder()
            .set_column_compression(ColumnPath::from("level"), Compression::UNCOMPRESSED)
            .build()
    }

    fn index_properties(&self) -> WriterProperties {
        // `_searchable` is unique text: a dictionary would only cost, and
        // plain pages keep the values contiguous for the substring scan.
        let mut props = self.properties().into_builder();
        props = props.set_column_dictionary_enabled(ColumnPath::from("_searchable"), false);
        // Every keyword search decompresses all of `_searchable` (less what
        // the skipping index rules out): LZ4 decompresses several times
        // faster than zstd, for a somewhat larger file (docs/PERFORMANCE.md).
        if self.codec != Codec::None {
            props =
                props.set_column_compression(ColumnPath::from("_searchable"), Compression::LZ4_RAW);
        }
        props.build()
    }
}

/// Bytes of the first rows copied into the run index at most (with at
/// most [`WriterOptions::inline_rows`] rows): a phase's first rows are a
/// preview, and a hundred rows of a megabyte each would put 100 MB in the
/// run index and in the memory of every answer that reads it.
pub const INLINE_BYTES: u64 = 1024 * 1024;

/// How many of `rows`' first rows fit in what is left of
/// [`INLINE_BYTES`] after `used` (their bytes added to it); always the
/// first row when nothing is used yet, so that a phase shows a row.
pub fn inline_take(rows: &RecordBatch, used: &mut u64) -> usize {
    let mut take = 0;
    for size in crate::ingest::limits::row_bytes(rows) {
        if *used > 0 && used.saturating_add(size) > INLINE_BYTES {
            *used = INLINE_BYTES;
            break;
        }
        *used = used.saturating_add(size);
        take += 1;
    }
    take
}

/// Bytes of the pages a writer holds open, all columns together, that
/// [`WriterOptions::properties_for`] aims at.
pub const OPEN_PAGES_BYTES: usize = 32 * 1024 * 1024;

/// How a phase attempt ended (the `status` of the run index, and times).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PhaseOutcome {
    /// `Some(true)` success, `Some(false)` failure, `None` still running.
    pub success: Option<bool>,
    /// Status message.
    pub message: String,
    /// Rows the phase produced, when the pipeline counts them differently
    /// from the data rows written (defaults to the data rows).
    pub total: Option<i64>,
    /// Start time.
    pub started_at: Option<DateTime<Utc>>,
    /// End time.
    pub finished_at: Option<DateTime<Utc>>,
}

/// A committed attempt: its metadata and the first data rows as JSON.
#[derive(Debug, Clone)]
pub struct CommittedAttempt {
    /// The `metadata.parquet` row.
    pub metadata: AttemptMetadata,
    /// The first [`WriterOptions::inline_rows`] data rows.
    pub inline_rows: Vec<JsonRow>,
}

/// Writes one phase attempt. Dropping it without [`AttemptWriter::commit`]
/// leaves no attempt for readers; [`AttemptWriter::abort`] also deletes
/// the files written so far.
pub struct AttemptWriter {
    store: Arc<dyn ObjectStore>,
    folder: AttemptFolder,
    phase: Phase,
    attempt: u32,
    options: WriterOptions,
    data: Option<RollingFiles>,
    index: Option<AsyncArrowWriter<BufWriter>>,
    /// The keyword skipping index of `index.parquet`, built as its rows
    /// are written (`artifacts::ngram`).
    ngrams: NgramIndexBuilder,
    errors: RollingFiles,
    logs: RollingFiles,
    inline: Vec<JsonRow>,
    /// Bytes of the rows in `inline` ([`INLINE_BYTES`] at most).
    inline_bytes: u64,
    error_count: i64,
    log_count: i64,
    error_log_count: i64,
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl AttemptWriter {
    /// Starts an attempt; fails when it is already committed.
    ///
    /// # Errors
    ///
    /// [`WriteError::AlreadyCommitted`] when the attempt's
    /// `metadata.parquet` exists; [`WriteError::Store`] when the store
    /// cannot tell, or the files of an earlier, uncommitted try cannot be
    /// listed or deleted.
    pub async fn create(
        store: &ArtifactStore,
        folder: AttemptFolder,
        phase: Phase,
        attempt: u32,
        options: WriterOptions,
    ) -> Result<Self, WriteError> {
        let object_store = Arc::clone(store.object_store());
        let metadata = folder.metadata();
        match object_store.head(&metadata).await {
            Ok(_) => {
                return Err(WriteError::AlreadyCommitted {
                    key: metadata.to_string(),
                    attempt,
                });
            }
            Err(object_store::Error::NotFound { .. }) => {}
            Err(source) => {
                return Err(WriteError::Store {
                    key: metadata.to_string(),
                    source,
                });
            }
        }
        clear_leftovers(store, &folder).await?;
        let props = options.properties();
        let errors = RollingFiles::new(
            Arc::clone(&object_store),
            folder.clone(),
            FileKind::Errors,
            errors_schema(),
            props.clone(),
            options.log_rows_per_file,
        );
        let logs = RollingFiles::new(
            Arc::clone(&object_store),
            folder.clone(),
            FileKind::Logs,
            logs_schema(),
            options.logs_properties(),
            options.log_rows_per_file,
        );
        Ok(Self {
            store: object_store,
            folder,
            phase,
            attempt,
            ngrams: NgramIndexBuilder::new(options.row_group_rows),
            options,
            data: None,
            index: None,
            errors,
            logs,
            inline: Vec::new(),
            inline_bytes: 0,
            error_count: 0,
            log_count: 0,
            error_log_count: 0,
        })
    }

    /// The attempt's folder.
    pub fn folder(&self) -> &AttemptFolder {
        &self.folder
    }

    fn index_writer(&mut self) -> Result<&mut AsyncArrowWriter<BufWriter>, WriteError> {
        if self.index.is_none() {
            let key = self.folder.index_parquet();
            let sink = BufWriter::new(Arc::clone(&self.store), key.clone());
            let writer = AsyncArrowWriter::try_new(
                sink,
                index_schema(),
                Some(self.options.index_properties()),
            )
            .map_err(|source| WriteError::Parquet {
                key: key.to_string(),
                source,
            })?;
            self.index = Some(writer);
        }
        self.index.as_mut().ok_or_else(|| {
            WriteError::Arrow(ArrowError::InvalidArgumentError(
                "index writer missing".into(),
            ))
        })
    }

    /// Sets the data schema without writing rows (an empty phase still
    /// shows its columns).
    pub fn set_data_schema(&mut self, schema: SchemaRef) {
        if self.data.is_none() {
            self.data = Some(RollingFiles::new(
                Arc::clone(&self.store),
                self.folder.clone(),
                FileKind::Data,
                Arc::clone(&schema),
                self.options.properties_for(&schema),
                self.options.rows_per_file,
            ));
        }
    }

    /// Appends data rows. Every batch must have the first batch's schema.
    ///
    /// # Errors
    ///
    /// [`WriteError::SchemaChanged`] when the batch's fields differ from
    /// the first batch's; [`WriteError::Parquet`] when encoding or
    /// uploading a data or index file fails; [`WriteError::Arrow`] when a
    /// column cannot be made storable or the index rows cannot be built.
    pub async fn write_data(&mut self, batch: &RecordBatch) -> Result<(), WriteError> {
        let storable = storable(batch)?;
        let batch = &storable;
        self.set_data_schema(batch.schema());
        let Some(data) = self.data.as_mut() else {
            return Ok(());
        };
        if data.schema().fields() != batch.schema().fields() {
            return Err(WriteError::SchemaChanged {
                expected: data.schema().to_string(),
                got: batch.schema().to_string(),
            });
        }
        if self.inline.len() < self.options.inline_rows && self.inline_bytes < INLINE_BYTES {
            let take = (self.options.inline_rows - self.inline.len()).min(batch.num_rows());
            let take = inline_take(&batch.slice(0, take), &mut self.inline_bytes);
            self.inline.extend(batch_to_rows(&batch.slice(0, take)));
        }
        let placed = data.write(batch).await?;
        for (place, slice) in placed {
            let n = slice.num_rows();
            let file = i32::try_from(place.file).unwrap_or(i32::MAX);
            let first = count(place.first_row);
            let searchable = searchable_text(&slice);
            for text in &searchable {
                self.ngrams.add(text);
            }
            let index = RecordBatch::try_new(
                index_schema(),
                vec![
                    Arc::new(Int32Array::from(vec![file; n])),
                    Arc::new(Int64Array::from_iter_values(first..first + count(n))),
                    Arc::new(StringArray::from(searchable)),
                ],
            )?;
            let key = self.folder.index_parquet();
            self.index_writer()?
                .write(&index)
                .await
                .map_err(|source| WriteError::Parquet {
                    key: key.to_string(),
                    source,
                })?;
        }
        Ok(())
    }

    /// Appends error rows (conformed to the contract's errors schema). An
    /// error that names its data row by position (`_row` without `_file`:
    /// its 0-based place among the data rows written before it) gets the
    /// `_file` and `_row` that row landed in.
    ///
    /// # Errors
    ///
    /// [`WriteError::Schema`] when the rows cannot be conformed;
    /// [`WriteError::RowPosition`] for a position past the data written;
    /// [`WriteError::Parquet`] when encoding or uploading a file fails.
    pub async fn write_errors(&mut self, batch: &RecordBatch) -> Result<(), WriteError> {
        let batch = conform_errors(batch).map_err(|source| WriteError::Schema {
            what: "errors",
            source,
        })?;
        let (data_rows, rows_per_file) = self
            .data
            .as_ref()
            .map_or((0, self.options.rows_per_file), |d| {
                (d.rows_written(), d.rows_per_file())
            });
        let batch = row_positions::resolve(batch, data_rows, rows_per_file)?;
        self.error_count += count(batch.num_rows());
        self.errors.write(&batch).await?;
        Ok(())
    }

    /// Appends log rows (conformed to the contract's logs schema).
    ///
    /// # Errors
    ///
    /// [`WriteError::Schema`] when the rows cannot be conformed;
    /// [`WriteError::Parquet`] when encoding or uploading a file fails.
    pub async fn write_logs(&mut self, batch: &RecordBatch) -> Result<(), WriteError> {
        let batch = conform_logs(batch).map_err(|source| WriteError::Schema {
            what: "logs",
            source,
        })?;
        self.log_count += count(batch.num_rows());
        self.error_log_count += count(normalize::error_level_rows(&batch));
        self.logs.write(&batch).await?;
        Ok(())
    }

    /// Closes every file, then writes `metadata.parquet`: the commit.
    ///
    /// # Errors
    ///
    /// [`WriteError::Parquet`] when a file cannot be finished or the
    /// metadata cannot be encoded; [`WriteError::Store`] when the metadata
    /// PUT fails; [`WriteError::Arrow`] when the metadata row cannot be
    /// built. The attempt is then not committed.
    pub async fn commit(mut self, outcome: &PhaseOutcome) -> Result<CommittedAttempt, WriteError> {
        // An attempt without data rows still has an (empty) index.
        self.index_writer()?;
        let Self {
            store,
            folder,
            phase,
            attempt,
            options,
            data,
            index,
            ngrams,
            errors,
            logs,
            inline,
            inline_bytes: _,
            error_count,
            log_count,
            error_log_count,
        } = self;
        let data_file_rows = match data {
            Some(data) => data.finish(true).await?,
            None => Vec::new(),
        };
        if let Some(mut index) = index {
            if let Some(skipping) = ngrams.finish() {
                index.append_key_value_metadata(skipping);
            }
            index.finish().await.map_err(|source| WriteError::Parquet {
                key: folder.index_parquet().to_string(),
                source,
            })?;
        }
        let error_files = errors.finish(false).await?.len();
        let log_files = logs.finish(false).await?.len();
        let data_rows: i64 = data_file_rows.iter().sum();
        let small = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
        let metadata = AttemptMetadata {
            phase: phase.as_str().to_owned(),
            attempt: i32::try_from(attempt).unwrap_or(i32::MAX),
            success: outcome.success,
            message: outcome.message.clone(),
            total: outcome.total.unwrap_or(data_rows),
            started_at: outcome.started_at,
            finished_at: outcome.finished_at,
            duration_ms: match (outcome.started_at, outcome.finished_at) {
                (Some(s), Some(f)) => Some((f - s).num_milliseconds()),
                _ => None,
            },
            data_files: small(data_file_rows.len()),
            data_rows,
            data_file_rows,
            error_files: small(error_files),
            log_files: small(log_files),
            error_count,
            log_count,
            error_log_count,
            searchable_lowercase: true,
            writer: WRITER_NAME.to_owned(),
        };
        let key = folder.metadata();
        put_parquet(&store, &key, &metadata.to_batch()?, &options.properties()).await?;
        Ok(CommittedAttempt {
            metadata,
            inline_rows: inline,
        })
    }

    /// Gives up the attempt and deletes the files written so far (best
    /// effort: the attempt is invisible to readers either way).
    pub async fn abort(self) {
        let mut keys: Vec<Path> = Vec::new();
        if let Some(data) = &self.data {
            keys.extend_from_slice(data.started());
        }
        keys.extend_from_slice(self.errors.started());
        keys.extend_from_slice(self.logs.started());
        keys.push(self.folder.index_parquet());
        drop(self.index);
        for key in keys {
            if let Err(e) = self.store.delete(&key).await
                && !matches!(e, object_store::Error::NotFound { .. })
            {
                tracing::warn!(file = %key, error = %e, "cannot delete file of aborted attempt");
            }
        }
    }
}

/// Deletes what a writer that died before its commit left in the attempt's
/// folder. Readers never see those files (there is no `metadata.parquet`),
/// but a shorter re-run would otherwise leave stale `data_NNN` files beside
/// its own, and anyone listing the folder would be misled.
async fn clear_leftovers(store: &ArtifactStore, folder: &AttemptFolder) -> Result<(), WriteError> {
    let deleted = store.delete_prefix(folder.prefix(), None).await?;
    if deleted > 0 {
        tracing::warn!(
            folder = %folder.prefix(),
            files = deleted,
            "deleted the files of an attempt that was never committed"
        );
    }
    Ok(())
}
