//! `ParquetPageResponse` (contract 4.2): columns, rows, page, limit, total.

use std::ops::Range;

use arrow_array::RecordBatch;
use arrow_schema::Schema;
use serde::Serialize;
use utoipa::ToSchema;

use crate::artifacts::json_lines::write_ndjson;
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
    pub rows: Rows,
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
        let rows = Rows(batches.to_vec());
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

/// A page's rows, kept as the Arrow batches they were read in and written
/// as JSON straight from them when the page is serialized
/// ([`write_ndjson`]'s writers: no JSON value is built per cell, which was
/// most of a cached page's time in profiles).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Rows(Vec<RecordBatch>);

impl Rows {
    /// Rows in the page.
    pub fn len(&self) -> usize {
        self.0.iter().map(RecordBatch::num_rows).sum()
    }

    /// Whether the page has no row.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The rows as JSON objects (the values serialization writes).
    pub fn to_json(&self) -> Vec<JsonRow> {
        self.0.iter().flat_map(batch_to_rows).collect()
    }

    /// The first of the rows as JSON objects, as many as the writer copies
    /// into the run index ([`crate::artifacts::writer::inline_take`]).
    pub fn inline_json(&self) -> Vec<JsonRow> {
        let mut used = 0u64;
        let mut rows = Vec::new();
        for batch in &self.0 {
            let take = crate::artifacts::writer::inline_take(batch, &mut used);
            rows.extend(batch_to_rows(&batch.slice(0, take)));
            if take < batch.num_rows() {
                break;
            }
        }
        rows
    }

    /// The rows as a JSON array, written from the batches. A batch whose
    /// column names repeat goes through JSON objects, which keep one value
    /// per name, as the answer always did.
    fn json_array(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.len() * 256);
        out.push(b'[');
        let mut first = true;
        for batch in &self.0 {
            if batch.num_rows() == 0 {
                continue;
            }
            let schema = batch.schema();
            let names: std::collections::HashSet<&String> =
                schema.fields().iter().map(|f| f.name()).collect();
            if !first {
                out.push(b',');
            }
            first = false;
            let from = out.len();
            if names.len() == schema.fields().len() {
                write_ndjson(batch, &mut out);
                // Raw newlines in the written JSON only end rows: strings
                // escape theirs.
                for byte in &mut out[from..] {
                    if *byte == b'\n' {
                        *byte = b',';
                    }
                }
                if out.last() == Some(&b',') {
                    out.pop();
                }
            } else {
                let rows = batch_to_rows(batch);
                let written = serde_json::to_vec(&rows).unwrap_or_else(|_| b"[]".to_vec());
                out.extend_from_slice(
                    written
                        .get(1..written.len().saturating_sub(1))
                        .unwrap_or_default(),
                );
            }
        }
        out.push(b']');
        out
    }
}

impl Serialize for Rows {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = String::from_utf8(self.json_array()).map_err(serde::ser::Error::custom)?;
        let raw =
            serde_json::value::RawValue::from_string(text).map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
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
    use crate::model::Phase;

    /// The rows written straight from Arrow are the rows the JSON values
    /// give, byte for byte: every type of the demo's data and logs, with
    /// nulls, non-ASCII text and newlines inside strings, over several
    /// batches and a slice.
    #[test]
    fn rows_written_from_arrow_are_the_json_values() {
        let mut rng = fastrand::Rng::with_seed(7);
        let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        let start = day.and_hms_opt(0, 0, 0).unwrap().and_utc();
        for phase in [Phase::Extract, Phase::Transform, Phase::Load] {
            let data = crate::demo::synth::data_batch(&mut rng, phase, 0, 300, day, 7).unwrap();
            let story = crate::demo::synth::LogStory {
                start,
                end: start + chrono::Duration::minutes(5),
                total: 300,
                flawed: &[],
                failed: true,
            };
            let logs = crate::demo::synth::log_batch(&mut rng, phase, 0, 300, &story).unwrap();
            for batches in [
                vec![data.clone()],
                vec![data.slice(7, 50), data.slice(290, 10), data.slice(0, 0)],
                vec![logs.clone()],
                vec![],
            ] {
                let rows = Rows(batches);
                assert_eq!(
                    serde_json::to_string(&rows).unwrap(),
                    serde_json::to_string(&rows.to_json()).unwrap()
                );
            }
        }
        let text = arrow_array::StringArray::from(vec![Some("a\nb\r\n\"c\""), None]);
        let batch =
            RecordBatch::try_from_iter([("t", std::sync::Arc::new(text) as arrow_array::ArrayRef)])
                .unwrap();
        let rows = Rows(vec![batch]);
        assert_eq!(
            serde_json::to_string(&rows).unwrap(),
            serde_json::to_string(&rows.to_json()).unwrap()
        );
    }

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
