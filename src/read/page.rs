//! `ParquetPageResponse` (contract 4.2): columns, rows, page, limit, total.

use std::ops::Range;

use arrow_array::RecordBatch;
use arrow_schema::Schema;
use serde::Serialize;
use utoipa::ToSchema;

use crate::artifacts::json_values::{JsonRow, batch_to_rows};
use crate::artifacts::type_names::column_type;

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

/// Where the items of page `page` (of `limit` items) lie in a sequence
/// of parts holding `counts` items each, read as one: `(part, range
/// within the part)` pairs, in order, empty parts skipped. The one paging
/// rule of endpoints 5-7 (contract 4.2), whatever the parts are: data or
/// log files, or the lists of matches found in each.
pub fn locate(counts: &[u64], page: u64, limit: u32) -> Vec<(usize, Range<u64>)> {
    let offset = page.saturating_mul(u64::from(limit));
    let end = offset.saturating_add(u64::from(limit));
    let mut start = 0u64;
    let mut out = Vec::new();
    for (i, n) in counts.iter().enumerate() {
        let part_end = start.saturating_add(*n);
        if *n > 0 && part_end > offset && start < end {
            let lo = offset.max(start) - start;
            let hi = end.min(part_end) - start;
            out.push((i, lo..hi));
        }
        if part_end >= end {
            break;
        }
        start = part_end;
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
            locate(&[100, 100, 50], 1, 80),
            vec![(0, 80..100), (1, 0..60)]
        );
        assert_eq!(locate(&[95, 0, 100], 9, 10), vec![(0, 90..95), (2, 0..5)]);
        assert_eq!(locate(&[100, 100, 50], 4, 50), vec![(2, 0..50)]);
        assert_eq!(
            locate(&[100, 100, 50], 4, 48),
            vec![(1, 92..100), (2, 0..40)]
        );
        assert!(locate(&[100, 100, 50], 5, 50).is_empty());
        assert!(locate(&[], 0, 50).is_empty());
        assert!(locate(&[10], u64::MAX, 1000).is_empty());
    }
}
