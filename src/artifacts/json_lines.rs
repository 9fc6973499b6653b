//! Rows as NDJSON (endpoint 7's stream, contract 4.2): the same values as
//! [`super::json_values`] gives, written straight from the Arrow buffers
//! for the common column types, without building a JSON value per cell.

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use chrono::DateTime;
use serde_json::Value;

use super::json_values::{column_to_json, float, is_utc};
use super::temporal;

/// A column prepared for row-by-row JSON writing: common types are written
/// straight from the Arrow buffers, the rest through [`column_to_json`].
enum Writer<'a> {
    /// JSON texts shown as the values they spell (a VARIANT's).
    Json(&'a arrow_array::StringArray),
    Text(&'a arrow_array::StringArray),
    Int(&'a arrow_array::Int64Array),
    Int32(&'a arrow_array::Int32Array),
    Bool(&'a arrow_array::BooleanArray),
    Float(&'a arrow_array::Float64Array),
    UtcMicros(&'a arrow_array::TimestampMicrosecondArray),
    Values(Vec<Value>),
}

/// Writes a UTC timestamp as [`column_to_json`] does (RFC 3339, `Z`,
/// fraction of 0, 3 or 6 digits), without building a string first.
fn write_utc_micros(out: &mut Vec<u8>, micros: i64) -> std::io::Result<()> {
    use chrono::{Datelike as _, Timelike as _};
    let year =
        DateTime::from_timestamp_micros(micros).map(|t| (t, u32::try_from(t.date_naive().year())));
    let Some((t, Ok(year @ 0..=9999))) = year else {
        // Outside four-digit years: the general (slower) formatter.
        let text = temporal::timestamp(micros, TimeUnit::Microsecond, Some(0));
        return serde_json::to_writer(out, &text).map_err(std::io::Error::other);
    };
    let (date, time) = (t.date_naive(), t.time());
    // Digits written by hand: `write!` with padding was a third of the
    // NDJSON stream's time in profiles.
    out.push(b'"');
    push_digits(out, year, 4);
    out.push(b'-');
    push_digits(out, date.month(), 2);
    out.push(b'-');
    push_digits(out, date.day(), 2);
    out.push(b'T');
    push_digits(out, time.hour(), 2);
    out.push(b':');
    push_digits(out, time.minute(), 2);
    out.push(b':');
    push_digits(out, time.second(), 2);
    let fraction = u32::try_from(micros.rem_euclid(1_000_000)).unwrap_or(0);
    if fraction != 0 {
        out.push(b'.');
        if fraction % 1000 == 0 {
            push_digits(out, fraction / 1000, 3);
        } else {
            push_digits(out, fraction, 6);
        }
    }
    out.extend_from_slice(b"Z\"");
    Ok(())
}

/// Appends `value` as exactly `width` decimal digits (zero-padded).
fn push_digits(out: &mut Vec<u8>, mut value: u32, width: usize) {
    let mut digits = [b'0'; 10];
    let width = width.min(digits.len());
    for slot in digits[..width].iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
    out.extend_from_slice(&digits[..width]);
}

/// Appends every row of `batch` to `out` as NDJSON (one object per line),
/// with the same values as [`super::json_values::batch_to_rows`] but without building them:
/// the encoder behind the NDJSON log stream.
pub fn write_ndjson(batch: &RecordBatch, out: &mut Vec<u8>) {
    let schema = batch.schema();
    let keys: Vec<Vec<u8>> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut k = if i == 0 { b"{".to_vec() } else { b",".to_vec() };
            k.extend(serde_json::to_vec(f.name()).unwrap_or_default());
            k.push(b':');
            k
        })
        .collect();
    let writers: Vec<Writer<'_>> = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(field, c)| match c.data_type() {
            DataType::Utf8 if super::json_values::is_json_values(field) => {
                Writer::Json(c.as_string::<i32>())
            }
            DataType::Utf8 => Writer::Text(c.as_string::<i32>()),
            DataType::Int64 => Writer::Int(c.as_primitive::<Int64Type>()),
            DataType::Int32 => Writer::Int32(c.as_primitive::<Int32Type>()),
            DataType::Boolean => Writer::Bool(c.as_boolean()),
            DataType::Float64 => Writer::Float(c.as_primitive::<Float64Type>()),
            DataType::Timestamp(TimeUnit::Microsecond, Some(tz)) if is_utc(tz) => {
                Writer::UtcMicros(c.as_primitive::<TimestampMicrosecondType>())
            }
            _ => Writer::Values(column_to_json(c.as_ref())),
        })
        .collect();
    for row in 0..batch.num_rows() {
        if keys.is_empty() {
            out.push(b'{');
        }
        for (key, writer) in keys.iter().zip(&writers) {
            out.extend_from_slice(key);
            let written = match writer {
                Writer::Text(a) if a.is_valid(row) => {
                    serde_json::to_writer(&mut *out, a.value(row))
                }
                // A JSON text, written as the value it spells (checked: a
                // text that is not JSON is written as a string).
                Writer::Json(a) if a.is_valid(row) => {
                    match serde_json::from_str::<&serde_json::value::RawValue>(a.value(row)) {
                        Ok(raw) => {
                            out.extend_from_slice(raw.get().as_bytes());
                            Ok(())
                        }
                        Err(_) => serde_json::to_writer(&mut *out, a.value(row)),
                    }
                }
                Writer::Int(a) if a.is_valid(row) => {
                    serde_json::to_writer(&mut *out, &a.value(row))
                }
                Writer::Int32(a) if a.is_valid(row) => {
                    serde_json::to_writer(&mut *out, &a.value(row))
                }
                Writer::Bool(a) if a.is_valid(row) => {
                    serde_json::to_writer(&mut *out, &a.value(row))
                }
                Writer::Float(a) if a.is_valid(row) => {
                    serde_json::to_writer(&mut *out, &float(a.value(row)))
                }
                Writer::UtcMicros(a) if a.is_valid(row) => {
                    write_utc_micros(out, a.value(row)).map_err(serde_json::Error::io)
                }
                Writer::Values(v) => {
                    serde_json::to_writer(&mut *out, v.get(row).unwrap_or(&Value::Null))
                }
                _ => {
                    out.extend_from_slice(b"null");
                    Ok(())
                }
            };
            if written.is_err() {
                out.extend_from_slice(b"null");
            }
        }
        out.extend_from_slice(b"}\n");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Float64Array, Int64Array, StringArray, TimestampMicrosecondArray};
    use arrow_schema::{Field, Schema};

    use super::*;
    use crate::artifacts::json_values::batch_to_rows;

    #[test]
    fn ndjson_matches_the_row_objects() {
        let ts = vec![
            Some(1_764_201_603_120_000),
            None,
            Some(1_764_201_603_000_000),
            Some(-1),
            Some(1_764_201_603_123_456),
        ];
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new(
                    "ts",
                    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                    true,
                ),
                Field::new("msg", DataType::Utf8, true),
                Field::new("n", DataType::Int64, true),
                Field::new("f", DataType::Float64, true),
            ])),
            vec![
                Arc::new(TimestampMicrosecondArray::from(ts).with_timezone("UTC")),
                Arc::new(StringArray::from(vec![
                    Some("a \"quoted\"\nline ü"),
                    None,
                    Some(""),
                    Some("x"),
                    None,
                ])),
                Arc::new(Int64Array::from(vec![
                    Some(-3),
                    None,
                    Some(0),
                    Some(1),
                    None,
                ])),
                Arc::new(Float64Array::from(vec![
                    Some(f64::INFINITY),
                    Some(0.5),
                    None,
                    Some(1e300),
                    None,
                ])),
            ],
        )
        .unwrap();
        let mut out = Vec::new();
        write_ndjson(&batch, &mut out);
        let lines: Vec<Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let rows: Vec<Value> = batch_to_rows(&batch)
            .into_iter()
            .map(Value::Object)
            .collect();
        assert_eq!(lines, rows);
    }
}
