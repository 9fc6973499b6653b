//! Endpoint 7: pages of a phase attempt's log rows (`logs_NNN.parquet`,
//! contract 3), optionally filtered by level and message keyword, or every
//! kept row streamed as NDJSON.

use std::collections::HashSet;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int32Type;
use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch};
use arrow_schema::DataType;
use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt, future::try_join_all};
use object_store::ObjectStore;
use object_store::path::Path;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::RowSelection;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::attempt::{AttemptReader, PageRows};
use super::error::ReadError;
use super::page::{ParquetPage, locate};
use super::scan::scan_row_groups;
use super::text::Needle;
use crate::artifacts::FileError;
use crate::artifacts::json_lines::write_ndjson;
use crate::artifacts::key::FileKind;
use crate::artifacts::parquet_types::TypedFooter;
use crate::artifacts::rows::{
    RowGroupStream, dictionary_column_stream, file_rows, projection, read_ranges, row_group_starts,
    row_group_stream, to_ranges,
};
use crate::artifacts::schemas::logs_schema;

/// Which log rows to keep.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFilter {
    /// Upper-case levels to keep (`None`: all).
    pub levels: Option<HashSet<String>>,
    /// Keyword the message must contain (case-insensitively).
    pub keyword: Option<String>,
}

impl LogFilter {
    /// A filter from validated parameters.
    pub fn new(levels: Option<HashSet<String>>, keyword: Option<&str>) -> Self {
        Self {
            levels,
            keyword: keyword.filter(|k| !k.is_empty()).map(str::to_owned),
        }
    }

    /// Whether the filter keeps every row.
    pub fn is_empty(&self) -> bool {
        self.levels.is_none() && self.keyword.is_none()
    }

    /// Whether a level passes the level filter.
    fn level_passes(&self, level: &str) -> bool {
        match &self.levels {
            None => true,
            Some(set) => set.iter().any(|l| l.eq_ignore_ascii_case(level)),
        }
    }

    /// The rows of a `level` column that pass the level filter. A
    /// dictionary column is tested once per distinct value, then by key.
    fn level_rows(&self, levels: &ArrayRef, key: &Path) -> Result<Vec<usize>, ReadError> {
        if let Some(dictionary) = levels.as_dictionary_opt::<Int32Type>()
            && let Some(values) = dictionary.values().as_string_opt::<i32>()
        {
            let passes: Vec<bool> = (0..values.len())
                .map(|v| values.is_valid(v) && self.level_passes(values.value(v)))
                .collect();
            let keys = dictionary.keys();
            let passes_key = |k: i32| {
                usize::try_from(k)
                    .ok()
                    .and_then(|k| passes.get(k).copied())
                    .unwrap_or(false)
            };
            // One pass over the keys buffer; the validity bitmap only when
            // the column has nulls.
            let rows = keys.values().iter().enumerate();
            return Ok(match keys.nulls().filter(|n| n.null_count() > 0) {
                None => rows
                    .filter(|(_, k)| passes_key(**k))
                    .map(|(i, _)| i)
                    .collect(),
                Some(nulls) => rows
                    .filter(|(i, k)| nulls.is_valid(*i) && passes_key(**k))
                    .map(|(i, _)| i)
                    .collect(),
            });
        }
        let text = as_text(levels, key)?;
        let text = text.as_string::<i32>();
        Ok((0..text.len())
            .filter(|i| text.is_valid(*i) && self.level_passes(text.value(*i)))
            .collect())
    }

    /// Which rows of a batch (holding `level` and `message`) to keep.
    fn mask(&self, batch: &RecordBatch, key: &Path) -> Result<BooleanArray, ReadError> {
        let mut keep = vec![self.levels.is_none(); batch.num_rows()];
        if self.levels.is_some() {
            for row in self.level_rows(column(batch, "level", key)?, key)? {
                keep[row] = true;
            }
        }
        if let Some(keyword) = self.keyword.as_deref() {
            let messages = as_text(column(batch, "message", key)?, key)?;
            let mut found = vec![false; keep.len()];
            for row in Needle::new(keyword).rows_in(messages.as_string::<i32>()) {
                found[row] = true;
            }
            keep.iter_mut().zip(found).for_each(|(k, f)| *k &= f);
        }
        Ok(keep.into_iter().map(Some).collect())
    }
}

/// Column `name` of a batch of a logs file.
fn column<'a>(batch: &'a RecordBatch, name: &str, key: &Path) -> Result<&'a ArrayRef, ReadError> {
    batch
        .column_by_name(name)
        .ok_or_else(|| ReadError::decode(key, format!("logs file has no {name} column")))
}

/// A text column as `Utf8` (files from other writers may use large or
/// view strings, or dictionaries).
fn as_text(column: &ArrayRef, key: &Path) -> Result<ArrayRef, ReadError> {
    arrow_cast::cast(column, &DataType::Utf8).map_err(|e| ReadError::decode(key, e.to_string()))
}

/// The rows (group-local) of one column's stream that `test` picks from
/// each batch (as indices into it), where the stream yields the rows
/// listed in `rows` (all rows when `None`).
async fn rows_passing(
    mut stream: RowGroupStream,
    name: &str,
    key: &Path,
    rows: Option<&[u64]>,
    test: impl Fn(&ArrayRef) -> Result<Vec<usize>, ReadError>,
) -> Result<Vec<u64>, ReadError> {
    let mut hits = Vec::new();
    let mut at = 0usize;
    while let Some(batch) = stream
        .try_next()
        .await
        .map_err(|e| ReadError::from_parquet(key, e))?
    {
        for i in test(column(&batch, name, key)?)? {
            let row = match rows {
                None => Some((at + i) as u64),
                Some(rows) => rows.get(at + i).copied(),
            };
            hits.extend(row);
        }
        at += batch.num_rows();
    }
    Ok(hits)
}

/// Rows of one row group (group-local numbers) that pass the filter. With
/// a level filter the small `level` column is read first, and `message`
/// only for the rows whose level passed: its pages without such rows are
/// not fetched, and the others decode only those rows.
async fn kept_rows_of_group(
    store: Arc<dyn ObjectStore>,
    key: Path,
    meta: TypedFooter,
    group: usize,
    filter: LogFilter,
) -> Result<Vec<u64>, ReadError> {
    let level_rows = match &filter.levels {
        None => None,
        Some(_) => {
            let stream = dictionary_column_stream(&store, &key, &meta, group, "level")?;
            let test = |levels: &ArrayRef| filter.level_rows(levels, &key);
            Some(rows_passing(stream, "level", &key, None, test).await?)
        }
    };
    let Some(keyword) = filter.keyword.as_deref() else {
        return Ok(level_rows.unwrap_or_default());
    };
    let selection = match &level_rows {
        Some(rows) if rows.is_empty() => return Ok(Vec::new()),
        Some(rows) => {
            let group_rows = meta.metadata().row_group(group).num_rows();
            let group_rows = usize::try_from(group_rows).unwrap_or(0);
            let ranges = to_ranges(rows)
                .into_iter()
                .map(|r| r.start as usize..r.end as usize);
            Some(RowSelection::from_consecutive_ranges(ranges, group_rows))
        }
        None => None,
    };
    let needle = Needle::new(keyword);
    let mask = projection(&meta, Some(&["message"]));
    let stream = row_group_stream(&store, &key, &meta, group, selection, mask)?;
    rows_passing(stream, "message", &key, level_rows.as_deref(), |c| {
        Ok(needle.rows_in(as_text(c, &key)?.as_string::<i32>()))
    })
    .await
}

impl AttemptReader {
    /// The logs files' keys.
    fn log_keys(&self) -> Vec<Path> {
        self.keys(FileKind::Logs, self.metadata().log_files)
    }

    /// Page `page` of `limit` of the log rows that `filter` keeps
    /// (endpoint 7); `total` counts every kept row.
    ///
    /// # Errors
    ///
    /// [`ReadError::Decode`] naming a file that does not have the
    /// contract's logs schema or cannot be decoded; a store error.
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
        let per_file = try_join_all(keys.iter().map(|k| self.kept_rows_of_file(k, filter))).await?;
        let total: u64 = per_file.iter().map(|v| v.len() as u64).sum();
        let counts: Vec<u64> = per_file.iter().map(|v| v.len() as u64).collect();
        let reads = locate(&counts, page, limit).into_iter().map(|(i, kept)| {
            let ranges = to_ranges(&per_file[i][kept.start as usize..kept.end as usize]);
            let key = &keys[i];
            async move {
                let meta = self.footer(key).await?;
                Ok::<_, ReadError>(
                    read_ranges(self.store(), key, &meta, &ranges, ProjectionMask::all()).await?,
                )
            }
        });
        let batches: Vec<RecordBatch> = try_join_all(reads).await?.into_iter().flatten().collect();
        let rows = PageRows {
            batches: &batches,
            total,
        };
        // An empty filtered page shows the contract's columns.
        self.page_from(rows, &[], Some(schema), page, limit).await
    }

    /// Every log row that `filter` keeps as NDJSON, streamed as it is read
    /// (endpoint 7 with `Accept: application/x-ndjson`). A producer task
    /// reads row groups (the next one fetched while the current one is
    /// encoded) into a small channel: memory stays bounded by a few row
    /// groups, a client that leaves stops the producer, and so does
    /// `cancel` (the HTTP layer cancels a stream whose client stopped
    /// reading).
    ///
    /// # Errors
    ///
    /// Before the first byte (so a missing or foreign file is an error
    /// status, not a cut stream): [`ReadError::Decode`] naming a file that
    /// does not have the contract's logs schema; a store error reading
    /// the footers. Later failures end the stream with an error item.
    pub async fn logs_ndjson(
        &self,
        filter: LogFilter,
        cancel: CancellationToken,
    ) -> Result<impl Stream<Item = Result<Bytes, ReadError>> + Send + 'static + use<>, ReadError>
    {
        let keys = self.log_keys();
        let footers = self.footers_conforming(&keys, &logs_schema()).await?;
        let (tx, rx) = mpsc::channel::<Result<Bytes, ReadError>>(4);
        let reader = self.clone();
        let produce = async move {
            for (key, meta) in keys.iter().zip(&footers) {
                if !send_file(&reader, key, meta, &filter, &tx).await {
                    return;
                }
            }
        };
        // `cancel` ends the producer and frees what it holds, also while it
        // waits for a client that does not read.
        tokio::spawn(async move {
            tokio::select! {
                () = produce => {}
                () = cancel.cancelled() => {}
            }
        });
        Ok(futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        }))
    }

    /// Rows of one file (file-local numbers) that pass the filter.
    async fn kept_rows_of_file(
        &self,
        key: &Path,
        filter: &LogFilter,
    ) -> Result<Vec<u64>, ReadError> {
        let meta = self.footer(key).await?;
        let starts = row_group_starts(&meta);
        let groups = scan_row_groups(key, meta.metadata().num_row_groups(), |group| {
            let kept = kept_rows_of_group(
                Arc::clone(self.store()),
                key.clone(),
                meta.clone(),
                group,
                filter.clone(),
            );
            let first_row = starts[group];
            async move {
                Ok(kept
                    .await?
                    .into_iter()
                    .map(|r| first_row + r)
                    .collect::<Vec<_>>())
            }
        })
        .await?;
        Ok(groups.into_iter().flatten().collect())
    }
}

/// Encodes the kept rows of a batch as NDJSON lines.
fn encode(batch: &RecordBatch, filter: &LogFilter, key: &Path) -> Result<Option<Bytes>, ReadError> {
    let batch = if filter.is_empty() {
        batch.clone()
    } else {
        let keep = filter.mask(batch, key)?;
        arrow_select::filter::filter_record_batch(batch, &keep)
            .map_err(|e| ReadError::decode(key, e.to_string()))?
    };
    if batch.num_rows() == 0 {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(batch.num_rows() * 128);
    write_ndjson(&batch, &mut out);
    Ok(Some(Bytes::from(out)))
}

/// Sends the kept rows of one file down `tx`; false when the stream is
/// over (the client left, or an error was sent).
async fn send_file(
    reader: &AttemptReader,
    key: &Path,
    meta: &TypedFooter,
    filter: &LogFilter,
    tx: &mpsc::Sender<Result<Bytes, ReadError>>,
) -> bool {
    if file_rows(meta) == 0 {
        return true;
    }
    let groups = (0..meta.metadata().num_row_groups())
        .map(|g| row_group_stream(reader.store(), key, meta, g, None, ProjectionMask::all()));
    let mut batches = futures::stream::iter(groups)
        .map(|stream: Result<RowGroupStream, FileError>| async move {
            stream?
                .map_err(|e| ReadError::from_parquet(key, e))
                .try_collect::<Vec<_>>()
                .await
        })
        .buffered(2);
    while let Some(group) = batches.next().await {
        let group = match group {
            Ok(group) => group,
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return false;
            }
        };
        for batch in &group {
            match encode(batch, filter, key) {
                Ok(Some(bytes)) => {
                    if tx.send(Ok(bytes)).await.is_err() {
                        return false;
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return false;
                }
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use arrow_array::{DictionaryArray, StringArray};

    use super::*;

    #[test]
    fn a_dictionary_level_column_passes_the_rows_its_text_would() {
        let filter = LogFilter::new(
            Some(
                ["error".to_owned(), "WARNING".to_owned()]
                    .into_iter()
                    .collect(),
            ),
            None,
        );
        let text: ArrayRef = Arc::new(StringArray::from(vec![
            Some("INFO"),
            Some("ERROR"),
            None,
            Some("Warning"),
            Some("error"),
            Some("DEBUG"),
        ]));
        let dictionary: DictionaryArray<Int32Type> = arrow_cast::cast(
            &text,
            &DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
        )
        .unwrap()
        .as_dictionary::<Int32Type>()
        .clone();
        let dictionary: ArrayRef = Arc::new(dictionary);
        let key = Path::from("logs_000.parquet");
        let by_text = filter.level_rows(&text, &key).unwrap();
        assert_eq!(by_text, [1, 3, 4]);
        assert_eq!(filter.level_rows(&dictionary, &key).unwrap(), by_text);
    }
}
