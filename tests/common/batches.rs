//! Shared by the test binaries (included with `#[path]`): the record
//! batches tests write through the library's writer.

use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};

/// Rows `id` (int64) and `name` (utf8) for the ids `first..first + n`,
/// each name given by `name(id)`.
pub fn id_name_batch(first: i64, n: usize, name: impl Fn(i64) -> String) -> RecordBatch {
    let ids: Vec<i64> = (first..first + n as i64).collect();
    let names: Vec<String> = ids.iter().map(|i| name(*i)).collect();
    RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, false),
        ])),
        vec![
            Arc::new(Int64Array::from(ids)) as ArrayRef,
            Arc::new(StringArray::from(names)),
        ],
    )
    .unwrap()
}

/// A batch of nullable text columns, in order.
pub fn text_batch<S: Into<String>>(columns: Vec<(&str, Vec<S>)>) -> RecordBatch {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, _)| Field::new(*n, DataType::Utf8, true))
        .collect();
    let arrays: Vec<ArrayRef> = columns
        .into_iter()
        .map(|(_, values)| {
            let values: Vec<String> = values.into_iter().map(Into::into).collect();
            Arc::new(StringArray::from(values)) as ArrayRef
        })
        .collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap()
}
