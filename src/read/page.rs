//! `ParquetPageResponse` (contract 4.2): columns, rows, page, limit, total.

use std::ops::Range;

use arrow_array::RecordBatch;
use arrow_schema::Schema;
use serde::Serialize;
use utoipa::ToSchema;

use crate::artifacts::json_values::{JsonRow, batch_to_rows, column_type};

/// A column of a page: its name and its type as text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ColumnInfo {
    /// Column name.
    pub name: String,
    /// Arrow type, e.g. `int64`, `utf8`, `timestamp[us, tz=UTC]`, `list<utf8>`.
    #[serde(rename = "type")]
    pub data_type: String,
}

/// A page of rows read from Parquet files.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[schema(as = ParquetPageResponse)]
pub struct ParquetPage {
    /// The columns, in file order.
    pub columns: Vec<ColumnInfo>,
    /// The rows of the page, as JSON objects keyed by column name.
    #[schema(value_type = Vec<Object>)]
    pub rows: Vec<JsonRow>,
    /// 0-based page number.
    pub page: u64,
    /// Page size.
    pub limit: u32,
    /// Rows that match the request over all pages.
    pub total: u64,
    /// Whether a later page holds more rows.
    pub has_more: bool,
}

impl ParquetPage {
    /// Builds a page from the batches holding its rows.
    pub fn new(
        schema: Option<&Schema>,
        batches: &[RecordBatch],
        page: u64,
        limit: u32,
        total: u64,
    ) -> Self {
        let columns = schema
            .map(|s| {
                s.fields()
                    .iter()
                    .map(|f| ColumnInfo {
                        name: f.name().clone(),
                        data_type: column_type(f),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let rows: Vec<JsonRow> = batches.iter().flat_map(batch_to_rows).collect();
        let offset = page.saturating_mul(u64::from(limit));
        let has_more = offset.saturating_add(rows.len() as u64) < total && !rows.is_empty();
        Self {
            columns,
            rows,
            page,
            limit,
            total,
            has_more,
        }
    }
}

/// Splits the rows `[offset, offset + limit)` of a sequence of files with
/// `file_rows` rows each into file-local ranges.
pub fn locate(file_rows: &[u64], offset: u64, limit: u64) -> Vec<(usize, Range<u64>)> {
    let end = offset.saturating_add(limit);
    let mut start = 0u64;
    let mut out = Vec::new();
    for (i, n) in file_rows.iter().enumerate() {
        let file_end = start + n;
        if *n > 0 && file_end > offset && start < end {
            let lo = offset.max(start) - start;
            let hi = end.min(file_end) - start;
            out.push((i, lo..hi));
        }
        if file_end >= end {
            break;
        }
        start = file_end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_straddle_files() {
        assert_eq!(locate(&[100, 100, 50], 0, 50), vec![(0, 0..50)]);
        assert_eq!(
            locate(&[100, 100, 50], 80, 50),
            vec![(0, 80..100), (1, 0..30)]
        );
        assert_eq!(
            locate(&[100, 0, 100], 90, 20),
            vec![(0, 90..100), (2, 0..10)]
        );
        assert_eq!(locate(&[100, 100, 50], 240, 50), vec![(2, 40..50)]);
        assert!(locate(&[100, 100, 50], 250, 50).is_empty());
        assert!(locate(&[], 0, 50).is_empty());
    }
}
