//! The `_searchable` text of `index.parquet`: each row's values as text,
//! lowercased, so keyword search never has to decode the data files.
//!
//! Values are rendered as the API shows them (contract 4.2), so a keyword
//! copied from a response finds its row. They are joined with U+001F (unit
//! separator), which no one types, so that a keyword never matches across
//! two values; nulls contribute nothing.

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use serde_json::Value;

use crate::artifacts::json_values::column_to_json;

/// Separator between the values of one row.
pub const VALUE_SEPARATOR: char = '\u{1f}';

enum Column<'a> {
    Text(&'a arrow_array::StringArray),
    Json(Vec<Value>),
}

/// The lowercased searchable text of every row of `batch`.
pub fn searchable_text(batch: &RecordBatch) -> Vec<String> {
    let columns: Vec<Column<'_>> = batch
        .columns()
        .iter()
        .map(|c| match c.data_type() {
            DataType::Utf8 => Column::Text(c.as_string::<i32>()),
            _ => Column::Json(column_to_json(c.as_ref())),
        })
        .collect();
    let mut out = Vec::with_capacity(batch.num_rows());
    let mut line = String::new();
    for row in 0..batch.num_rows() {
        line.clear();
        for column in &columns {
            let start = line.len();
            match column {
                Column::Text(a) if a.is_valid(row) => line.push_str(a.value(row)),
                Column::Json(values) => match values.get(row) {
                    Some(Value::Null) | None => {}
                    Some(Value::String(s)) => line.push_str(s),
                    Some(other) => line.push_str(&other.to_string()),
                },
                Column::Text(_) => {}
            }
            if line.len() > start {
                line.push(VALUE_SEPARATOR);
            }
        }
        if line.ends_with(VALUE_SEPARATOR) {
            line.pop();
        }
        out.push(line.to_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Int64Array, StringArray};
    use arrow_schema::{Field, Schema};

    use super::*;

    #[test]
    fn rows_become_lowercased_text() {
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("id", DataType::Int64, true),
                Field::new("name", DataType::Utf8, true),
            ])),
            vec![
                Arc::new(Int64Array::from(vec![Some(7), None])),
                Arc::new(StringArray::from(vec![Some("ÜNÏ Corp"), Some("x")])),
            ],
        )
        .unwrap();
        assert_eq!(searchable_text(&batch), vec!["7\u{1f}ünï corp", "x"]);
    }
}
