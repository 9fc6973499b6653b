//! The fixed file schemas of contract section 3 (`metadata`, `index`,
//! `errors`, `logs`) and the metadata row as a Rust value.

use std::sync::Arc;

use arrow_array::builder::{Int64Builder, ListBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMicrosecondType};
use arrow_array::{
    Array, ArrayRef, BooleanArray, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// The five log levels, in rising severity.
pub const LOG_LEVELS: [&str; 5] = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"];

fn utc_micros() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// `metadata.parquet`'s schema.
pub fn metadata_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("phase", DataType::Utf8, false),
        Field::new("attempt", DataType::Int32, false),
        Field::new("success", DataType::Boolean, true),
        Field::new("message", DataType::Utf8, false),
        Field::new("total", DataType::Int64, false),
        Field::new("started_at", utc_micros(), true),
        Field::new("finished_at", utc_micros(), true),
        Field::new("duration_ms", DataType::Int64, true),
        Field::new("data_files", DataType::Int32, false),
        Field::new(
            "data_file_rows",
            DataType::List(Arc::new(Field::new("item", DataType::Int64, true))),
            false,
        ),
        Field::new("data_rows", DataType::Int64, false),
        Field::new("error_files", DataType::Int32, false),
        Field::new("log_files", DataType::Int32, false),
        Field::new("error_count", DataType::Int64, false),
        Field::new("log_count", DataType::Int64, false),
        Field::new("error_log_count", DataType::Int64, false),
        Field::new("searchable_lowercase", DataType::Boolean, false),
        Field::new("writer", DataType::Utf8, false),
    ]))
}

/// The most data, errors or logs files one attempt may have (a million
/// rows each by our writer's defaults: far past any phase), so that a
/// crafted `metadata.parquet` cannot make a reader allocate per file
/// without bound.
pub const MAX_FILES_PER_KIND: i32 = 10_000;

/// `index.parquet`'s schema.
pub fn index_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("_file", DataType::Int32, false),
        Field::new("_row", DataType::Int64, false),
        Field::new("_searchable", DataType::Utf8, false),
    ]))
}

/// `errors_NNN.parquet`'s schema.
pub fn errors_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("error_type", DataType::Utf8, false),
        Field::new("error_title", DataType::Utf8, false),
        Field::new("error_status", DataType::Int32, false),
        Field::new("error_detail", DataType::Utf8, false),
        Field::new("traceback", DataType::Utf8, true),
        Field::new("occurred_at", utc_micros(), false),
        Field::new("_file", DataType::Int32, true),
        Field::new("_row", DataType::Int64, true),
        Field::new("record", DataType::Utf8, true),
    ]))
}

/// `logs_NNN.parquet`'s schema.
pub fn logs_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("ts", utc_micros(), false),
        Field::new("level", DataType::Utf8, false),
        Field::new("logger", DataType::Utf8, false),
        Field::new("message", DataType::Utf8, false),
    ]))
}

/// Checks that a file written by any tool can be read as `expected` (the
/// errors or logs schema): every required column is there, and every
/// column of `expected` that is there has a type of the same kind (any
/// string type for a string, any integer for an integer, any timestamp, or
/// a string, for a timestamp). Extra columns are allowed.
///
/// # Errors
///
/// A reason naming the first column of `expected` that does not fit: a
/// required column that is missing, or one of another kind.
pub fn check_conforms(expected: &Schema, actual: &Schema) -> Result<(), String> {
    fn kind_fits(expected: &DataType, actual: &DataType) -> bool {
        let stringy = |t: &DataType| {
            matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
                || matches!(t, DataType::Dictionary(_, v) if matches!(**v, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View))
        };
        // A column of only nulls (Arrow type `null`, as pandas writes an
        // all-null column) fits any column: it is read as the contract's
        // type (`TypedFooter::with_nulls_as`).
        if actual == &DataType::Null {
            return true;
        }
        match expected {
            DataType::Utf8 => stringy(actual),
            DataType::Int32 | DataType::Int64 => actual.is_integer(),
            DataType::Timestamp(..) => matches!(actual, DataType::Timestamp(..)) || stringy(actual),
            other => other == actual,
        }
    }
    for field in expected.fields() {
        match actual.field_with_name(field.name()) {
            Ok(found) if kind_fits(field.data_type(), found.data_type()) => {}
            Ok(found) => {
                return Err(format!(
                    "column {} is {}, the contract says {}",
                    field.name(),
                    found.data_type(),
                    field.data_type()
                ));
            }
            Err(_) if field.is_nullable() => {}
            Err(_) => return Err(format!("required column {} is missing", field.name())),
        }
    }
    Ok(())
}

/// A `metadata.parquet` file did not hold what the contract says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("metadata: {0}")]
pub struct MetadataError(String);

/// The one row of `metadata.parquet`: the attempt's outcome and counts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttemptMetadata {
    /// `extract`, `transform` or `load`.
    pub phase: String,
    /// The attempt number (from 1).
    pub attempt: i32,
    /// `true`, `false`, or `None` while the phase has not finished.
    pub success: Option<bool>,
    /// The phase's status message.
    pub message: String,
    /// Rows the phase produced (as the pipeline reports it).
    pub total: i64,
    /// When the phase started.
    pub started_at: Option<DateTime<Utc>>,
    /// When the phase finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// `finished_at - started_at` in milliseconds.
    pub duration_ms: Option<i64>,
    /// Number of `data_NNN` files.
    pub data_files: i32,
    /// Rows in each data file, in order.
    pub data_file_rows: Vec<i64>,
    /// Sum of `data_file_rows`.
    pub data_rows: i64,
    /// Number of `errors_NNN` files.
    pub error_files: i32,
    /// Number of `logs_NNN` files.
    pub log_files: i32,
    /// Rows in all errors files.
    pub error_count: i64,
    /// Rows in all logs files.
    pub log_count: i64,
    /// Log rows at level ERROR or CRITICAL.
    pub error_log_count: i64,
    /// Whether the index's `_searchable` is already lowercased.
    pub searchable_lowercase: bool,
    /// Name and version of the writer.
    pub writer: String,
}

fn micros(t: Option<DateTime<Utc>>) -> Option<i64> {
    t.map(|t| t.timestamp_micros())
}

impl AttemptMetadata {
    /// The row as a one-row record batch in [`metadata_schema`].
    ///
    /// # Errors
    ///
    /// An [`ArrowError`](arrow_schema::ArrowError) only if the columns built
    /// here no longer match [`metadata_schema`].
    pub fn to_batch(&self) -> Result<RecordBatch, arrow_schema::ArrowError> {
        let mut rows = ListBuilder::new(Int64Builder::new()).with_field(Arc::new(Field::new(
            "item",
            DataType::Int64,
            true,
        )));
        for n in &self.data_file_rows {
            rows.values().append_value(*n);
        }
        rows.append(true);
        let ts = |t| -> ArrayRef {
            Arc::new(TimestampMicrosecondArray::from(vec![micros(t)]).with_timezone("UTC"))
        };
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![self.phase.as_str()])),
            Arc::new(Int32Array::from(vec![self.attempt])),
            Arc::new(BooleanArray::from(vec![self.success])),
            Arc::new(StringArray::from(vec![self.message.as_str()])),
            Arc::new(Int64Array::from(vec![self.total])),
            ts(self.started_at),
            ts(self.finished_at),
            Arc::new(Int64Array::from(vec![self.duration_ms])),
            Arc::new(Int32Array::from(vec![self.data_files])),
            Arc::new(rows.finish()),
            Arc::new(Int64Array::from(vec![self.data_rows])),
            Arc::new(Int32Array::from(vec![self.error_files])),
            Arc::new(Int32Array::from(vec![self.log_files])),
            Arc::new(Int64Array::from(vec![self.error_count])),
            Arc::new(Int64Array::from(vec![self.log_count])),
            Arc::new(Int64Array::from(vec![self.error_log_count])),
            Arc::new(BooleanArray::from(vec![self.searchable_lowercase])),
            Arc::new(StringArray::from(vec![self.writer.as_str()])),
        ];
        RecordBatch::try_new(metadata_schema(), columns)
    }

    /// Reads the row back from a batch of `metadata.parquet` (any writer's:
    /// columns are found by name, integer widths are not assumed).
    ///
    /// # Errors
    ///
    /// [`MetadataError`] when the batch does not hold exactly one row; a
    /// column is missing, of a type that does not cast, null where
    /// required or out of range; or the counts disagree (`data_files` with
    /// `data_file_rows`, their sum with `data_rows`, a negative count).
    pub fn from_batch(batch: &RecordBatch) -> Result<Self, MetadataError> {
        if batch.num_rows() != 1 {
            return Err(MetadataError(format!(
                "expected exactly one row, found {}",
                batch.num_rows()
            )));
        }
        let col = |name: &str| -> Result<ArrayRef, MetadataError> {
            batch
                .column_by_name(name)
                .cloned()
                .ok_or_else(|| MetadataError(format!("missing column {name}")))
        };
        let int = |name: &str| -> Result<Option<i64>, MetadataError> {
            let array = arrow_cast::cast(&col(name)?, &DataType::Int64)
                .map_err(|e| MetadataError(format!("column {name}: {e}")))?;
            let array = array.as_primitive::<Int64Type>();
            Ok(array.is_valid(0).then(|| array.value(0)))
        };
        let req_int = |name: &str| -> Result<i64, MetadataError> {
            int(name)?.ok_or_else(|| MetadataError(format!("column {name} is null")))
        };
        let small = |name: &str| -> Result<i32, MetadataError> {
            i32::try_from(req_int(name)?)
                .map_err(|_| MetadataError(format!("column {name} is out of range")))
        };
        let text = |name: &str| -> Result<String, MetadataError> {
            let array = arrow_cast::cast(&col(name)?, &DataType::Utf8)
                .map_err(|e| MetadataError(format!("column {name}: {e}")))?;
            let array = array.as_string::<i32>();
            Ok(if array.is_valid(0) {
                array.value(0).to_owned()
            } else {
                String::new()
            })
        };
        let flag = |name: &str| -> Result<Option<bool>, MetadataError> {
            let array = col(name)?;
            let array = array
                .as_boolean_opt()
                .ok_or_else(|| MetadataError(format!("column {name} is not boolean")))?;
            Ok(array.is_valid(0).then(|| array.value(0)))
        };
        let time = |name: &str| -> Result<Option<DateTime<Utc>>, MetadataError> {
            let array = arrow_cast::cast(
                &col(name)?,
                &DataType::Timestamp(TimeUnit::Microsecond, None),
            )
            .map_err(|e| MetadataError(format!("column {name}: {e}")))?;
            let array = array.as_primitive::<TimestampMicrosecondType>();
            Ok(array
                .is_valid(0)
                .then(|| DateTime::from_timestamp_micros(array.value(0)))
                .flatten())
        };
        let file_rows = {
            // Any list kind (polars writes `large_list`): in Parquet they
            // are the same LIST type.
            let item = Arc::new(Field::new("item", DataType::Int64, true));
            let array = arrow_cast::cast(&col("data_file_rows")?, &DataType::List(item))
                .map_err(|e| MetadataError(format!("column data_file_rows is not a list: {e}")))?;
            let list = array
                .as_list_opt::<i32>()
                .ok_or_else(|| MetadataError("column data_file_rows is not a list".into()))?;
            if list.is_null(0) {
                Vec::new()
            } else {
                let values = list.value(0);
                let values = values.as_primitive::<Int64Type>();
                if values.null_count() > 0 {
                    return Err(MetadataError("data_file_rows holds a null".into()));
                }
                values.values().to_vec()
            }
        };
        let meta = Self {
            phase: text("phase")?,
            attempt: small("attempt")?,
            success: flag("success")?,
            message: text("message")?,
            total: req_int("total")?,
            started_at: time("started_at")?,
            finished_at: time("finished_at")?,
            duration_ms: int("duration_ms")?,
            data_files: small("data_files")?,
            data_file_rows: file_rows,
            data_rows: req_int("data_rows")?,
            error_files: small("error_files")?,
            log_files: small("log_files")?,
            error_count: req_int("error_count")?,
            log_count: req_int("log_count")?,
            error_log_count: req_int("error_log_count")?,
            searchable_lowercase: flag("searchable_lowercase")?.unwrap_or(false),
            writer: text("writer")?,
        };
        meta.check()?;
        Ok(meta)
    }

    /// The counts must agree with each other, or pages would be located in
    /// the wrong file.
    fn check(&self) -> Result<(), MetadataError> {
        let files = usize::try_from(self.data_files).unwrap_or(usize::MAX);
        if files != self.data_file_rows.len() {
            return Err(MetadataError(format!(
                "data_files is {} but data_file_rows has {} entries",
                self.data_files,
                self.data_file_rows.len()
            )));
        }
        if self.data_file_rows.iter().any(|n| *n < 0)
            || self.data_file_rows.iter().sum::<i64>() != self.data_rows
        {
            return Err(MetadataError(
                "data_rows is not the sum of data_file_rows".into(),
            ));
        }
        if self.error_files < 0 || self.log_files < 0 {
            return Err(MetadataError("negative file count".into()));
        }
        // Readers make a key (and fetch a footer) per counted file: a
        // crafted count must not become an allocation of gigabytes.
        for (name, count) in [
            ("data_files", self.data_files),
            ("error_files", self.error_files),
            ("log_files", self.log_files),
        ] {
            if count > MAX_FILES_PER_KIND {
                return Err(MetadataError(format!(
                    "{name} is {count}; an attempt has at most {MAX_FILES_PER_KIND} files of a kind"
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_round_trips_through_a_batch() {
        let meta = AttemptMetadata {
            phase: "extract".into(),
            attempt: 2,
            success: None,
            message: "ok".into(),
            total: 12,
            started_at: DateTime::from_timestamp_micros(1_764_201_600_123_456),
            finished_at: None,
            duration_ms: None,
            data_files: 2,
            data_file_rows: vec![10, 2],
            data_rows: 12,
            error_files: 1,
            log_files: 0,
            error_count: 3,
            log_count: 0,
            error_log_count: 0,
            searchable_lowercase: true,
            writer: "dagtrail 0.1.0".into(),
        };
        let batch = meta.to_batch().unwrap();
        assert_eq!(AttemptMetadata::from_batch(&batch).unwrap(), meta);
        // A crafted count is refused before anything is allocated per file
        // (4,000,000 log files took one request to a 1.5 GB peak).
        for log_files in [4_000_000, i32::MAX] {
            let crafted = AttemptMetadata {
                log_files,
                ..meta.clone()
            };
            let error = AttemptMetadata::from_batch(&crafted.to_batch().unwrap()).unwrap_err();
            assert!(error.to_string().contains("log_files"), "{error}");
        }
    }

    #[test]
    fn metadata_in_other_arrow_variants_reads_the_same() {
        let meta = AttemptMetadata {
            phase: "extract".into(),
            attempt: 1,
            success: Some(true),
            message: "polars".into(),
            total: 100,
            started_at: None,
            finished_at: None,
            duration_ms: Some(5),
            data_files: 2,
            data_file_rows: vec![60, 40],
            data_rows: 100,
            error_files: 0,
            log_files: 0,
            error_count: 0,
            log_count: 0,
            error_log_count: 0,
            searchable_lowercase: true,
            writer: "polars".into(),
        };
        let batch = meta.to_batch().unwrap();
        let item = |t: DataType| Arc::new(Field::new("item", t, true));
        for (text, list, int) in [
            (
                DataType::LargeUtf8,
                DataType::LargeList(item(DataType::Int64)),
                DataType::Int64,
            ),
            (
                DataType::Utf8View,
                DataType::LargeList(item(DataType::UInt32)),
                DataType::UInt16,
            ),
            (
                DataType::Utf8,
                DataType::FixedSizeList(item(DataType::Int16), 2),
                DataType::Int32,
            ),
        ] {
            let columns: Vec<ArrayRef> = batch
                .columns()
                .iter()
                .map(|c| {
                    let to = match c.data_type() {
                        DataType::Utf8 => text.clone(),
                        DataType::List(_) => list.clone(),
                        DataType::Int32 | DataType::Int64 => int.clone(),
                        other => other.clone(),
                    };
                    arrow_cast::cast(c, &to).unwrap()
                })
                .collect();
            let fields: Vec<Field> = batch
                .schema()
                .fields()
                .iter()
                .zip(&columns)
                .map(|(f, c)| Field::new(f.name(), c.data_type().clone(), true))
                .collect();
            let variant = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
            assert_eq!(
                AttemptMetadata::from_batch(&variant).unwrap(),
                meta,
                "{list}"
            );
        }
    }

    #[test]
    fn inconsistent_counts_are_rejected() {
        let mut meta = AttemptMetadata {
            phase: "load".into(),
            attempt: 1,
            success: Some(true),
            message: String::new(),
            total: 0,
            started_at: None,
            finished_at: None,
            duration_ms: None,
            data_files: 1,
            data_file_rows: vec![5],
            data_rows: 4,
            error_files: 0,
            log_files: 0,
            error_count: 0,
            log_count: 0,
            error_log_count: 0,
            searchable_lowercase: true,
            writer: String::new(),
        };
        let batch = meta.to_batch().unwrap();
        assert!(AttemptMetadata::from_batch(&batch).is_err());
        meta.data_rows = 5;
        meta.data_files = 2;
        assert!(AttemptMetadata::from_batch(&meta.to_batch().unwrap()).is_err());
    }
}
