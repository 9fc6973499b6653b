//! Small Parquet files written whole, in one PUT (`metadata.parquet`, the
//! event files), and the one rule every file written follows: values
//! Parquet cannot store as Arrow holds them become storable first.

use std::sync::Arc;

use arrow_array::{RecordBatch, StringArray};
use arrow_schema::SchemaRef;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;

use super::WriteError;

/// Writes one small Parquet file in a single PUT (metadata, event files).
///
/// # Errors
///
/// [`WriteError::Arrow`] when a column cannot be made storable;
/// [`WriteError::Parquet`] when encoding fails; [`WriteError::Store`] when
/// the PUT fails.
pub async fn put_parquet(
    store: &Arc<dyn ObjectStore>,
    key: &Path,
    batch: &RecordBatch,
    props: &WriterProperties,
) -> Result<(), WriteError> {
    put_parquet_batches(
        store,
        key,
        batch.schema(),
        std::slice::from_ref(batch),
        props,
    )
    .await
}

/// Whether a type holds one the Parquet writer cannot write: an Arrow
/// month-day-nano interval (a Parquet INTERVAL has milliseconds), or a
/// struct without fields (a JSON `{}`: a Parquet group needs a field).
fn unstorable(data_type: &arrow_schema::DataType) -> bool {
    use arrow_schema::{DataType, IntervalUnit};
    match data_type {
        DataType::Interval(IntervalUnit::MonthDayNano) => true,
        DataType::Struct(fields) if fields.is_empty() => true,
        other => crate::artifacts::parquet_types::children(other)
            .is_some_and(|kids| kids.iter().any(|f| unstorable(f.data_type()))),
    }
}

/// The batch with every column the Parquet writer cannot write as its own
/// type written as the text readers show for it: a month-day-nano
/// interval (a DuckDB INTERVAL read by `ingest`) as its ISO 8601 duration,
/// a nested column holding one, or an empty JSON object, as its JSON. The
/// values read back are the ones shown for the input.
///
/// # Errors
///
/// [`WriteError::Arrow`] when the batch cannot be rebuilt.
pub fn storable(batch: &RecordBatch) -> Result<RecordBatch, WriteError> {
    use arrow_schema::{DataType, Field, Schema};
    if !batch
        .schema()
        .fields()
        .iter()
        .any(|f| unstorable(f.data_type()))
    {
        return Ok(batch.clone());
    }
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if unstorable(field.data_type()) {
            let text: StringArray = crate::artifacts::json_values::column_to_json(column.as_ref())
                .into_iter()
                .map(|v| match v {
                    serde_json::Value::Null => None,
                    serde_json::Value::String(s) => Some(s),
                    other => Some(other.to_string()),
                })
                .collect();
            fields.push(Arc::new(Field::new(field.name(), DataType::Utf8, true)));
            columns.push(Arc::new(text) as arrow_array::ArrayRef);
        } else {
            fields.push(Arc::clone(field));
            columns.push(Arc::clone(column));
        }
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new_with_metadata(
            fields,
            batch.schema().metadata().clone(),
        )),
        columns,
    )?)
}

/// Writes a few batches as one Parquet file in a single PUT.
///
/// # Errors
///
/// [`WriteError::Arrow`] when a column cannot be made storable;
/// [`WriteError::Parquet`] when encoding fails; [`WriteError::Store`] when
/// the PUT fails.
pub async fn put_parquet_batches(
    store: &Arc<dyn ObjectStore>,
    key: &Path,
    schema: SchemaRef,
    batches: &[RecordBatch],
    props: &WriterProperties,
) -> Result<(), WriteError> {
    let parquet_error = |source| WriteError::Parquet {
        key: key.to_string(),
        source,
    };
    let batches = batches
        .iter()
        .map(storable)
        .collect::<Result<Vec<_>, _>>()?;
    let schema = batches.first().map_or(schema, RecordBatch::schema);
    let mut buffer = Vec::new();
    let mut writer =
        ArrowWriter::try_new(&mut buffer, schema, Some(props.clone())).map_err(parquet_error)?;
    for batch in &batches {
        writer.write(batch).map_err(parquet_error)?;
    }
    writer.close().map_err(parquet_error)?;
    store
        .put(key, PutPayload::from(buffer))
        .await
        .map_err(|source| WriteError::Store {
            key: key.to_string(),
            source,
        })?;
    Ok(())
}
