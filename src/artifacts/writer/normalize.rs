//! Bringing caller batches of errors and logs into the contract schemas:
//! columns found by name, cast to the contract's types, defaults filled in
//! where the contract has one, and a clear error for what cannot be.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray, new_null_array};
use arrow_cast::CastOptions;
use arrow_schema::{DataType, SchemaRef};

use crate::artifacts::json_values::column_to_json;
use crate::artifacts::schemas::{LOG_LEVELS, errors_schema, logs_schema};

/// Why a batch does not fit a contract schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaMismatch {
    /// A required column is absent.
    #[error("missing column {column:?} (expected columns: {expected})")]
    MissingColumn {
        /// The column.
        column: String,
        /// All columns of the schema.
        expected: String,
    },
    /// A column's values cannot be read as the contract's type.
    #[error("column {column:?} cannot be read as {expected}: {reason}")]
    BadType {
        /// The column.
        column: String,
        /// The contract type.
        expected: String,
        /// The cast error.
        reason: String,
    },
    /// A required column holds nulls.
    #[error("column {column:?} must not be null (row {row})")]
    Null {
        /// The column.
        column: String,
        /// First null row within the batch.
        row: usize,
    },
    /// A log level outside the five.
    #[error("level {level:?} is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL (row {row})")]
    BadLevel {
        /// The level as given.
        level: String,
        /// Row within the batch.
        row: usize,
    },
}

fn default_for(column: &str, rows: usize) -> Option<ArrayRef> {
    match column {
        "error_type" => Some(Arc::new(StringArray::from(vec!["about:blank"; rows]))),
        _ => None,
    }
}

fn conform(batch: &RecordBatch, schema: &SchemaRef) -> Result<Vec<ArrayRef>, SchemaMismatch> {
    let expected = || {
        schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let rows = batch.num_rows();
    let strict = CastOptions {
        safe: false,
        ..CastOptions::default()
    };
    schema
        .fields()
        .iter()
        .map(|field| {
            let name = field.name();
            let Some(input) = batch.column_by_name(name) else {
                if let Some(default) = default_for(name, rows) {
                    return Ok(default);
                }
                if field.is_nullable() {
                    return Ok(new_null_array(field.data_type(), rows));
                }
                return Err(SchemaMismatch::MissingColumn {
                    column: name.clone(),
                    expected: expected(),
                });
            };
            let nested = matches!(
                input.data_type(),
                DataType::Struct(_)
                    | DataType::List(_)
                    | DataType::LargeList(_)
                    | DataType::Map(_, _)
            );
            let array: ArrayRef = if field.data_type() == &DataType::Utf8 && nested {
                // `record` and friends given as JSON objects: keep them as JSON text.
                let text: Vec<Option<String>> = column_to_json(input.as_ref())
                    .into_iter()
                    .map(|v| (!v.is_null()).then(|| v.to_string()))
                    .collect();
                Arc::new(StringArray::from(text))
            } else {
                arrow_cast::cast_with_options(input, field.data_type(), &strict).map_err(|e| {
                    SchemaMismatch::BadType {
                        column: name.clone(),
                        expected: field.data_type().to_string(),
                        reason: e.to_string(),
                    }
                })?
            };
            if !field.is_nullable() && array.null_count() > 0 {
                let row = (0..rows).find(|i| array.is_null(*i)).unwrap_or(0);
                return Err(SchemaMismatch::Null {
                    column: name.clone(),
                    row,
                });
            }
            Ok(array)
        })
        .collect()
}

/// Conforms a batch of error rows to `errors_NNN.parquet`'s schema.
/// `error_type` defaults to `about:blank`; nullable columns may be absent.
pub fn conform_errors(batch: &RecordBatch) -> Result<RecordBatch, SchemaMismatch> {
    let schema = errors_schema();
    let columns = conform(batch, &schema)?;
    RecordBatch::try_new(schema, columns).map_err(|e| SchemaMismatch::BadType {
        column: "*".into(),
        expected: "errors schema".into(),
        reason: e.to_string(),
    })
}

/// Conforms a batch of log rows to `logs_NNN.parquet`'s schema; levels are
/// upper-cased and must be one of the five.
pub fn conform_logs(batch: &RecordBatch) -> Result<RecordBatch, SchemaMismatch> {
    let schema = logs_schema();
    let mut columns = conform(batch, &schema)?;
    let level_at = schema.index_of("level").unwrap_or(1);
    let levels = columns[level_at].as_string::<i32>();
    let mut upper = Vec::with_capacity(levels.len());
    for (row, level) in levels.iter().enumerate() {
        let level = level.unwrap_or_default();
        let normal = level.to_ascii_uppercase();
        if !LOG_LEVELS.contains(&normal.as_str()) {
            return Err(SchemaMismatch::BadLevel {
                level: level.to_owned(),
                row,
            });
        }
        upper.push(normal);
    }
    columns[level_at] = Arc::new(StringArray::from(upper));
    RecordBatch::try_new(schema, columns).map_err(|e| SchemaMismatch::BadType {
        column: "*".into(),
        expected: "logs schema".into(),
        reason: e.to_string(),
    })
}

/// Rows whose level is ERROR or CRITICAL, in a conformed logs batch.
pub fn error_level_rows(logs: &RecordBatch) -> usize {
    logs.column_by_name("level")
        .map(|c| {
            c.as_string::<i32>()
                .iter()
                .filter(|l| matches!(l, Some("ERROR" | "CRITICAL")))
                .count()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use arrow_schema::{Field, Schema};

    use super::*;

    fn strings(columns: &[(&str, Vec<&str>)]) -> RecordBatch {
        let fields: Vec<Field> = columns
            .iter()
            .map(|(n, _)| Field::new(*n, DataType::Utf8, true))
            .collect();
        let arrays: Vec<ArrayRef> = columns
            .iter()
            .map(|(_, v)| Arc::new(StringArray::from(v.clone())) as ArrayRef)
            .collect();
        RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap()
    }

    #[test]
    fn logs_are_cast_and_levels_upper_cased() {
        let batch = strings(&[
            ("ts", vec!["2026-11-27T00:00:01Z"]),
            ("level", vec!["warning"]),
            ("logger", vec!["etl"]),
            ("message", vec!["hi"]),
        ]);
        let logs = conform_logs(&batch).unwrap();
        assert_eq!(logs.schema(), logs_schema());
        assert_eq!(logs.column(1).as_string::<i32>().value(0), "WARNING");
    }

    #[test]
    fn missing_and_bad_columns_are_named() {
        let batch = strings(&[
            ("ts", vec!["2026-11-27T00:00:01Z"]),
            ("level", vec!["INFO"]),
        ]);
        let err = conform_logs(&batch).unwrap_err();
        assert!(
            matches!(err, SchemaMismatch::MissingColumn { ref column, .. } if column == "logger"),
            "{err}"
        );
        let batch = strings(&[
            ("ts", vec!["yesterday"]),
            ("level", vec!["INFO"]),
            ("logger", vec!["l"]),
            ("message", vec!["m"]),
        ]);
        assert!(matches!(
            conform_logs(&batch),
            Err(SchemaMismatch::BadType { .. })
        ));
        let batch = strings(&[
            ("ts", vec!["2026-11-27T00:00:01Z"]),
            ("level", vec!["LOUD"]),
            ("logger", vec!["l"]),
            ("message", vec!["m"]),
        ]);
        assert!(matches!(
            conform_logs(&batch),
            Err(SchemaMismatch::BadLevel { .. })
        ));
    }

    #[test]
    fn errors_get_their_defaults() {
        let batch = strings(&[
            ("error_title", vec!["Bad row"]),
            ("error_status", vec!["422"]),
            ("error_detail", vec!["price is negative"]),
            ("occurred_at", vec!["2026-11-27T00:00:01.5Z"]),
        ]);
        let errors = conform_errors(&batch).unwrap();
        assert_eq!(errors.column(0).as_string::<i32>().value(0), "about:blank");
        assert!(errors.column_by_name("traceback").unwrap().is_null(0));
    }
}
