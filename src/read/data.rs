//! Endpoint 5: pages of a phase attempt's data rows, the data files read
//! as one sequence; with a keyword, the rows are found through
//! `index.parquet` (contract 3): only its `_file`, `_row` and
//! `_searchable` columns are scanned, row groups as concurrent tasks, and
//! then only the matching rows are fetched from the data files.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use futures::TryStreamExt;
use futures::future::try_join_all;
use object_store::path::Path;
use parquet::arrow::ProjectionMask;

use super::attempt::{AttemptReader, PageRows};
use super::error::ReadError;
use super::page::{ParquetPage, locate};
use super::scan::scan_row_groups;
use super::text::Needle;
use crate::artifacts::key::FileKind;
use crate::artifacts::ngram::NgramIndex;
use crate::artifacts::parquet_types::TypedFooter;
use crate::artifacts::rows::{
    projection, read_ranges, row_group_starts, row_group_stream, to_ranges,
};
use crate::artifacts::writer::{VALUE_SEPARATOR, WRITER_NAME};

/// Row groups of `index.parquet` a data keyword search read or skipped
/// (by our writer's skipping index), by `result`.
pub const KEYWORD_ROW_GROUPS: &str = "dagtrail_keyword_row_groups_total";

/// Where a data row lives: its file's number and its row in that file, as
/// `index.parquet`'s `_file` and `_row` say.
type RowPlace = (i64, i64);

impl AttemptReader {
    /// Page `page` of `limit` data rows (endpoint 5), located through
    /// `data_file_rows` of `metadata.parquet` and the files' footers.
    ///
    /// # Errors
    ///
    /// [`ReadError::Decode`] naming a data file that holds fewer rows than
    /// `metadata.parquet` counts or cannot be decoded; a store error.
    pub async fn data_page(&self, page: u64, limit: u32) -> Result<ParquetPage, ReadError> {
        let keys = self.keys(FileKind::Data, self.metadata().data_files);
        let rows: Vec<u64> = self
            .metadata()
            .data_file_rows
            .iter()
            .map(|n| u64::try_from(*n).unwrap_or(0))
            .collect();
        self.page_of(&keys, &rows, None, page, limit).await
    }

    /// The 0-based place among the attempt's data rows (what
    /// [`Self::data_page`] pages through) of row `row` of data file `file`:
    /// the data row an error's `_file` and `_row` name. `None` when the
    /// attempt has no such row.
    pub fn data_row_of(&self, file: i64, row: i64) -> Option<u64> {
        let counts = &self.metadata().data_file_rows;
        let file = usize::try_from(file).ok()?;
        let inside = *counts.get(file)?;
        if row < 0 || row >= inside {
            return None;
        }
        let before: i64 = counts[..file].iter().sum();
        u64::try_from(before.checked_add(row)?).ok()
    }

    /// Page `page` of `limit` of the data rows whose `_searchable` text
    /// contains `keyword` (case-insensitive, literal, under
    /// [`crate::casefold`]), in (`_file`, `_row`) order; `total` counts
    /// every match.
    ///
    /// # Errors
    ///
    /// [`ReadError::Decode`] naming `index.parquet` when it lacks a column
    /// or points at no row of the data files, or a file that cannot be
    /// decoded; a store error.
    pub async fn search_data(
        &self,
        keyword: &str,
        page: u64,
        limit: u32,
    ) -> Result<ParquetPage, ReadError> {
        Ok(self.search_data_placed(keyword, page, limit).await?.0)
    }

    /// [`Self::search_data`], with each hit's place among the attempt's
    /// data rows ([`Self::data_row_of`]): the explorer numbers hits by
    /// their data row and links each to its place in the whole data.
    ///
    /// # Errors
    ///
    /// As [`Self::search_data`].
    pub async fn search_data_placed(
        &self,
        keyword: &str,
        page: u64,
        limit: u32,
    ) -> Result<(ParquetPage, Vec<Option<u64>>), ReadError> {
        // An attempt without data rows may have no index at all: there is
        // nothing to search. A keyword holding the separator `_searchable`
        // puts between a row's values would match across two of them.
        let hits = if self.metadata().data_rows == 0 || keyword.contains(VALUE_SEPARATOR) {
            Vec::new()
        } else {
            self.matching_rows(keyword).await?
        };
        let total = hits.len() as u64;
        let wanted = match locate(&[total], page, limit).first() {
            Some((_, range)) => &hits[range.start as usize..range.end as usize],
            None => &[],
        };
        let places = wanted
            .iter()
            .map(|(file, row)| self.data_row_of(*file, *row))
            .collect();
        let keys = self.keys(FileKind::Data, self.metadata().data_files);
        let batches = self.fetch_rows(&keys, wanted).await?;
        let rows = PageRows {
            batches: &batches,
            total,
        };
        Ok((
            self.page_from(rows, &keys, None, page, limit).await?,
            places,
        ))
    }

    /// The skipping index of `index.parquet` (`key`), parsed once and
    /// cached; `None` when the file has none.
    fn ngram_index(&self, key: &Path, meta: &TypedFooter) -> Option<Arc<NgramIndex>> {
        let cache_key = format!("{key}#ngrams");
        if let Some(index) = self.cache.ngrams(&cache_key) {
            return Some(index);
        }
        let parsed = Arc::new(NgramIndex::from_metadata(
            meta.metadata().file_metadata().key_value_metadata(),
        )?);
        self.cache.put_ngrams(cache_key, Arc::clone(&parsed));
        Some(parsed)
    }

    /// The place of every indexed row containing `keyword`, in order.
    async fn matching_rows(&self, keyword: &str) -> Result<Vec<RowPlace>, ReadError> {
        let key = self.index_parquet();
        let meta = self.footer(&key).await?;
        let lowercase_stored = self.metadata().searchable_lowercase;
        let needle = Needle::new(keyword);
        // Our writer puts index row `i` at data row `i` of the attempt (in
        // file order): then `_file` and `_row` follow from `data_file_rows`
        // and need not be decoded, a tenth of a scan in profiles. Any
        // other writer's are read.
        let ours = meta
            .metadata()
            .file_metadata()
            .created_by()
            .is_some_and(|by| by == WRITER_NAME)
            && i64::try_from(crate::artifacts::rows::file_rows(&meta)).ok()
                == Some(self.metadata().data_rows);
        let placed_by_position = ours.then(|| {
            let mut starts = vec![0i64];
            for rows in &self.metadata().data_file_rows {
                starts.push(starts.last().copied().unwrap_or(0).saturating_add(*rows));
            }
            Arc::new(starts)
        });
        let columns: &[&str] = if ours {
            &["_searchable"]
        } else {
            &["_file", "_row", "_searchable"]
        };
        let mask = projection(&meta, Some(columns));
        let store = self.store();
        // Our writer's skipping index rules out the row groups that cannot
        // hold the keyword's lowercased bytes nor another lowercase form of
        // its characters (a foreign file has none).
        let skipping = if lowercase_stored {
            let (form, variants) = needle.lowercased_forms();
            self.ngram_index(&key, &meta)
                .map(|index| (index, form.as_bytes().to_vec(), variants.to_vec()))
        } else {
            None
        };
        let starts = row_group_starts(&meta);
        let per_group = scan_row_groups(&key, meta.metadata().num_row_groups(), |group| {
            let rows = starts[group]..starts[group + 1];
            let skip = skipping
                .as_ref()
                .is_some_and(|(index, form, variants)| !index.may_contain(rows, form, variants));
            metrics::counter!(
                KEYWORD_ROW_GROUPS,
                "result" => if skip { "skipped" } else { "scanned" }
            )
            .increment(1);
            let stream =
                (!skip).then(|| row_group_stream(store, &key, &meta, group, None, mask.clone()));
            let (key, needle) = (key.clone(), needle.clone());
            let placed_by_position = placed_by_position.clone();
            let mut at = starts[group];
            async move {
                let Some(stream) = stream else {
                    return Ok(Vec::new());
                };
                let mut stream = stream?;
                let mut hits = Vec::new();
                while let Some(batch) = stream
                    .try_next()
                    .await
                    .map_err(|e| ReadError::from_parquet(&key, e))?
                {
                    let text = batch.column_by_name("_searchable").ok_or_else(|| {
                        ReadError::decode(&key, "index has no _searchable column")
                    })?;
                    let text = arrow_cast::cast(text, &DataType::Utf8)
                        .map_err(|e| ReadError::decode(&key, e.to_string()))?;
                    let text = text.as_string::<i32>();
                    let matched = if lowercase_stored {
                        needle.rows_in_lowercased(text)
                    } else {
                        needle.rows_in(text)
                    };
                    let first = at;
                    at += batch.num_rows() as u64;
                    if matched.is_empty() {
                        continue;
                    }
                    if let Some(file_starts) = &placed_by_position {
                        hits.extend(
                            matched
                                .into_iter()
                                .map(|i| place_of(file_starts, first + i as u64)),
                        );
                        continue;
                    }
                    let files = int_column(&batch, "_file", &key)?;
                    let rows = int_column(&batch, "_row", &key)?;
                    hits.extend(matched.into_iter().map(|i| (files[i], rows[i])));
                }
                Ok(hits)
            }
        })
        .await?;
        Ok(per_group.into_iter().flatten().collect())
    }

    /// Fetches the rows at `wanted` from the data files `keys`, in order.
    async fn fetch_rows(
        &self,
        keys: &[Path],
        wanted: &[RowPlace],
    ) -> Result<Vec<RecordBatch>, ReadError> {
        let mut by_file: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
        for (file, row) in wanted {
            let (Ok(file), Ok(row)) = (usize::try_from(*file), u64::try_from(*row)) else {
                return Err(ReadError::decode(
                    &self.index_parquet(),
                    "negative _file or _row",
                ));
            };
            by_file.entry(file).or_default().push(row);
        }
        let reads = by_file.into_iter().map(|(file, mut rows)| async move {
            let key = keys.get(file).ok_or_else(|| {
                ReadError::decode(
                    &self.index_parquet(),
                    format!("_file {file} is not a data file of this attempt"),
                )
            })?;
            rows.sort_unstable();
            let meta = self.footer(key).await?;
            read_ranges(
                self.store(),
                key,
                &meta,
                &to_ranges(&rows),
                ProjectionMask::all(),
            )
            .await
            .map_err(ReadError::from)
        });
        Ok(try_join_all(reads).await?.into_iter().flatten().collect())
    }
}

/// The `(_file, _row)` of data row `row` of an attempt whose files start
/// at the rows `file_starts` (ascending, from 0, then the total).
fn place_of(file_starts: &[i64], row: u64) -> RowPlace {
    let row = i64::try_from(row).unwrap_or(i64::MAX);
    let file = file_starts.partition_point(|s| *s <= row).saturating_sub(1);
    let first = file_starts.get(file).copied().unwrap_or(0);
    (i64::try_from(file).unwrap_or(i64::MAX), row - first)
}

/// An integer column of an `index.parquet` batch, without nulls.
fn int_column(batch: &RecordBatch, name: &str, key: &Path) -> Result<Vec<i64>, ReadError> {
    let column = batch
        .column_by_name(name)
        .ok_or_else(|| ReadError::decode(key, format!("index has no {name} column")))?;
    let column = arrow_cast::cast(column, &DataType::Int64)
        .map_err(|e| ReadError::decode(key, e.to_string()))?;
    let column = column.as_primitive::<Int64Type>();
    if column.null_count() > 0 {
        return Err(ReadError::decode(
            key,
            format!("index column {name} holds nulls"),
        ));
    }
    Ok(column.values().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_row_is_placed_in_its_file_empty_files_skipped() {
        // Files of 100, 0, 100 and 50 rows.
        let starts = [0, 100, 100, 200, 250];
        assert_eq!(place_of(&starts, 0), (0, 0));
        assert_eq!(place_of(&starts, 99), (0, 99));
        assert_eq!(place_of(&starts, 100), (2, 0));
        assert_eq!(place_of(&starts, 199), (2, 99));
        assert_eq!(place_of(&starts, 200), (3, 0));
        assert_eq!(place_of(&starts, 249), (3, 49));
    }
}
