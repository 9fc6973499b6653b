//! The leaves the parquet crate would read wrongly (INT96, INTERVAL,
//! UUID, decimals too wide for Arrow), described to it as plain bytes and
//! converted after decoding.

use std::sync::Arc;

use super::{SHOWN_TYPE, children, with_children};
use arrow_array::builder::{
    IntervalMonthDayNanoBuilder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::IntervalMonthDayNano;
use arrow_array::{Array, ArrayRef, make_array};
use arrow_schema::{ArrowError, DataType, Field, FieldRef, IntervalUnit, TimeUnit};
use parquet::basic::{ConvertedType, LogicalType, Type as PhysicalType};
use parquet::errors::ParquetError;
use parquet::schema::types::{Type, TypePtr};

const JULIAN_DAY_OF_UNIX_EPOCH: i64 = 2_440_588;
const MICROS_PER_DAY: i64 = 86_400_000_000;
/// Arrow's widest decimal.
const MAX_DECIMAL_DIGITS: i32 = 76;
/// The widest decimal read as text: a file may claim any precision, and
/// each value's text is as long as its precision.
const MAX_TEXT_DECIMAL_DIGITS: i32 = 1_000;

/// What one leaf column needs after decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Fix {
    /// INT96 → timestamp[us] (with the Arrow schema's zone, when any).
    Int96(Option<Arc<str>>),
    /// INTERVAL → month-day-nano interval.
    Interval,
    /// UUID → canonical text.
    Uuid,
    /// A decimal too wide for Arrow → its exact text.
    WideDecimal { scale: i32 },
}

pub(super) fn fixed_type(
    data_type: &DataType,
    leaves: &mut std::slice::Iter<'_, Option<Fix>>,
) -> DataType {
    match children(data_type) {
        Some(kids) => {
            let kids = kids.iter().map(|f| fixed_field(f, leaves, false)).collect();
            with_children(data_type, kids)
        }
        None => match leaves.next() {
            Some(Some(fix)) => fix.data_type(),
            _ => data_type.clone(),
        },
    }
}

pub(super) fn fixed_field(
    field: &FieldRef,
    leaves: &mut std::slice::Iter<'_, Option<Fix>>,
    top: bool,
) -> FieldRef {
    let shown = match (top, leaves.as_slice().first()) {
        (true, Some(Some(Fix::Uuid))) if children(field.data_type()).is_none() => Some("uuid"),
        _ => None,
    };
    let data_type = fixed_type(field.data_type(), leaves);
    if &data_type == field.data_type() && shown.is_none() {
        return Arc::clone(field);
    }
    let mut metadata = field.metadata().clone();
    if let Some(shown) = shown {
        metadata.insert(SHOWN_TYPE.to_owned(), shown.to_owned());
    }
    Arc::new(Field::new(field.name(), data_type, field.is_nullable()).with_metadata(metadata))
}

pub(super) fn fix_array(
    array: &ArrayRef,
    leaves: &mut std::slice::Iter<'_, Option<Fix>>,
) -> Result<ArrayRef, ArrowError> {
    let Some(kids) = children(array.data_type()) else {
        return match leaves.next() {
            Some(Some(fix)) => fix.apply(array.as_ref()),
            _ => Ok(Arc::clone(array)),
        };
    };
    let data = array.to_data();
    let mut changed = false;
    let mut child_data = Vec::with_capacity(data.child_data().len());
    let mut child_fields = Vec::with_capacity(kids.len());
    for (child, field) in data.child_data().iter().zip(&kids) {
        let before = leaves.clone();
        let fixed = fix_array(&make_array(child.clone()), leaves)?;
        let mut again = before;
        child_fields.push(fixed_field(field, &mut again, false));
        changed |= fixed.data_type() != child.data_type();
        child_data.push(fixed.to_data());
    }
    if !changed {
        return Ok(Arc::clone(array));
    }
    let rebuilt = data
        .into_builder()
        .data_type(with_children(array.data_type(), child_fields))
        .child_data(child_data)
        .build()?;
    Ok(make_array(rebuilt))
}

impl Fix {
    fn data_type(&self) -> DataType {
        match self {
            Fix::Int96(tz) => DataType::Timestamp(TimeUnit::Microsecond, tz.clone()),
            Fix::Interval => DataType::Interval(IntervalUnit::MonthDayNano),
            Fix::Uuid | Fix::WideDecimal { .. } => DataType::Utf8,
        }
    }

    fn apply(&self, array: &dyn Array) -> Result<ArrayRef, ArrowError> {
        let bytes_at = |i: usize| -> Option<&[u8]> {
            if array.is_null(i) {
                return None;
            }
            match array.data_type() {
                DataType::FixedSizeBinary(_) => Some(array.as_fixed_size_binary().value(i)),
                DataType::Binary => Some(array.as_binary::<i32>().value(i)),
                _ => None,
            }
        };
        let n = array.len();
        Ok(match self {
            Fix::Int96(tz) => {
                let mut out =
                    TimestampMicrosecondBuilder::with_capacity(n).with_timezone_opt(tz.clone());
                for i in 0..n {
                    out.append_option(bytes_at(i).and_then(int96_micros));
                }
                Arc::new(out.finish())
            }
            Fix::Interval => {
                let mut out = IntervalMonthDayNanoBuilder::with_capacity(n);
                for i in 0..n {
                    out.append_option(bytes_at(i).and_then(interval));
                }
                Arc::new(out.finish())
            }
            Fix::Uuid => {
                let mut out = StringBuilder::with_capacity(n, n * 36);
                for i in 0..n {
                    out.append_option(
                        bytes_at(i)
                            .and_then(|b| uuid::Uuid::from_slice(b).ok())
                            .map(|u| u.hyphenated().to_string()),
                    );
                }
                Arc::new(out.finish())
            }
            Fix::WideDecimal { scale } => {
                let mut out = StringBuilder::with_capacity(n, n * 32);
                for i in 0..n {
                    out.append_option(bytes_at(i).map(|b| decimal_text(b, *scale)));
                }
                Arc::new(out.finish())
            }
        })
    }
}

/// An INT96 value (nanoseconds of the day, then the Julian day, little
/// endian) as microseconds since 1970, or `None` when no `i64` holds it.
pub(super) fn int96_micros(bytes: &[u8]) -> Option<i64> {
    let nanos = i64::from_le_bytes(bytes.get(0..8)?.try_into().ok()?);
    let day = i32::from_le_bytes(bytes.get(8..12)?.try_into().ok()?);
    (i64::from(day) - JULIAN_DAY_OF_UNIX_EPOCH)
        .checked_mul(MICROS_PER_DAY)?
        .checked_add(nanos / 1000)
}

pub(super) fn interval(bytes: &[u8]) -> Option<IntervalMonthDayNano> {
    let part = |at: usize| -> Option<i32> {
        Some(i32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
    };
    Some(IntervalMonthDayNano::new(
        part(0)?,
        part(4)?,
        i64::from(part(8)?) * 1_000_000,
    ))
}

/// A big-endian two's complement unscaled value as decimal text.
pub(super) fn decimal_text(bytes: &[u8], scale: i32) -> String {
    let unscaled = num_bigint::BigInt::from_signed_bytes_be(bytes);
    let digits = unscaled.magnitude().to_string();
    let negative = unscaled.sign() == num_bigint::Sign::Minus;
    let scale = usize::try_from(scale).unwrap_or(0);
    let digits = if digits.len() <= scale {
        format!("{}{digits}", "0".repeat(scale + 1 - digits.len()))
    } else {
        digits
    };
    let (whole, fraction) = digits.split_at(digits.len() - scale);
    let sign = if negative { "-" } else { "" };
    if fraction.is_empty() {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}.{fraction}")
    }
}

/// The schema with the leaves that need fixing described as plain bytes,
/// and each leaf's fix (in leaf order) pushed onto `fixes`.
pub(super) fn rewrite(
    node: &TypePtr,
    hinted_leaves: &[DataType],
    fixes: &mut Vec<Option<Fix>>,
) -> Result<TypePtr, ParquetError> {
    let info = node.get_basic_info();
    if node.is_group() {
        let mut changed = false;
        let mut kids = Vec::with_capacity(node.get_fields().len());
        for child in node.get_fields() {
            let fixed = rewrite(child, hinted_leaves, fixes)?;
            changed |= !Arc::ptr_eq(&fixed, child);
            kids.push(fixed);
        }
        if !changed {
            return Ok(Arc::clone(node));
        }
        let mut group = Type::group_type_builder(info.name())
            .with_fields(kids)
            .with_converted_type(info.converted_type())
            .with_logical_type(info.logical_type_ref().cloned())
            .with_id(info.has_id().then(|| info.id()));
        if info.has_repetition() {
            group = group.with_repetition(info.repetition());
        }
        return Ok(Arc::new(group.build()?));
    }
    let leaf = fixes.len();
    let (physical, length, precision, scale) = match node.as_ref() {
        Type::PrimitiveType {
            physical_type,
            type_length,
            precision,
            scale,
            ..
        } => (*physical_type, *type_length, *precision, *scale),
        Type::GroupType { .. } => (PhysicalType::BYTE_ARRAY, 0, 0, 0),
    };
    let logical = info.logical_type_ref();
    let decimal = matches!(logical, Some(LogicalType::Decimal { .. }))
        || info.converted_type() == ConvertedType::DECIMAL;
    let (fix, as_physical) = match physical {
        PhysicalType::INT96 => {
            let zone = match hinted_leaves.get(leaf) {
                Some(DataType::Timestamp(_, tz)) => tz.clone(),
                _ => None,
            };
            (Some(Fix::Int96(zone)), PhysicalType::FIXED_LEN_BYTE_ARRAY)
        }
        PhysicalType::FIXED_LEN_BYTE_ARRAY if info.converted_type() == ConvertedType::INTERVAL => {
            (Some(Fix::Interval), physical)
        }
        PhysicalType::FIXED_LEN_BYTE_ARRAY if matches!(logical, Some(LogicalType::Uuid)) => {
            (Some(Fix::Uuid), physical)
        }
        PhysicalType::FIXED_LEN_BYTE_ARRAY | PhysicalType::BYTE_ARRAY
            if decimal
                && (precision > MAX_DECIMAL_DIGITS || length > 32)
                && (0..=MAX_TEXT_DECIMAL_DIGITS).contains(&precision)
                && (0..=precision).contains(&scale) =>
        {
            (Some(Fix::WideDecimal { scale }), physical)
        }
        PhysicalType::BYTE_ARRAY
            if matches!(logical, Some(LogicalType::Enum))
                || info.converted_type() == ConvertedType::ENUM =>
        {
            // Text to Arrow, with no fix after decoding.
            fixes.push(None);
            let text = Type::primitive_type_builder(info.name(), physical)
                .with_repetition(info.repetition())
                .with_logical_type(Some(LogicalType::String))
                .with_id(info.has_id().then(|| info.id()))
                .build()?;
            return Ok(Arc::new(text));
        }
        _ => (None, physical),
    };
    fixes.push(fix.clone());
    if fix.is_none() {
        return Ok(Arc::clone(node));
    }
    let length =
        if as_physical == PhysicalType::FIXED_LEN_BYTE_ARRAY && physical == PhysicalType::INT96 {
            12
        } else {
            length
        };
    let mut bytes = Type::primitive_type_builder(info.name(), as_physical)
        .with_repetition(info.repetition())
        .with_id(info.has_id().then(|| info.id()));
    if as_physical == PhysicalType::FIXED_LEN_BYTE_ARRAY {
        bytes = bytes.with_length(length);
    }
    Ok(Arc::new(bytes.build()?))
}
