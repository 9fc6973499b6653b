//! Rows and batches measured as they will be laid out (dictionaries and
//! run ends expanded, views and offsets followed), and batches cut into
//! pieces of bounded bytes.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;

/// Bytes each row of `array` takes once its values are laid out plainly
/// (what the writer and every kernel after the decoder materialize): a
/// dictionary's or a run's value counts once per row that shows it, a
/// view's bytes once per view. Added to `sizes`, one entry per row.
fn add_row_bytes(array: &dyn Array, sizes: &mut [u64]) {
    let rows = array.len().min(sizes.len());
    // A validity bit, and what a row of a leaf takes at least.
    let fixed = |width: u64, sizes: &mut [u64]| {
        for size in sizes.iter_mut().take(rows) {
            *size = size.saturating_add(width);
        }
    };
    match array.data_type() {
        DataType::Utf8 | DataType::Binary => {
            let offsets = if let Some(a) = array.as_string_opt::<i32>() {
                a.value_offsets()
            } else {
                array.as_binary::<i32>().value_offsets()
            };
            for (row, pair) in offsets.windows(2).take(rows).enumerate() {
                let len = u64::try_from(pair[1].saturating_sub(pair[0])).unwrap_or(0);
                sizes[row] = sizes[row].saturating_add(len + 4);
            }
        }
        DataType::LargeUtf8 | DataType::LargeBinary => {
            let offsets = if let Some(a) = array.as_string_opt::<i64>() {
                a.value_offsets()
            } else {
                array.as_binary::<i64>().value_offsets()
            };
            for (row, pair) in offsets.windows(2).take(rows).enumerate() {
                let len = u64::try_from(pair[1].saturating_sub(pair[0])).unwrap_or(0);
                sizes[row] = sizes[row].saturating_add(len + 8);
            }
        }
        DataType::Utf8View | DataType::BinaryView => {
            let views = if let Some(a) = array.as_string_view_opt() {
                a.views()
            } else {
                array.as_binary_view().views()
            };
            for (row, view) in views.iter().take(rows).enumerate() {
                // The low 32 bits of a view are its value's length.
                let len = u64::from(*view as u32);
                sizes[row] = sizes[row].saturating_add(len + 16);
            }
        }
        DataType::List(_) | DataType::LargeList(_) | DataType::Map(_, _) => {
            let (offsets, values): (Vec<usize>, ArrayRef) = match array.data_type() {
                DataType::List(_) => {
                    let list = array.as_list::<i32>();
                    (
                        list.value_offsets()
                            .iter()
                            .map(|o| usize::try_from(*o).unwrap_or(0))
                            .collect(),
                        Arc::clone(list.values()),
                    )
                }
                DataType::LargeList(_) => {
                    let list = array.as_list::<i64>();
                    (
                        list.value_offsets()
                            .iter()
                            .map(|o| usize::try_from(*o).unwrap_or(0))
                            .collect(),
                        Arc::clone(list.values()),
                    )
                }
                _ => {
                    let map = array.as_map();
                    (
                        map.value_offsets()
                            .iter()
                            .map(|o| usize::try_from(*o).unwrap_or(0))
                            .collect(),
                        Arc::new(map.entries().clone()) as ArrayRef,
                    )
                }
            };
            nested_row_bytes(&offsets, values.as_ref(), rows, sizes);
        }
        DataType::FixedSizeList(_, width) => {
            let list = array.as_fixed_size_list();
            let width = usize::try_from(*width).unwrap_or(0);
            let start = list.offset() * width;
            let offsets: Vec<usize> = (0..=rows).map(|r| start + r * width).collect();
            // The values of a sliced fixed-size list start at its offset.
            nested_row_bytes(&offsets, list.values().as_ref(), rows, sizes);
        }
        DataType::FixedSizeBinary(width) => {
            fixed(u64::try_from(*width).unwrap_or(0).max(1), sizes);
        }
        DataType::ListView(_) | DataType::LargeListView(_) => {
            // Each row views its own range of the values (ranges may
            // overlap: every view counts).
            let (ranges, values) = match array.data_type() {
                DataType::ListView(_) => view_ranges(array.as_list_view::<i32>()),
                _ => view_ranges(array.as_list_view::<i64>()),
            };
            let mut value_sizes = vec![0u64; values.len()];
            add_row_bytes(values.as_ref(), &mut value_sizes);
            // Prefix sums, so that each row's range is one subtraction.
            let mut prefix = Vec::with_capacity(value_sizes.len() + 1);
            prefix.push(0u64);
            for size in &value_sizes {
                let last = prefix.last().copied().unwrap_or(0);
                prefix.push(last.saturating_add(*size));
            }
            for (row, (offset, len)) in ranges.iter().take(rows).enumerate() {
                let end = offset.saturating_add(*len).min(value_sizes.len());
                let start = (*offset).min(end);
                let sum = prefix[end].saturating_sub(prefix[start]);
                sizes[row] = sizes[row].saturating_add(sum.saturating_add(8));
            }
        }
        DataType::Struct(_) => {
            for column in array.as_struct().columns() {
                add_row_bytes(column.as_ref(), sizes);
            }
            fixed(1, sizes);
        }
        DataType::Dictionary(_, _) => {
            let dictionary = array.as_any_dictionary();
            let values = dictionary.values();
            let mut value_sizes = vec![0u64; values.len()];
            add_row_bytes(values.as_ref(), &mut value_sizes);
            for (row, key) in dictionary.normalized_keys().iter().take(rows).enumerate() {
                let size = value_sizes.get(*key).copied().unwrap_or(0);
                sizes[row] = sizes[row].saturating_add(size);
            }
        }
        DataType::RunEndEncoded(_, _) => {
            // A run's value counts for every row of the run.
            let values = ree_values(array);
            let mut value_sizes = vec![0u64; values.as_ref().map_or(0, |(v, _)| v.len())];
            if let Some((values, physical)) = values {
                add_row_bytes(values.as_ref(), &mut value_sizes);
                for (row, index) in physical.iter().take(rows).enumerate() {
                    let size = value_sizes.get(*index).copied().unwrap_or(0);
                    sizes[row] = sizes[row].saturating_add(size);
                }
            }
        }
        DataType::Union(_, _) => {
            let union = array.as_union();
            for (row, size) in sizes.iter_mut().enumerate().take(rows) {
                let child = union.child(union.type_id(row));
                let index = union.value_offset(row);
                let mut one = [0u64];
                add_row_bytes(child.slice(index, 1).as_ref(), &mut one);
                *size = size.saturating_add(one[0] + 1);
            }
        }
        DataType::Null => fixed(0, sizes),
        other => fixed(
            other
                .primitive_width()
                .map_or(16, |w| u64::try_from(w).unwrap_or(16))
                .max(1),
            sizes,
        ),
    }
}

/// Each row's range of a list view's values (offset, length), and the
/// values.
fn view_ranges<O: arrow_array::OffsetSizeTrait>(
    list: &arrow_array::GenericListViewArray<O>,
) -> (Vec<(usize, usize)>, ArrayRef) {
    let ranges = list
        .offsets()
        .iter()
        .zip(list.sizes().iter())
        .map(|(o, n)| (o.as_usize(), n.as_usize()))
        .collect();
    (ranges, Arc::clone(list.values()))
}

/// Adds to each row the bytes of its range of `values` (`offsets[row]..
/// offsets[row + 1]`) and its offset.
fn nested_row_bytes(offsets: &[usize], values: &dyn Array, rows: usize, sizes: &mut [u64]) {
    let (Some(first), Some(last)) = (offsets.first(), offsets.get(rows)) else {
        return;
    };
    let (first, last) = (*first, (*last).min(values.len()));
    if last < first {
        return;
    }
    let mut value_sizes = vec![0u64; last - first];
    add_row_bytes(values.slice(first, last - first).as_ref(), &mut value_sizes);
    for (row, pair) in offsets.windows(2).take(rows).enumerate() {
        let (from, to) = (pair[0].saturating_sub(first), pair[1].saturating_sub(first));
        let sum: u64 = value_sizes
            .get(from..to.min(value_sizes.len()))
            .map_or(0, |s| s.iter().fold(0u64, |a, b| a.saturating_add(*b)));
        sizes[row] = sizes[row].saturating_add(sum.saturating_add(8));
    }
}

/// A run-end encoded array's values and, for each of its rows, the index
/// of the value that row shows.
fn ree_values(array: &dyn Array) -> Option<(ArrayRef, Vec<usize>)> {
    use arrow_array::types::{Int16Type, Int32Type, Int64Type};
    let any = array.as_any();
    let (values, physical) = if let Some(a) = any.downcast_ref::<arrow_array::RunArray<Int16Type>>()
    {
        (
            Arc::clone(a.values()),
            a.get_physical_indices(&row_numbers(a.len())),
        )
    } else if let Some(a) = any.downcast_ref::<arrow_array::RunArray<Int32Type>>() {
        (
            Arc::clone(a.values()),
            a.get_physical_indices(&row_numbers(a.len())),
        )
    } else if let Some(a) = any.downcast_ref::<arrow_array::RunArray<Int64Type>>() {
        (
            Arc::clone(a.values()),
            a.get_physical_indices(&row_numbers(a.len())),
        )
    } else {
        return None;
    };
    Some((values, physical.ok()?))
}

/// `0..rows` as the index type run-end lookups take.
fn row_numbers(rows: usize) -> Vec<u64> {
    (0..rows as u64).collect()
}

/// Bytes each row of `batch` takes laid out plainly ([`add_row_bytes`]).
pub fn row_bytes(batch: &RecordBatch) -> Vec<u64> {
    let mut sizes = vec![0u64; batch.num_rows()];
    for column in batch.columns() {
        add_row_bytes(column.as_ref(), &mut sizes);
    }
    sizes
}

/// Slices of a batch, each with the index of its first row.
pub type Pieces = Vec<(usize, RecordBatch)>;

/// Values an array holds, every child array's counted (a list's items,
/// a struct's fields, a dictionary's values, a run's values and rows),
/// from lengths alone: a value of Arrow type `null` takes no buffer, so a
/// message of a few bytes can declare a list of 2^40 of them, which no
/// measure of the array may then allocate a slot for each of.
pub fn values_in(array: &dyn Array) -> u64 {
    let own = array.len() as u64;
    let children: u64 = match array.data_type() {
        DataType::List(_) => values_in(array.as_list::<i32>().values().as_ref()),
        DataType::LargeList(_) => values_in(array.as_list::<i64>().values().as_ref()),
        DataType::ListView(_) => values_in(array.as_list_view::<i32>().values().as_ref()),
        DataType::LargeListView(_) => values_in(array.as_list_view::<i64>().values().as_ref()),
        DataType::FixedSizeList(_, _) => values_in(array.as_fixed_size_list().values().as_ref()),
        DataType::Map(_, _) => values_in(array.as_map().entries()),
        DataType::Struct(_) => array
            .as_struct()
            .columns()
            .iter()
            .map(|c| values_in(c.as_ref()))
            .fold(0u64, u64::saturating_add),
        DataType::Union(_, _) => {
            let union = array.as_union();
            union
                .type_ids()
                .iter()
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .map(|id| values_in(union.child(*id).as_ref()))
                .fold(0u64, u64::saturating_add)
        }
        DataType::Dictionary(_, _) => values_in(array.as_any_dictionary().values().as_ref()),
        DataType::RunEndEncoded(_, _) => {
            ree_values(array).map_or(0, |(values, _)| values_in(values.as_ref()))
        }
        _ => 0,
    };
    own.saturating_add(children)
}

/// Why [`split_by_bytes`] refused a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitFault {
    /// This 0-based row takes more than the row bound, in bytes.
    Row {
        /// The row.
        row: usize,
        /// Its bytes.
        bytes: u64,
    },
    /// The batch holds more values than the bound ([`values_in`]).
    Values(u64),
}

/// `batch` cut into consecutive slices of at most `target` bytes each (a
/// row alone may be more, up to `max_row`), with their first rows, and the
/// bytes of the whole batch; the batch whole when it fits. Every row
/// counts at least one byte, so that a batch of many empty rows is not
/// free. A batch of more than `max_values` values ([`values_in`]) is
/// refused before any is measured: measuring takes 8 bytes a value.
///
/// # Errors
///
/// [`SplitFault`]: the first row over `max_row` bytes, or too many values.
pub fn split_by_bytes(
    batch: &RecordBatch,
    target: usize,
    max_row: usize,
    max_values: u64,
) -> Result<(Pieces, u64), SplitFault> {
    let values = batch
        .columns()
        .iter()
        .map(|c| values_in(c.as_ref()))
        .fold(batch.num_rows() as u64, u64::saturating_add);
    if values > max_values {
        return Err(SplitFault::Values(values));
    }
    let (target, max_row) = (target as u64, max_row as u64);
    let sizes = row_bytes(batch);
    let mut pieces = Vec::new();
    let (mut start, mut bytes, mut total) = (0usize, 0u64, 0u64);
    for (row, size) in sizes.iter().enumerate() {
        let size = (*size).max(1);
        if size > max_row {
            return Err(SplitFault::Row { row, bytes: size });
        }
        if row > start && bytes.saturating_add(size) > target {
            pieces.push((start, batch.slice(start, row - start)));
            (start, bytes) = (row, 0);
        }
        bytes = bytes.saturating_add(size);
        total = total.saturating_add(size);
    }
    if pieces.is_empty() {
        return Ok((vec![(0, batch.clone())], total));
    }
    if start < batch.num_rows() {
        pieces.push((start, batch.slice(start, batch.num_rows() - start)));
    }
    Ok((pieces, total))
}
