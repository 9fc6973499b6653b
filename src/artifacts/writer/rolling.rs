//! A sequence of numbered Parquet files (`<kind>_000.parquet`, ...) that
//! rolls to the next file past a row count, streaming each file to the
//! object store as it is written.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use object_store::ObjectStore;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use parquet::arrow::AsyncArrowWriter;
use parquet::file::properties::WriterProperties;

use super::WriteError;
use crate::artifacts::key::{AttemptFolder, FileKind};

/// Where a slice of rows landed: file number and first row inside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Placement {
    pub file: usize,
    pub first_row: usize,
}

/// Upload buffer before `BufWriter` switches to a multipart upload.
const UPLOAD_BUFFER: usize = 8 * 1024 * 1024;

/// The file being written: its key, its writer and the rows in it so far.
type OpenFile = (Path, AsyncArrowWriter<BufWriter>, usize);

pub(crate) struct RollingFiles {
    store: Arc<dyn ObjectStore>,
    folder: AttemptFolder,
    kind: FileKind,
    schema: SchemaRef,
    props: WriterProperties,
    rows_per_file: usize,
    current: Option<OpenFile>,
    file_rows: Vec<i64>,
    started: Vec<Path>,
}

impl RollingFiles {
    pub(crate) fn new(
        store: Arc<dyn ObjectStore>,
        folder: AttemptFolder,
        kind: FileKind,
        schema: SchemaRef,
        props: WriterProperties,
        rows_per_file: usize,
    ) -> Self {
        Self {
            store,
            folder,
            kind,
            schema,
            props,
            rows_per_file: rows_per_file.max(1),
            current: None,
            file_rows: Vec::new(),
            started: Vec::new(),
        }
    }

    pub(crate) fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Rows written so far, every file together.
    pub(crate) fn rows_written(&self) -> u64 {
        let closed: i64 = self.file_rows.iter().sum();
        u64::try_from(closed).unwrap_or(0)
            + self.current.as_ref().map_or(0, |(_, _, rows)| *rows as u64)
    }

    /// Rows each file holds, the last excepted: every file but the last
    /// is closed when it reaches this many.
    pub(crate) fn rows_per_file(&self) -> usize {
        self.rows_per_file
    }

    /// Keys of every file begun so far (for clean-up after a failure).
    pub(crate) fn started(&self) -> &[Path] {
        &self.started
    }

    fn open_next(&mut self) -> Result<OpenFile, WriteError> {
        let key = self.folder.numbered(self.kind, self.file_rows.len());
        let sink = BufWriter::with_capacity(Arc::clone(&self.store), key.clone(), UPLOAD_BUFFER);
        let writer =
            AsyncArrowWriter::try_new(sink, Arc::clone(&self.schema), Some(self.props.clone()))
                .map_err(|source| WriteError::Parquet {
                    key: key.to_string(),
                    source,
                })?;
        self.started.push(key.clone());
        Ok((key, writer, 0))
    }

    async fn close(&mut self, (key, mut writer, rows): OpenFile) -> Result<(), WriteError> {
        writer
            .finish()
            .await
            .map_err(|source| WriteError::Parquet {
                key: key.to_string(),
                source,
            })?;
        self.file_rows.push(i64::try_from(rows).unwrap_or(i64::MAX));
        Ok(())
    }

    /// Writes a batch, splitting it where files roll over, and says where
    /// each slice went (for `index.parquet`).
    pub(crate) async fn write(
        &mut self,
        batch: &RecordBatch,
    ) -> Result<Vec<(Placement, RecordBatch)>, WriteError> {
        let mut placed = Vec::new();
        let mut offset = 0;
        while offset < batch.num_rows() {
            let (key, mut writer, mut rows) = match self.current.take() {
                Some(open) => open,
                None => self.open_next()?,
            };
            let file = self.file_rows.len();
            let take = (self.rows_per_file - rows).min(batch.num_rows() - offset);
            let slice = batch.slice(offset, take);
            writer
                .write(&slice)
                .await
                .map_err(|source| WriteError::Parquet {
                    key: key.to_string(),
                    source,
                })?;
            placed.push((
                Placement {
                    file,
                    first_row: rows,
                },
                slice,
            ));
            rows += take;
            offset += take;
            if rows >= self.rows_per_file {
                self.close((key, writer, rows)).await?;
            } else {
                self.current = Some((key, writer, rows));
            }
        }
        Ok(placed)
    }

    /// Closes the last file and returns the row count of each file.
    /// With `keep_schema`, an attempt without rows still gets one empty
    /// file so that readers can show its columns.
    pub(crate) async fn finish(mut self, keep_schema: bool) -> Result<Vec<i64>, WriteError> {
        let last = match self.current.take() {
            Some(open) => Some(open),
            None if keep_schema && self.file_rows.is_empty() => Some(self.open_next()?),
            None => None,
        };
        if let Some(open) = last {
            self.close(open).await?;
        }
        Ok(self.file_rows)
    }
}
