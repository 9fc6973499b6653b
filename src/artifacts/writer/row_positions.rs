//! An error row may name its data row the way a pipeline knows it: by its
//! 0-based position among every data row of the attempt, in the order
//! they were written (`_row` given, `_file` left null). The writer
//! resolves it to the contract's `_file` and `_row` (the file the row
//! landed in, and its row there), since only the writer knows where it
//! split the rows into `data_NNN.parquet` files. An error that gives
//! `_file` keeps its `_row` as that file's row, as the contract says.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type};
use arrow_array::{Array, Int32Array, Int64Array, RecordBatch};

use super::WriteError;

/// `errors` (conformed to the contract's schema) with every position
/// resolved: `_row` = `p` with `_file` null becomes `_file` = `p /
/// rows_per_file`, `_row` = `p % rows_per_file` (every data file but the
/// last holds exactly `rows_per_file` rows).
///
/// # Errors
///
/// [`WriteError::RowPosition`] naming the first error row whose position
/// is negative or not below `data_rows` (the data rows written before the
/// errors: the write API commits data parts first, `ingest` reads its
/// data inputs first).
pub(crate) fn resolve(
    errors: RecordBatch,
    data_rows: u64,
    rows_per_file: usize,
) -> Result<RecordBatch, WriteError> {
    let schema = errors.schema();
    let (Ok(file_at), Ok(row_at)) = (schema.index_of("_file"), schema.index_of("_row")) else {
        return Ok(errors);
    };
    let files = errors.column(file_at).as_primitive::<Int32Type>();
    let rows = errors.column(row_at).as_primitive::<Int64Type>();
    let positioned = (0..errors.num_rows()).any(|i| files.is_null(i) && rows.is_valid(i));
    if !positioned {
        return Ok(errors);
    }
    let per_file = rows_per_file.max(1) as u64;
    let mut new_files = Vec::with_capacity(errors.num_rows());
    let mut new_rows = Vec::with_capacity(errors.num_rows());
    for i in 0..errors.num_rows() {
        if files.is_valid(i) || rows.is_null(i) {
            new_files.push(files.is_valid(i).then(|| files.value(i)));
            new_rows.push(rows.is_valid(i).then(|| rows.value(i)));
            continue;
        }
        let position = rows.value(i);
        let place = u64::try_from(position)
            .ok()
            .filter(|p| *p < data_rows)
            .and_then(|p| {
                Some((
                    i32::try_from(p / per_file).ok()?,
                    i64::try_from(p % per_file).ok()?,
                ))
            });
        let Some((file, row)) = place else {
            return Err(WriteError::RowPosition {
                error_row: i,
                position,
                data_rows,
            });
        };
        new_files.push(Some(file));
        new_rows.push(Some(row));
    }
    let mut columns = errors.columns().to_vec();
    columns[file_at] = Arc::new(Int32Array::from(new_files));
    columns[row_at] = Arc::new(Int64Array::from(new_rows));
    Ok(RecordBatch::try_new(schema, columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The two columns that place an error (the others play no part).
    fn errors(files: Vec<Option<i32>>, rows: Vec<Option<i64>>) -> RecordBatch {
        RecordBatch::try_from_iter([
            ("_file", Arc::new(Int32Array::from(files)) as Arc<dyn Array>),
            ("_row", Arc::new(Int64Array::from(rows)) as Arc<dyn Array>),
        ])
        .unwrap()
    }

    fn places(batch: &RecordBatch) -> Vec<(Option<i32>, Option<i64>)> {
        let f = batch
            .column_by_name("_file")
            .unwrap()
            .as_primitive::<Int32Type>();
        let r = batch
            .column_by_name("_row")
            .unwrap()
            .as_primitive::<Int64Type>();
        (0..batch.num_rows())
            .map(|i| {
                (
                    f.is_valid(i).then(|| f.value(i)),
                    r.is_valid(i).then(|| r.value(i)),
                )
            })
            .collect()
    }

    #[test]
    fn positions_become_files_and_rows_and_named_places_stay() {
        let batch = errors(
            vec![None, None, Some(0), None, None],
            vec![Some(0), Some(150_000), Some(7), None, Some(269_999)],
        );
        let resolved = resolve(batch, 270_000, 100_000).unwrap();
        assert_eq!(
            places(&resolved),
            vec![
                (Some(0), Some(0)),
                (Some(1), Some(50_000)),
                (Some(0), Some(7)),
                (None, None),
                (Some(2), Some(69_999)),
            ]
        );
    }

    #[test]
    fn a_position_past_the_data_or_negative_is_refused() {
        for position in [270_000, -1] {
            let batch = errors(vec![None], vec![Some(position)]);
            assert!(matches!(
                resolve(batch, 270_000, 100_000),
                Err(WriteError::RowPosition { error_row: 0, .. })
            ));
        }
    }
}
