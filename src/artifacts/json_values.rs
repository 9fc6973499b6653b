//! Arrow values to JSON, exactly as contract 4.2 says: numbers as numbers
//! (NaN and infinities as null), dates as `YYYY-MM-DD`, timestamps as
//! RFC 3339 (`Z` for UTC), decimals as strings, binary as base64, lists,
//! structs and maps as arrays and objects.
//!
//! Written by hand rather than with `arrow-json` because that crate renders
//! decimals as numbers, binary as hex and timestamps without `Z`. Conversion
//! is columnar: each column is downcast once and its values mapped in a
//! loop; nested columns convert their child arrays once and slice them.

use arrow_array::cast::AsArray;
use arrow_array::timezone::Tz;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef, ArrowPrimitiveType, RecordBatch};
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use arrow_schema::{DataType, IntervalUnit, TimeUnit};
use base64::Engine as _;
use chrono::{DateTime, Offset as _, TimeZone as _};
use serde_json::{Map, Number, Value};

use super::temporal;

pub use crate::model::JsonRow;

/// Converts every row of a batch into a JSON object.
pub fn batch_to_rows(batch: &RecordBatch) -> Vec<JsonRow> {
    let schema = batch.schema();
    let columns: Vec<Vec<Value>> = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(field, c)| {
            let values = column_to_json(c);
            if !is_json_values(field) {
                return values;
            }
            // JSON texts (a VARIANT's) shown as the values they spell.
            values
                .into_iter()
                .map(|v| match v {
                    Value::String(text) => {
                        serde_json::from_str(&text).unwrap_or(Value::String(text))
                    }
                    other => other,
                })
                .collect()
        })
        .collect();
    let mut rows: Vec<JsonRow> = (0..batch.num_rows()).map(|_| Map::new()).collect();
    for (field, values) in schema.fields().iter().zip(columns) {
        for (row, value) in rows.iter_mut().zip(values) {
            row.insert(field.name().clone(), value);
        }
    }
    rows
}

/// Whether a column holds JSON texts to show as JSON values
/// ([`super::parquet_types::JSON_VALUES`]).
pub fn is_json_values(field: &arrow_schema::Field) -> bool {
    field.data_type() == &arrow_schema::DataType::Utf8
        && field
            .metadata()
            .contains_key(super::parquet_types::JSON_VALUES)
}

fn nulls_or<F>(array: &dyn Array, mut f: F) -> Vec<Value>
where
    F: FnMut(usize) -> Value,
{
    (0..array.len())
        .map(|i| if array.is_null(i) { Value::Null } else { f(i) })
        .collect()
}

fn ints<T>(array: &dyn Array) -> Vec<Value>
where
    T: ArrowPrimitiveType,
    T::Native: Into<Number>,
{
    let a = array.as_primitive::<T>();
    nulls_or(array, |i| Value::Number(a.value(i).into()))
}

pub(super) fn float(v: f64) -> Value {
    Number::from_f64(v).map_or(Value::Null, Value::Number)
}

pub(super) fn is_utc(tz: &str) -> bool {
    matches!(
        tz,
        "UTC" | "utc" | "Z" | "+00:00" | "Etc/UTC" | "GMT" | "+00"
    )
}

fn timestamp(array: &dyn Array, unit: TimeUnit, tz: Option<&str>) -> Vec<Value> {
    let raw: Vec<Option<i64>> = match unit {
        TimeUnit::Second => prim_i64::<TimestampSecondType>(array),
        TimeUnit::Millisecond => prim_i64::<TimestampMillisecondType>(array),
        TimeUnit::Microsecond => prim_i64::<TimestampMicrosecondType>(array),
        TimeUnit::Nanosecond => prim_i64::<TimestampNanosecondType>(array),
    };
    // No zone in the file: the wall-clock time, without an offset that
    // would claim to know one.
    let zone: Option<Tz> = match tz {
        None => None,
        Some(tz) if is_utc(tz) => None,
        Some(tz) => tz.parse().ok(),
    };
    let per = temporal::per_second(unit);
    let offset = |v: i64| -> Option<i32> {
        tz?;
        let Some(zone) = &zone else {
            // UTC, or a zone no database here knows: the instant in UTC.
            return Some(0);
        };
        let nanos = u32::try_from(v.rem_euclid(per) * (1_000_000_000 / per)).unwrap_or(0);
        // Outside chrono's calendar no zone rules apply: UTC.
        Some(
            DateTime::from_timestamp(v.div_euclid(per), nanos).map_or(0, |t| {
                zone.offset_from_utc_datetime(&t.naive_utc())
                    .fix()
                    .local_minus_utc()
            }),
        )
    };
    raw.into_iter()
        .map(|v| {
            v.map_or(Value::Null, |v| {
                Value::String(temporal::timestamp(v, unit, offset(v)))
            })
        })
        .collect()
}

fn prim_i64<T>(array: &dyn Array) -> Vec<Option<i64>>
where
    T: ArrowPrimitiveType<Native = i64>,
{
    array.as_primitive::<T>().iter().collect()
}

/// Text as arrow's display formatter writes it, for the types the contract
/// maps to strings without a stricter rule (decimals, named time zones); a
/// value it cannot format is null, never an error message in its place.
fn formatted(array: &dyn Array) -> Vec<Value> {
    use std::fmt::Write as _;
    let options = FormatOptions::default().with_display_error(false);
    match ArrayFormatter::try_new(array, &options) {
        Ok(fmt) => nulls_or(array, |i| {
            let mut text = String::new();
            match write!(text, "{}", fmt.value(i)) {
                Ok(()) => Value::String(text),
                Err(_) => Value::Null,
            }
        }),
        Err(_) => vec![Value::Null; array.len()],
    }
}

fn time_of_day(array: &dyn Array, unit: TimeUnit) -> Vec<Value> {
    let value = |i: usize| -> i64 {
        match (array.data_type(), unit) {
            (DataType::Time32(_), TimeUnit::Second) => {
                i64::from(array.as_primitive::<Time32SecondType>().value(i))
            }
            (DataType::Time32(_), _) => {
                i64::from(array.as_primitive::<Time32MillisecondType>().value(i))
            }
            (_, TimeUnit::Microsecond) => array.as_primitive::<Time64MicrosecondType>().value(i),
            _ => array.as_primitive::<Time64NanosecondType>().value(i),
        }
    };
    nulls_or(array, |i| {
        temporal::time_of_day(value(i), unit).map_or(Value::Null, Value::String)
    })
}

fn interval(array: &dyn Array, unit: IntervalUnit) -> Vec<Value> {
    let iso = |months: i32, days: i32, nanos: i128| {
        Value::String(temporal::iso_duration(
            i64::from(months),
            i64::from(days),
            nanos,
        ))
    };
    match unit {
        IntervalUnit::YearMonth => {
            let a = array.as_primitive::<IntervalYearMonthType>();
            nulls_or(array, |i| iso(a.value(i), 0, 0))
        }
        IntervalUnit::DayTime => {
            let a = array.as_primitive::<IntervalDayTimeType>();
            nulls_or(array, |i| {
                let v = a.value(i);
                iso(0, v.days, i128::from(v.milliseconds) * 1_000_000)
            })
        }
        IntervalUnit::MonthDayNano => {
            let a = array.as_primitive::<IntervalMonthDayNanoType>();
            nulls_or(array, |i| {
                let v = a.value(i);
                iso(v.months, v.days, i128::from(v.nanoseconds))
            })
        }
    }
}

fn duration(array: &dyn Array, unit: TimeUnit) -> Vec<Value> {
    let nanos_per = i128::from(1_000_000_000 / temporal::per_second(unit));
    let raw: Vec<Option<i64>> = match unit {
        TimeUnit::Second => prim_i64::<DurationSecondType>(array),
        TimeUnit::Millisecond => prim_i64::<DurationMillisecondType>(array),
        TimeUnit::Microsecond => prim_i64::<DurationMicrosecondType>(array),
        TimeUnit::Nanosecond => prim_i64::<DurationNanosecondType>(array),
    };
    raw.into_iter()
        .map(|v| {
            v.map_or(Value::Null, |v| {
                Value::String(temporal::iso_duration(0, 0, i128::from(v) * nanos_per))
            })
        })
        .collect()
}

fn binary(bytes: &[u8]) -> Value {
    Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
}

fn list_like(array: &dyn Array, values: &ArrayRef, ranges: Vec<(usize, usize)>) -> Vec<Value> {
    let converted = column_to_json(values.as_ref());
    ranges
        .into_iter()
        .enumerate()
        .map(|(i, (start, end))| {
            if array.is_null(i) {
                Value::Null
            } else {
                Value::Array(
                    converted
                        .get(start..end)
                        .map(<[Value]>::to_vec)
                        .unwrap_or_default(),
                )
            }
        })
        .collect()
}

fn offsets_ranges<O: Copy + TryInto<usize>>(offsets: &[O]) -> Vec<(usize, usize)> {
    offsets
        .windows(2)
        .map(|w| {
            let start = w[0].try_into().unwrap_or(0);
            let end = w[1].try_into().unwrap_or(start);
            (start, end)
        })
        .collect()
}

fn view_ranges<O: Copy + TryInto<usize>>(offsets: &[O], sizes: &[O]) -> Vec<(usize, usize)> {
    offsets
        .iter()
        .zip(sizes)
        .map(|(o, n)| {
            let start = (*o).try_into().unwrap_or(0);
            (start, start + (*n).try_into().unwrap_or(0))
        })
        .collect()
}

/// Converts every value of one column.
pub fn column_to_json(array: &dyn Array) -> Vec<Value> {
    match array.data_type() {
        DataType::Null => vec![Value::Null; array.len()],
        DataType::Boolean => {
            let a = array.as_boolean();
            nulls_or(array, |i| Value::Bool(a.value(i)))
        }
        DataType::Int8 => ints::<Int8Type>(array),
        DataType::Int16 => ints::<Int16Type>(array),
        DataType::Int32 => ints::<Int32Type>(array),
        DataType::Int64 => ints::<Int64Type>(array),
        DataType::UInt8 => ints::<UInt8Type>(array),
        DataType::UInt16 => ints::<UInt16Type>(array),
        DataType::UInt32 => ints::<UInt32Type>(array),
        DataType::UInt64 => ints::<UInt64Type>(array),
        DataType::Float16 => {
            let a = array.as_primitive::<Float16Type>();
            nulls_or(array, |i| float(a.value(i).to_f64()))
        }
        DataType::Float32 => {
            let a = array.as_primitive::<Float32Type>();
            nulls_or(array, |i| float(f64::from(a.value(i))))
        }
        DataType::Float64 => {
            let a = array.as_primitive::<Float64Type>();
            nulls_or(array, |i| float(a.value(i)))
        }
        DataType::Utf8 => {
            let a = array.as_string::<i32>();
            nulls_or(array, |i| Value::String(a.value(i).to_owned()))
        }
        DataType::LargeUtf8 => {
            let a = array.as_string::<i64>();
            nulls_or(array, |i| Value::String(a.value(i).to_owned()))
        }
        DataType::Utf8View => {
            let a = array.as_string_view();
            nulls_or(array, |i| Value::String(a.value(i).to_owned()))
        }
        DataType::Binary => {
            let a = array.as_binary::<i32>();
            nulls_or(array, |i| binary(a.value(i)))
        }
        DataType::LargeBinary => {
            let a = array.as_binary::<i64>();
            nulls_or(array, |i| binary(a.value(i)))
        }
        DataType::BinaryView => {
            let a = array.as_binary_view();
            nulls_or(array, |i| binary(a.value(i)))
        }
        DataType::FixedSizeBinary(_) => {
            let a = array.as_fixed_size_binary();
            nulls_or(array, |i| binary(a.value(i)))
        }
        DataType::Date32 => {
            let a = array.as_primitive::<Date32Type>();
            nulls_or(array, |i| {
                Value::String(temporal::date(i64::from(a.value(i))))
            })
        }
        DataType::Date64 => {
            let a = array.as_primitive::<Date64Type>();
            nulls_or(array, |i| {
                Value::String(temporal::date(a.value(i).div_euclid(86_400_000)))
            })
        }
        DataType::Time32(unit) | DataType::Time64(unit) => time_of_day(array, *unit),
        DataType::Interval(unit) => interval(array, *unit),
        DataType::Duration(unit) => duration(array, *unit),
        DataType::Timestamp(unit, tz) => timestamp(array, *unit, tz.as_deref()),
        DataType::List(_) => {
            let a = array.as_list::<i32>();
            list_like(array, a.values(), offsets_ranges(a.value_offsets()))
        }
        DataType::LargeList(_) => {
            let a = array.as_list::<i64>();
            list_like(array, a.values(), offsets_ranges(a.value_offsets()))
        }
        DataType::ListView(_) => {
            let a = array.as_list_view::<i32>();
            list_like(
                array,
                a.values(),
                view_ranges(a.value_offsets(), a.value_sizes()),
            )
        }
        DataType::LargeListView(_) => {
            let a = array.as_list_view::<i64>();
            list_like(
                array,
                a.values(),
                view_ranges(a.value_offsets(), a.value_sizes()),
            )
        }
        DataType::FixedSizeList(_, size) => {
            let a = array.as_fixed_size_list();
            let size = usize::try_from(*size).unwrap_or(0);
            let offset = a.offset();
            let ranges = (0..a.len())
                .map(|i| ((offset + i) * size, (offset + i + 1) * size))
                .collect();
            list_like(array, a.values(), ranges)
        }
        DataType::Struct(fields) => {
            let a = array.as_struct();
            let children: Vec<Vec<Value>> = a
                .columns()
                .iter()
                .map(|c| column_to_json(c.as_ref()))
                .collect();
            (0..a.len())
                .map(|i| {
                    if a.is_null(i) {
                        return Value::Null;
                    }
                    let object = fields
                        .iter()
                        .zip(&children)
                        .map(|(f, values)| {
                            (
                                f.name().clone(),
                                values.get(i).cloned().unwrap_or(Value::Null),
                            )
                        })
                        .collect();
                    Value::Object(object)
                })
                .collect()
        }
        DataType::Map(_, _) => {
            let a = array.as_map();
            let keys = column_to_json(a.keys().as_ref());
            let values = column_to_json(a.values().as_ref());
            let ranges = offsets_ranges(a.value_offsets());
            ranges
                .into_iter()
                .enumerate()
                .map(|(i, (start, end))| {
                    if a.is_null(i) {
                        return Value::Null;
                    }
                    let object = (start..end)
                        .map(|j| {
                            let key = match keys.get(j) {
                                Some(Value::String(s)) => s.clone(),
                                Some(other) => other.to_string(),
                                None => String::new(),
                            };
                            (key, values.get(j).cloned().unwrap_or(Value::Null))
                        })
                        .collect();
                    Value::Object(object)
                })
                .collect()
        }
        DataType::Dictionary(_, _) => match arrow_cast::cast(
            array,
            &match array.data_type() {
                DataType::Dictionary(_, v) => v.as_ref().clone(),
                other => other.clone(),
            },
        ) {
            Ok(plain) => column_to_json(plain.as_ref()),
            Err(_) => formatted(array),
        },
        _ => formatted(array),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::builder::{ListBuilder, StringBuilder};
    use arrow_array::{
        BinaryArray, Date32Array, Decimal128Array, Float64Array, Int64Array, StringArray,
        StructArray, TimestampMicrosecondArray,
    };
    use arrow_schema::{Field, Schema};
    use serde_json::json;

    use super::*;

    #[test]
    fn values_map_as_the_contract_says() {
        let mut tags = ListBuilder::new(StringBuilder::new());
        tags.values().append_value("a");
        tags.values().append_value("ü");
        tags.append(true);
        tags.append(false);
        let point = StructArray::from(vec![(
            Arc::new(Field::new("x", DataType::Int64, true)),
            Arc::new(Int64Array::from(vec![Some(1), None])) as ArrayRef,
        )]);
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("f", DataType::Float64, true),
                Field::new("d", DataType::Date32, true),
                Field::new(
                    "ts",
                    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                    true,
                ),
                Field::new(
                    "naive",
                    DataType::Timestamp(TimeUnit::Microsecond, None),
                    true,
                ),
                Field::new("dec", DataType::Decimal128(10, 2), true),
                Field::new("bin", DataType::Binary, true),
                Field::new("s", DataType::Utf8, true),
                Field::new(
                    "tags",
                    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
                    true,
                ),
                Field::new("point", point.data_type().clone(), true),
            ])),
            vec![
                Arc::new(Float64Array::from(vec![Some(f64::NAN), Some(1.5)])),
                Arc::new(Date32Array::from(vec![Some(20_419), None])),
                Arc::new(
                    TimestampMicrosecondArray::from(vec![Some(1_764_201_603_120_000), None])
                        .with_timezone("UTC"),
                ),
                Arc::new(TimestampMicrosecondArray::from(vec![Some(0), None])),
                Arc::new(
                    Decimal128Array::from(vec![Some(12_345), Some(-5)])
                        .with_precision_and_scale(10, 2)
                        .unwrap(),
                ),
                Arc::new(BinaryArray::from(vec![Some(&b"hi"[..]), None])),
                Arc::new(StringArray::from(vec![Some("Ünïcödé"), None])),
                Arc::new(tags.finish()),
                Arc::new(point),
            ],
        )
        .unwrap();
        let rows = batch_to_rows(&batch);
        assert_eq!(
            Value::Object(rows[0].clone()),
            json!({
                "f": null, "d": "2025-11-27", "ts": "2025-11-27T00:00:03.120Z",
                "naive": "1970-01-01T00:00:00", "dec": "123.45", "bin": "aGk=",
                "s": "Ünïcödé", "tags": ["a", "ü"], "point": {"x": 1}
            })
        );
        assert_eq!(
            Value::Object(rows[1].clone()),
            json!({
                "f": 1.5, "d": null, "ts": null, "naive": null, "dec": "-0.05", "bin": null,
                "s": null, "tags": null, "point": {"x": null}
            })
        );
    }
}
