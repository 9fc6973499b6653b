//! Keyword search over a data attempt through `index.parquet`: only the
//! `_file`, `_row` and `_searchable` columns are read, row groups are
//! scanned concurrently, and then only the matching rows are fetched from
//! the data files.

use std::collections::BTreeMap;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use futures::{StreamExt, TryStreamExt, future::try_join_all};
use object_store::path::Path;
use parquet::arrow::ProjectionMask;

use super::ReadError;
use super::attempt::AttemptReader;
use super::rows::{projection, read_ranges, row_group_stream, to_ranges};
use super::text::Needle;

/// Row groups of the index scanned at once.
const CONCURRENT_SCANS: usize = 4;

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

/// The (`_file`, `_row`) of every indexed row containing `keyword`, in order.
/// Row groups are scanned as separate tasks, so the scan uses every core.
pub(crate) async fn matching_rows(
    reader: &AttemptReader,
    keyword: &str,
) -> Result<Vec<(i64, i64)>, ReadError> {
    let key = reader.folder_index();
    let meta = reader.footer(&key).await?;
    let lowercase_stored = reader.metadata().searchable_lowercase;
    let needle = Needle::new(keyword);
    let mask = projection(&meta, Some(&["_file", "_row", "_searchable"]));
    let groups = meta.metadata().num_row_groups();
    let store = reader.store().clone();
    let per_group: Vec<Vec<(i64, i64)>> = futures::stream::iter(0..groups)
        .map(|group| {
            let stream = row_group_stream(&store, &key, &meta, group, None, mask.clone());
            let task_key = key.clone();
            let needle = needle.clone();
            let task = tokio::spawn(async move {
                let key = task_key;
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
                    let matched: Vec<usize> = if lowercase_stored {
                        needle.rows_in_lowercased(text)
                    } else {
                        needle.rows_in(text)
                    };
                    if matched.is_empty() {
                        continue;
                    }
                    let files = int_column(&batch, "_file", &key)?;
                    let rows = int_column(&batch, "_row", &key)?;
                    hits.extend(matched.into_iter().map(|i| (files[i], rows[i])));
                }
                Ok::<_, ReadError>(hits)
            });
            let key = key.clone();
            async move {
                task.await
                    .map_err(|e| ReadError::decode(&key, format!("scan task failed: {e}")))?
            }
        })
        .buffered(CONCURRENT_SCANS)
        .try_collect()
        .await?;
    Ok(per_group.into_iter().flatten().collect())
}

/// Fetches the given (`_file`, `_row`) rows from the data files, in order.
pub(crate) async fn fetch_rows(
    reader: &AttemptReader,
    keys: &[Path],
    wanted: &[(i64, i64)],
) -> Result<Vec<RecordBatch>, ReadError> {
    let mut by_file: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
    for (file, row) in wanted {
        let (Ok(file), Ok(row)) = (usize::try_from(*file), u64::try_from(*row)) else {
            return Err(ReadError::decode(
                &reader.folder_index(),
                "negative _file or _row",
            ));
        };
        by_file.entry(file).or_default().push(row);
    }
    let reads = by_file.into_iter().map(|(file, mut rows)| async move {
        let key = keys.get(file).ok_or_else(|| {
            ReadError::decode(
                &reader.folder_index(),
                format!("_file {file} is not a data file of this attempt"),
            )
        })?;
        rows.sort_unstable();
        let meta = reader.footer(key).await?;
        read_ranges(
            reader.store(),
            key,
            &meta,
            &to_ranges(&rows),
            ProjectionMask::all(),
        )
        .await
    });
    Ok(try_join_all(reads).await?.into_iter().flatten().collect())
}
