//! Endpoint 6: a page of the rows of `errors_NNN.parquet` (contract 3),
//! the files read as one sequence.

use super::attempt::AttemptReader;
use super::error::ReadError;
use super::page::ParquetPage;
use crate::artifacts::key::FileKind;
use crate::artifacts::rows::file_rows;
use crate::artifacts::schemas::errors_schema;

impl AttemptReader {
    /// Page `page` of `limit` error rows (endpoint 6); `total` counts the
    /// rows of every errors file.
    ///
    /// # Errors
    ///
    /// [`ReadError::Decode`] naming a file that does not have the
    /// contract's errors schema or cannot be decoded; a store error.
    pub async fn errors_page(&self, page: u64, limit: u32) -> Result<ParquetPage, ReadError> {
        let keys = self.keys(FileKind::Errors, self.metadata().error_files);
        let schema = errors_schema();
        let rows: Vec<u64> = self
            .footers_conforming(&keys, &schema)
            .await?
            .iter()
            .map(file_rows)
            .collect();
        self.page_of(&keys, &rows, Some(schema), page, limit).await
    }
}
