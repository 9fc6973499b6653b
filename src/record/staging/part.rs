//! A part of a staged attempt: decoded rows written as one Parquet file
//! of the attempt's staging folder, whole or not at all.

use std::sync::Arc;

use arrow_array::{RecordBatch, new_null_array};
use arrow_schema::SchemaRef;
use futures::{Stream, StreamExt};
use object_store::buffered::BufWriter;
use parquet::arrow::AsyncArrowWriter;

use super::{PartKind, StagedWrite, read_failed};
use crate::artifacts::rows::file_batches;
use crate::artifacts::writer::{WriteError, conform_errors, conform_logs, storable};
use crate::record::RecordError;

impl StagedWrite<'_> {
    /// Stages part `part` of `kind` from `batches`: written whole or not
    /// at all (a failure of the stream keeps nothing of it), replacing a
    /// part of that number. Parts of a kind come in order: part `n` needs
    /// parts 1 to `n - 1`. Data parts take the columns of the first data
    /// part ([`conform_data`]); error and log parts must fit the contract's
    /// schemas. Returns the rows staged.
    ///
    /// # Errors
    ///
    /// [`RecordError::NotOpen`], [`RecordError::PartOutOfOrder`];
    /// [`RecordError::BadPart`] for a part without rows or whose rows do
    /// not fit; the stream's own errors as they come;
    /// [`RecordError::Write`] when encoding or the store fails.
    pub async fn put_part<S>(
        &self,
        kind: PartKind,
        part: u32,
        mut batches: S,
    ) -> Result<u64, RecordError>
    where
        S: Stream<Item = Result<RecordBatch, RecordError>> + Unpin,
    {
        let max = self.recorder.staging.max_parts;
        if part > max {
            return Err(RecordError::TooManyParts { kind, part, max });
        }
        // A few HEADs, not a listing of the attempt: a part's cost must
        // not grow with the parts before it.
        if !self.exists(&self.staging.marker()).await? || self.committed().await? {
            return Err(self.not_open());
        }
        // Parts of a kind come in order: part n needs part n - 1.
        if part == 0 || (part > 1 && !self.exists(&self.part_key(kind, part - 1)).await?) {
            let (state, _) = self.state(true).await?;
            let next = state
                .parts(kind)
                .last()
                .map_or(1, |last| last.saturating_add(1));
            return Err(RecordError::PartOutOfOrder { kind, part, next });
        }
        let bad = |reason: String| RecordError::BadPart { kind, part, reason };
        // The attempt's columns, when another data part fixed them (part
        // 1, or part 2 when part 1 is the one put again).
        let other = if part == 1 { 2 } else { 1 };
        let columns = match kind {
            PartKind::Data if self.exists(&self.part_key(kind, other)).await? => {
                let key = self.part_key(kind, other);
                let (schema, _) = file_batches(self.store(), &key)
                    .await
                    .map_err(|e| read_failed(&key, e))?;
                Some(schema)
            }
            _ => None,
        };
        let key = self.part_key(kind, part);
        let mut writer: Option<AsyncArrowWriter<BufWriter>> = None;
        let mut rows = 0u64;
        let parquet_error = |source| {
            RecordError::Write(WriteError::Parquet {
                key: key.to_string(),
                source,
            })
        };
        while let Some(batch) = batches.next().await {
            let batch = batch?;
            if batch.num_rows() == 0 {
                continue;
            }
            // As the writer will store it (types Parquet cannot hold as
            // text), before comparing with the first part's columns.
            let batch = storable(&batch)?;
            let batch = match kind {
                PartKind::Data => match &columns {
                    Some(schema) => conform_data(&batch, schema).map_err(bad)?,
                    None => batch,
                },
                PartKind::Errors => conform_errors(&batch).map_err(|e| bad(e.to_string()))?,
                PartKind::Logs => conform_logs(&batch).map_err(|e| bad(e.to_string()))?,
            };
            if writer.is_none() {
                let sink = BufWriter::new(Arc::clone(self.store()), key.clone());
                writer = Some(
                    AsyncArrowWriter::try_new(
                        sink,
                        batch.schema(),
                        Some(self.recorder.options.properties_for(&batch.schema())),
                    )
                    .map_err(parquet_error)?,
                );
            }
            if let Some(w) = writer.as_mut() {
                w.write(&batch).await.map_err(parquet_error)?;
            }
            rows += batch.num_rows() as u64;
        }
        let Some(writer) = writer else {
            return Err(bad("the part has no rows".to_owned()));
        };
        writer.close().await.map_err(parquet_error)?;
        Ok(rows)
    }
}

/// `batch` with the columns of `schema`, in its order: a column the batch
/// lacks is null, one of another type is cast (a value that does not fit
/// is an error); a column `schema` lacks is refused. A later part of an
/// attempt written as NDJSON or CSV may infer a narrower type than the
/// first (an all-null column, integers where the first had decimals).
fn conform_data(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, String> {
    if batch.schema().fields() == schema.fields() {
        return Ok(batch.clone());
    }
    if let Some(extra) = batch
        .schema()
        .fields()
        .iter()
        .find(|f| schema.field_with_name(f.name()).is_err())
    {
        return Err(format!(
            "column {:?} is not among the attempt's columns (the first data part's): {}",
            extra.name(),
            schema
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let columns = schema
        .fields()
        .iter()
        .map(|field| match batch.column_by_name(field.name()) {
            None => Ok(new_null_array(field.data_type(), batch.num_rows())),
            Some(column) if column.data_type() == field.data_type() => Ok(Arc::clone(column)),
            Some(column) => arrow_cast::cast_with_options(
                column,
                field.data_type(),
                &arrow_cast::CastOptions {
                    safe: false,
                    ..Default::default()
                },
            )
            .map_err(|e| {
                format!(
                    "column {:?} holds {} where the first data part has {}: {e}",
                    field.name(),
                    column.data_type(),
                    field.data_type()
                )
            }),
        })
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(Arc::clone(schema), columns).map_err(|e| e.to_string())
}
