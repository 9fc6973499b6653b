//! The column types `ingest` infers for CSV and NDJSON, by one rule for
//! both formats and without losing anything: a value is stored as exactly
//! what was written, or the input is refused naming its line.
//!
//! Both readers first decode every scalar as its text (a CSV cell, or a
//! JSON number's own digits), then [`Evidence`] decides each column's type
//! from the first rows and [`convert`] turns every batch into it, checking
//! each value:
//!
//! - **Integers**: `int64`; past it `uint64` when none is negative; past
//!   that `decimal(38, 0)`; past 38 digits the text itself.
//! - **Numbers with a fraction or an exponent** (and the integers beside
//!   them): `float64` when every one reads back from a `float64` as the
//!   same number (`0.1`, `1e300`); otherwise `decimal(38, s)` with the
//!   largest scale seen (`12345678901234567890.5`, `0.12345678901234567890`);
//!   past 38 digits the text itself.
//! - **Booleans**: JSON `true`/`false`; CSV cells `true`/`false` in any case.
//! - **Timestamps and dates** (JSON strings and CSV cells): RFC 3339 with
//!   `Z` or `+00:00` in every row gives `timestamp[us, tz=UTC]`; without an
//!   offset in every row, `timestamp[us]`; `YYYY-MM-DD` in every row,
//!   `date`. Any other offset, more than 6 fractional digits or a mix of
//!   kinds keeps the text, which shows the value as written.
//! - **Everything else is text**: a JSON string is never a number (`"42"`
//!   stays text), a CSV cell is a number only in JSON's own spelling
//!   (`007`, `+5`, `1,5` stay text, so nothing a leading zero or a sign
//!   said is dropped), and a column null in every inferred row is text.
//!
//! So the same value written in either format gets the same type: a CSV
//! cell `42` and the JSON number `42` are `int64`, and a CSV cell or a JSON
//! string `2026-11-20T02:52:00Z` is `timestamp[us, tz=UTC]`.

use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Date32Builder, Decimal128Builder, Float64Builder, Int64Builder,
    TimestampMicrosecondBuilder, UInt64Builder,
};
use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, StringArray, make_array};
use arrow_schema::{DataType, Field, FieldRef, TimeUnit};

use super::number_text::{Decimal, exact_f64, fraction_digits};
use crate::artifacts::parquet_types::{children, with_children};
use chrono::{DateTime, NaiveDate, NaiveDateTime};

/// Widest decimal inferred (Arrow's `decimal128`).
const DECIMAL_DIGITS: u8 = 38;

/// Where a scalar column's text came from, which decides what it may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// JSON numbers (their digits as written).
    JsonNumber,
    /// JSON strings: text or a timestamp, never a number.
    JsonString,
    /// CSV cells: anything.
    CsvCell,
}

/// What one value's text looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Integer,
    /// A number with a fraction or an exponent.
    Number,
    Bool,
    UtcTimestamp,
    NaiveTimestamp,
    Date,
    Text,
}

/// An RFC 3339 timestamp (any offset) as microseconds since 1970.
fn zoned_timestamp(text: &str) -> Option<i64> {
    if fraction_digits(text) > 6 {
        return None;
    }
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_micros())
}

fn utc_timestamp(text: &str) -> Option<i64> {
    if !(text.ends_with('Z') || text.ends_with("+00:00")) {
        return None;
    }
    zoned_timestamp(text)
}

fn naive_timestamp(text: &str) -> Option<i64> {
    if fraction_digits(text) > 6 || text.len() < 19 {
        return None;
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .map(|t| t.and_utc().timestamp_micros())
}

fn date(text: &str) -> Option<i32> {
    if text.len() != 10 {
        return None;
    }
    let day = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1)?;
    i32::try_from((day - epoch).num_days()).ok()
}

fn shape(text: &str, origin: Origin) -> Shape {
    if origin != Origin::JsonString {
        if let Some(number) = Decimal::parse(text) {
            let integer = !text.contains(['.', 'e', 'E']);
            return match (integer, number) {
                (true, _) => Shape::Integer,
                _ => Shape::Number,
            };
        }
        if origin == Origin::JsonNumber {
            return Shape::Text;
        }
        if text.eq_ignore_ascii_case("true") || text.eq_ignore_ascii_case("false") {
            return Shape::Bool;
        }
    }
    if utc_timestamp(text).is_some() {
        Shape::UtcTimestamp
    } else if naive_timestamp(text).is_some() {
        Shape::NaiveTimestamp
    } else if date(text).is_some() {
        Shape::Date
    } else {
        Shape::Text
    }
}

/// What the inferred rows of one scalar column showed.
#[derive(Debug, Clone)]
pub struct Evidence {
    origin: Origin,
    shapes: Vec<Shape>,
    fits_i64: bool,
    fits_u64: bool,
    max_whole: usize,
    max_scale: usize,
    exact_in_f64: bool,
    exponent: bool,
}

impl Evidence {
    /// No rows seen yet, for text of `origin`.
    pub fn new(origin: Origin) -> Self {
        Self {
            origin,
            shapes: Vec::new(),
            fits_i64: true,
            fits_u64: true,
            max_whole: 0,
            max_scale: 0,
            exact_in_f64: true,
            exponent: false,
        }
    }

    /// Takes in the non-null values of a column of text.
    pub fn see(&mut self, column: &StringArray) {
        for text in column.iter().flatten() {
            let shape = shape(text, self.origin);
            if !self.shapes.contains(&shape) {
                self.shapes.push(shape);
            }
            if matches!(shape, Shape::Integer | Shape::Number) {
                self.fits_i64 &= text.parse::<i64>().is_ok();
                self.fits_u64 &= text.parse::<u64>().is_ok();
                self.exact_in_f64 &= exact_f64(text).is_some();
                self.exponent |= text.contains(['e', 'E']);
                // The scale as written, so that `1.50` stays `1.50`.
                let unsigned = text.trim_start_matches('-');
                let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
                let fraction = fraction.split(['e', 'E']).next().unwrap_or("");
                self.max_whole = self.max_whole.max(whole.len());
                self.max_scale = self.max_scale.max(fraction.len());
            }
        }
    }

    /// The column's type.
    pub fn data_type(&self) -> DataType {
        let only = |allowed: &[Shape]| {
            !self.shapes.is_empty() && self.shapes.iter().all(|s| allowed.contains(s))
        };
        let decimal = |scale: usize| {
            (self.max_whole + scale <= usize::from(DECIMAL_DIGITS) && !self.exponent).then(|| {
                DataType::Decimal128(DECIMAL_DIGITS, i8::try_from(scale).unwrap_or(i8::MAX))
            })
        };
        if only(&[Shape::Integer]) {
            if self.fits_i64 {
                return DataType::Int64;
            }
            if self.fits_u64 {
                return DataType::UInt64;
            }
            return decimal(0).unwrap_or(DataType::Utf8);
        }
        if only(&[Shape::Integer, Shape::Number]) {
            if self.exact_in_f64 {
                return DataType::Float64;
            }
            return decimal(self.max_scale).unwrap_or(DataType::Utf8);
        }
        if only(&[Shape::Bool]) {
            return DataType::Boolean;
        }
        if only(&[Shape::UtcTimestamp]) {
            return DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        }
        if only(&[Shape::NaiveTimestamp]) {
            return DataType::Timestamp(TimeUnit::Microsecond, None);
        }
        if only(&[Shape::Date]) {
            return DataType::Date32;
        }
        DataType::Utf8
    }
}

/// A value that does not fit its column's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unfit {
    /// The value's index in the array converted.
    pub index: usize,
    /// Why, in words.
    pub reason: String,
}

/// Converts one column of text into `target`, checking every value.
///
/// # Errors
///
/// [`Unfit`] at the first value that does not parse as `target` (or, for a
/// decimal, needs more digits than its precision); at index 0 when
/// `target` is not a type text is converted to.
pub fn convert_text(column: &StringArray, target: &DataType) -> Result<ArrayRef, Unfit> {
    let n = column.len();
    let unfit = |index: usize, text: &str| Unfit {
        index,
        reason: format!(
            "{text:?} is not {} (the type the first rows gave its column)",
            describe(target)
        ),
    };
    macro_rules! each {
        ($builder:expr, $parse:expr) => {{
            let mut builder = $builder;
            for (i, text) in column.iter().enumerate() {
                match text {
                    None => builder.append_null(),
                    Some(text) => match $parse(text) {
                        Some(v) => builder.append_value(v),
                        None => return Err(unfit(i, text)),
                    },
                }
            }
            Arc::new(builder.finish()) as ArrayRef
        }};
    }
    Ok(match target {
        DataType::Utf8 => Arc::new(column.clone()),
        DataType::Int64 => each!(Int64Builder::with_capacity(n), |t: &str| t
            .parse::<i64>()
            .ok()),
        DataType::UInt64 => each!(UInt64Builder::with_capacity(n), |t: &str| t
            .parse::<u64>()
            .ok()),
        DataType::Float64 => each!(Float64Builder::with_capacity(n), exact_f64),
        DataType::Boolean => each!(BooleanBuilder::with_capacity(n), |t: &str| {
            if t.eq_ignore_ascii_case("true") {
                Some(true)
            } else if t.eq_ignore_ascii_case("false") {
                Some(false)
            } else {
                None
            }
        }),
        DataType::Decimal128(precision, scale) => {
            let scale_digits = usize::try_from(*scale).unwrap_or(0);
            let limit = 10i128
                .checked_pow(u32::from(*precision))
                .unwrap_or(i128::MAX);
            let array = each!(Decimal128Builder::with_capacity(n), |t: &str| {
                Decimal::parse(t)
                    .and_then(|d| d.scaled(scale_digits))
                    .filter(|v| v.unsigned_abs() < limit.unsigned_abs())
            });
            let array = array.as_primitive::<arrow_array::types::Decimal128Type>();
            Arc::new(
                array
                    .clone()
                    .with_precision_and_scale(*precision, *scale)
                    .map_err(|e| unfit(0, &e.to_string()))?,
            )
        }
        DataType::Timestamp(TimeUnit::Microsecond, Some(_)) => {
            // Later rows may carry another offset: the instant is kept.
            let array = each!(
                TimestampMicrosecondBuilder::with_capacity(n),
                zoned_timestamp
            );
            Arc::new(
                array
                    .as_primitive::<arrow_array::types::TimestampMicrosecondType>()
                    .clone()
                    .with_timezone("UTC"),
            )
        }
        DataType::Timestamp(TimeUnit::Microsecond, None) => {
            each!(
                TimestampMicrosecondBuilder::with_capacity(n),
                naive_timestamp
            )
        }
        DataType::Date32 => each!(Date32Builder::with_capacity(n), date),
        other => {
            return Err(Unfit {
                index: 0,
                reason: format!("cannot read text as {other}"),
            });
        }
    })
}

/// A type in the words of the error messages.
fn describe(data_type: &DataType) -> String {
    match data_type {
        DataType::Int64 => "a 64-bit integer".into(),
        DataType::UInt64 => "an unsigned 64-bit integer".into(),
        DataType::Float64 => "a number a float64 holds exactly".into(),
        DataType::Boolean => "true or false".into(),
        DataType::Decimal128(p, s) => {
            format!("a decimal of at most {p} digits, {s} after the point")
        }
        DataType::Timestamp(_, Some(_)) => "an RFC 3339 timestamp with an offset".into(),
        DataType::Timestamp(_, None) => {
            "a timestamp without an offset (YYYY-MM-DDTHH:MM:SS)".into()
        }
        DataType::Date32 => "a date (YYYY-MM-DD)".into(),
        other => other.to_string(),
    }
}

/// Every text leaf of a decoded array (nested ones included), depth first.
pub fn text_leaves(array: &ArrayRef, out: &mut Vec<ArrayRef>) {
    match children(array.data_type()) {
        Some(_) => {
            for child in array.to_data().child_data() {
                text_leaves(&make_array(child.clone()), out);
            }
        }
        None if array.data_type() == &DataType::Utf8 => out.push(Arc::clone(array)),
        None => {}
    }
}

/// The type of `raw` with its text leaves, in depth-first order, given the
/// types in `leaves`.
pub fn typed(raw: &DataType, leaves: &mut impl Iterator<Item = DataType>) -> DataType {
    match children(raw) {
        Some(kids) => {
            let kids = kids
                .iter()
                .map(|f| {
                    Arc::new(Field::new(f.name(), typed(f.data_type(), leaves), true)) as FieldRef
                })
                .collect();
            with_children(raw, kids)
        }
        None if raw == &DataType::Utf8 => leaves.next().unwrap_or(DataType::Utf8),
        None => raw.clone(),
    }
}

/// Converts a decoded array (text leaves) into `target` (the same shape,
/// typed leaves).
///
/// # Errors
///
/// [`Unfit`] as [`convert_text`] reports it for the first leaf value that
/// does not convert, its index being of the leaf array it was found in; at
/// index 0 when a leaf that is not text would need converting or the
/// rebuilt array is invalid.
pub fn convert(raw: &ArrayRef, target: &DataType) -> Result<ArrayRef, Unfit> {
    if raw.data_type() == target {
        return Ok(Arc::clone(raw));
    }
    let (Some(_), Some(target_kids)) = (children(raw.data_type()), children(target)) else {
        return match raw.as_string_opt::<i32>() {
            Some(text) => convert_text(text, target),
            None => Err(Unfit {
                index: 0,
                reason: format!("cannot read {} as {target}", raw.data_type()),
            }),
        };
    };
    let data = raw.to_data();
    let mut child_data = Vec::with_capacity(target_kids.len());
    for (child, field) in data.child_data().iter().zip(&target_kids) {
        child_data.push(convert(&make_array(child.clone()), field.data_type())?.to_data());
    }
    let rebuilt = data
        .into_builder()
        .data_type(target.clone())
        .child_data(child_data)
        .build()
        .map_err(|e| Unfit {
            index: 0,
            reason: e.to_string(),
        })?;
    Ok(make_array(rebuilt))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn infer(origin: Origin, values: &[&str]) -> DataType {
        let mut evidence = Evidence::new(origin);
        evidence.see(&StringArray::from(values.to_vec()));
        evidence.data_type()
    }

    #[test]
    fn integers_keep_every_digit() {
        use Origin::JsonNumber as N;
        assert_eq!(
            infer(N, &["1", "-2", "9223372036854775807"]),
            DataType::Int64
        );
        assert_eq!(
            infer(N, &["18446744073709551615", "9223372036854775808", "17"]),
            DataType::UInt64
        );
        assert_eq!(
            infer(N, &["18446744073709551616", "-1"]),
            DataType::Decimal128(38, 0)
        );
        assert_eq!(infer(N, &[&"9".repeat(39)]), DataType::Utf8);
    }

    #[test]
    fn fractions_are_floats_only_when_exact() {
        use Origin::JsonNumber as N;
        assert_eq!(infer(N, &["1", "2.5", "0.1", "1e300"]), DataType::Float64);
        assert_eq!(
            infer(N, &["0.12345678901234567890", "1"]),
            DataType::Decimal128(38, 20)
        );
        assert_eq!(
            infer(N, &["12345678901234567890", "0.5"]),
            DataType::Decimal128(38, 1)
        );
        assert_eq!(infer(N, &["1.00000000000000000001e5"]), DataType::Utf8);
    }

    #[test]
    fn csv_cells_and_json_strings_agree_on_times() {
        for origin in [Origin::CsvCell, Origin::JsonString] {
            assert_eq!(
                infer(
                    origin,
                    &["2026-11-20T02:52:00Z", "2026-11-20T02:52:00.123+00:00"]
                ),
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
            );
            assert_eq!(
                infer(origin, &["2026-11-20T02:52:00", "2026-11-20 02:52:00.5"]),
                DataType::Timestamp(TimeUnit::Microsecond, None)
            );
            assert_eq!(infer(origin, &["2026-11-20"]), DataType::Date32);
            assert_eq!(
                infer(origin, &["2026-11-20T02:52:00+02:00"]),
                DataType::Utf8,
                "another offset keeps the text"
            );
            assert_eq!(
                infer(origin, &["2026-11-20T02:52:00Z", "2026-11-20"]),
                DataType::Utf8
            );
        }
        assert_eq!(infer(Origin::JsonString, &["42"]), DataType::Utf8);
        assert_eq!(infer(Origin::CsvCell, &["42", "007"]), DataType::Utf8);
        assert_eq!(
            infer(Origin::CsvCell, &["True", "false"]),
            DataType::Boolean
        );
        assert_eq!(infer(Origin::CsvCell, &[]), DataType::Utf8);
    }

    #[test]
    fn conversion_is_exact_or_refused() {
        let text = StringArray::from(vec![Some("18446744073709551615"), None, Some("17")]);
        let array = convert_text(&text, &DataType::UInt64).unwrap();
        assert_eq!(
            array
                .as_primitive::<arrow_array::types::UInt64Type>()
                .value(0),
            u64::MAX
        );
        let decimals = StringArray::from(vec!["12345678901234567890.5", "-0.05", "1e2"]);
        let array = convert_text(&decimals, &DataType::Decimal128(38, 2)).unwrap();
        let array = array.as_primitive::<arrow_array::types::Decimal128Type>();
        assert_eq!(array.value_as_string(0), "12345678901234567890.50");
        assert_eq!(array.value_as_string(1), "-0.05");
        assert_eq!(array.value_as_string(2), "100.00");
        let too_fine = StringArray::from(vec!["1.5", "0.125"]);
        assert_eq!(
            convert_text(&too_fine, &DataType::Decimal128(38, 2))
                .unwrap_err()
                .index,
            1
        );
        let floats = StringArray::from(vec!["0.5", "0.1234567890123456789"]);
        assert_eq!(
            convert_text(&floats, &DataType::Float64).unwrap_err().index,
            1
        );
        let big = StringArray::from(vec!["9223372036854775808"]);
        assert!(convert_text(&big, &DataType::Int64).is_err());
    }
}
