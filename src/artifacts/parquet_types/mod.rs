//! How a Parquet file's columns become Arrow arrays, wherever the parquet
//! crate's own mapping would lose or change values (`docs/PARQUET_TYPES.md`
//! has the whole table, checked against DuckDB by `tests/api/types.rs`):
//!
//! - **INT96** timestamps (Spark, Hive, Impala, pyarrow's
//!   `use_deprecated_int96_timestamps`) are read by the crate as
//!   nanoseconds with wrapping arithmetic, so every instant outside
//!   1677-09-21..2262-04-11 silently becomes another date. They are read
//!   here as microseconds (what DuckDB and Spark read) with checked
//!   arithmetic: a value no 64-bit microsecond count holds is null.
//! - **INTERVAL** (months, days, milliseconds) is read by the crate as
//!   days and milliseconds, dropping the months; here all three are kept
//!   (Arrow's month-day-nano interval). The spec says unsigned; DuckDB
//!   refuses to write negative intervals, reads each part as a signed
//!   32-bit integer, and so do we.
//! - **UUID** comes out as its canonical text (`8-4-4-4-12` hex), not as 16
//!   raw bytes; **ENUM** as text, not bytes.
//! - **DECIMAL** wider than Arrow's 76 digits (or on more than 32 bytes),
//!   which the crate refuses (the whole file would fail), comes out as its
//!   exact decimal text.
//!
//! The crate picks a leaf's decoder from the file's schema, so the leaves
//! above are described to it as plain fixed-size binary (same bytes on
//! disk, same encodings) and converted after decoding. Every reader of
//! Parquet in dagtrail (the read service and `ingest`) goes through
//! [`TypedFooter`].

use std::sync::Arc;

use arrow_array::builder::{
    IntervalMonthDayNanoBuilder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::IntervalMonthDayNano;
use arrow_array::{Array, ArrayRef, RecordBatch, make_array};
use arrow_schema::{
    ArrowError, DataType, Field, FieldRef, Fields, IntervalUnit, Schema, SchemaRef, TimeUnit,
};
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::basic::{ConvertedType, LogicalType, Type as PhysicalType};
use parquet::errors::ParquetError;
use parquet::file::metadata::{FileMetaData, ParquetMetaData, ParquetMetaDataBuilder};
use parquet::schema::types::{SchemaDescriptor, Type, TypePtr};

/// Field metadata naming the type a column is shown as when its Arrow type
/// would say less (`uuid` for a UUID read as text).
pub const SHOWN_TYPE: &str = "dagtrail.type";

/// Days from the Julian day epoch to 1970-01-01.
const JULIAN_DAY_OF_UNIX_EPOCH: i64 = 2_440_588;
const MICROS_PER_DAY: i64 = 86_400_000_000;
/// Arrow's widest decimal.
const MAX_DECIMAL_DIGITS: i32 = 76;
/// The widest decimal read as text: a file may claim any precision, and
/// each value's text is as long as its precision.
const MAX_TEXT_DECIMAL_DIGITS: i32 = 1_000;

/// What one leaf column needs after decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fix {
    /// INT96 → timestamp[us] (with the Arrow schema's zone, when any).
    Int96(Option<Arc<str>>),
    /// INTERVAL → month-day-nano interval.
    Interval,
    /// UUID → canonical text.
    Uuid,
    /// A decimal too wide for Arrow → its exact text.
    WideDecimal { scale: i32 },
}

/// A Parquet file's footer, prepared so that every column reads as what it
/// holds. Cheap to clone.
#[derive(Debug, Clone)]
pub struct TypedFooter {
    reader: ArrowReaderMetadata,
    schema: SchemaRef,
    /// One entry per leaf column, in schema order; `None` when no leaf
    /// needs fixing (the common case, which then costs nothing).
    fixes: Option<Arc<[Option<Fix>]>>,
    /// Top-level columns read differently from how they decode, by name:
    /// a VARIANT as the JSON text of its values, a column of Arrow type
    /// `null` as the type a contract file says it holds.
    recast: Option<Arc<[(String, Recast)]>>,
}

/// How a top-level column is read instead of as it decodes.
#[derive(Debug, Clone, PartialEq)]
enum Recast {
    /// A Parquet VARIANT (its `metadata`, `value` and `typed_value`
    /// parts): the JSON of each value, as DuckDB shows it.
    Variant,
    /// A column of only nulls: nulls of this type.
    Nulls(DataType),
}

/// Field metadata marking a text column whose values are JSON texts, to be
/// shown as the JSON values they spell (a VARIANT's).
pub const JSON_VALUES: &str = "dagtrail.json";

impl TypedFooter {
    /// Prepares a file's metadata for reading.
    ///
    /// # Errors
    ///
    /// When the file's schema cannot be read as Arrow (a decoding error
    /// naming the column).
    pub fn new(metadata: ParquetMetaData) -> Result<Self, ParquetError> {
        let metadata = Arc::new(metadata);
        // The Arrow schema a writer stores (`ARROW:schema`) restores Arrow
        // types Parquet lacks (zones, durations, large lists). One this
        // crate cannot parse (polars' 128-bit integers) would fail the
        // whole file: then the file is read by its Parquet types alone, as
        // DuckDB reads it.
        let mut options = ArrowReaderOptions::new();
        let plain = match ArrowReaderMetadata::try_new(Arc::clone(&metadata), options.clone()) {
            Ok(plain) => Ok(plain),
            Err(_) => {
                options = options.with_skip_arrow_metadata(true);
                ArrowReaderMetadata::try_new(Arc::clone(&metadata), options.clone())
            }
        };
        let hinted_leaves = match &plain {
            Ok(plain) => leaf_types(plain.schema().fields()),
            Err(_) => Vec::new(),
        };
        let descriptor = metadata.file_metadata().schema_descr();
        let mut fixes = Vec::with_capacity(descriptor.num_columns());
        let original = descriptor.root_schema_ptr();
        let root = rewrite(&original, &hinted_leaves, &mut fixes)?;
        if Arc::ptr_eq(&root, &original) {
            let reader = plain?;
            let schema = Arc::clone(reader.schema());
            return Ok(Self {
                reader,
                schema,
                fixes: None,
                recast: None,
            }
            .with_variants());
        }
        let file = metadata.file_metadata();
        let rewritten = FileMetaData::new(
            file.version(),
            file.num_rows(),
            file.created_by().map(str::to_owned),
            file.key_value_metadata().cloned(),
            Arc::new(SchemaDescriptor::new(root)),
            file.column_orders().cloned(),
        );
        let mut old = ParquetMetaDataBuilder::new_from_metadata(Arc::unwrap_or_clone(metadata));
        let rewritten = ParquetMetaDataBuilder::new(rewritten)
            .set_row_groups(old.take_row_groups())
            .set_page_index(old.take_page_index())
            .build();
        let reader = ArrowReaderMetadata::try_new(Arc::new(rewritten), options)?;
        if fixes.iter().all(Option::is_none) {
            // Only described differently (ENUM as text): nothing to convert.
            let schema = Arc::clone(reader.schema());
            return Ok(Self {
                reader,
                schema,
                fixes: None,
                recast: None,
            }
            .with_variants());
        }
        let fixes: Arc<[Option<Fix>]> = fixes.into();
        let mut leaves = fixes.iter();
        let fields: Vec<FieldRef> = reader
            .schema()
            .fields()
            .iter()
            .map(|f| fixed_field(f, &mut leaves, true))
            .collect();
        let schema = Arc::new(Schema::new_with_metadata(
            fields,
            reader.schema().metadata().clone(),
        ));
        Ok(Self {
            reader,
            schema,
            fixes: Some(fixes),
            recast: None,
        }
        .with_variants())
    }

    /// Marks the file's top-level VARIANT columns (Parquet's VARIANT
    /// logical type, as DuckDB and Spark 4 write it) to be read as the
    /// JSON of their values.
    fn with_variants(self) -> Self {
        let variants: Vec<String> = self
            .metadata()
            .file_metadata()
            .schema_descr()
            .root_schema()
            .get_fields()
            .iter()
            .filter(|f| {
                matches!(
                    f.get_basic_info().logical_type_ref(),
                    Some(parquet::basic::LogicalType::Variant(_))
                )
            })
            .map(|f| f.name().to_owned())
            .collect();
        let recasts = variants
            .into_iter()
            .map(|name| (name, Recast::Variant))
            .collect();
        self.recasting(recasts)
    }

    /// The footer with the top-level columns of Arrow type `null` whose
    /// names `expected` holds read as `expected`'s types (nulls): a
    /// contract file another writer wrote (pandas writes a column of only
    /// nulls with type `null`) holds what the contract says.
    pub fn with_nulls_as(self, expected: &Schema) -> Self {
        let recasts = self
            .schema
            .fields()
            .iter()
            .filter(|f| f.data_type() == &DataType::Null)
            .filter_map(|f| {
                let wanted = expected.field_with_name(f.name()).ok()?;
                Some((f.name().clone(), Recast::Nulls(wanted.data_type().clone())))
            })
            .collect();
        self.recasting(recasts)
    }

    fn recasting(mut self, add: Vec<(String, Recast)>) -> Self {
        if add.is_empty() {
            return self;
        }
        let fields: Vec<FieldRef> = self
            .schema
            .fields()
            .iter()
            .map(|f| match add.iter().find(|(name, _)| name == f.name()) {
                Some((_, Recast::Variant)) => {
                    let mut metadata = f.metadata().clone();
                    metadata.insert(SHOWN_TYPE.to_owned(), "variant".to_owned());
                    metadata.insert(JSON_VALUES.to_owned(), "true".to_owned());
                    Arc::new(Field::new(f.name(), DataType::Utf8, true).with_metadata(metadata))
                }
                Some((_, Recast::Nulls(data_type))) => Arc::new(
                    f.as_ref()
                        .clone()
                        .with_data_type(data_type.clone())
                        .with_nullable(true),
                ),
                None => Arc::clone(f),
            })
            .collect();
        self.schema = Arc::new(Schema::new_with_metadata(
            fields,
            self.schema.metadata().clone(),
        ));
        let mut all: Vec<(String, Recast)> = self.recast.as_deref().unwrap_or_default().to_vec();
        all.extend(add);
        self.recast = Some(all.into());
        self
    }

    /// The metadata to build the parquet crate's readers with. Their
    /// batches must go through [`TypedFooter::convert`].
    pub fn reader(&self) -> &ArrowReaderMetadata {
        &self.reader
    }

    /// A reader of this file that decodes the top-level text column
    /// `name` as a dictionary (`Dictionary(Int32, Utf8)`, the keys of
    /// Parquet's own dictionary pages when it has them): a filter on a
    /// column of few distinct values then compares each distinct value
    /// once and each row's key, instead of every row's text. `None` when
    /// the column is not `Utf8` or this file's columns need converting
    /// (its batches could not skip [`TypedFooter::convert`]).
    pub fn dictionary_reader(&self, name: &str) -> Option<ArrowReaderMetadata> {
        if self.fixes.is_some() {
            return None;
        }
        let schema = self.reader.schema();
        let (at, field) = schema.column_with_name(name)?;
        if field.data_type() != &DataType::Utf8 {
            return None;
        }
        let mut fields: Vec<FieldRef> = schema.fields().iter().cloned().collect();
        fields[at] = Arc::new(field.as_ref().clone().with_data_type(DataType::Dictionary(
            Box::new(DataType::Int32),
            Box::new(DataType::Utf8),
        )));
        let hint = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
        ArrowReaderMetadata::try_new(
            Arc::clone(self.metadata()),
            ArrowReaderOptions::new().with_schema(hint),
        )
        .ok()
    }

    /// The file's Parquet metadata (row groups, page index).
    pub fn metadata(&self) -> &Arc<ParquetMetaData> {
        self.reader.metadata()
    }

    /// The schema of the batches [`TypedFooter::convert`] returns.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Converts a batch decoded with [`TypedFooter::reader`] (any
    /// projection of whole top-level columns) into this file's types.
    ///
    /// # Errors
    ///
    /// When the batch does not come from this file.
    pub fn convert(&self, batch: RecordBatch) -> Result<RecordBatch, ArrowError> {
        let batch = self.fix_leaves(batch)?;
        let Some(recast) = &self.recast else {
            return Ok(batch);
        };
        let schema = batch.schema();
        let mut fields = Vec::with_capacity(batch.num_columns());
        let mut columns = Vec::with_capacity(batch.num_columns());
        for (field, column) in schema.fields().iter().zip(batch.columns()) {
            match recast.iter().find(|(name, _)| name == field.name()) {
                Some((_, how)) => {
                    let target = self.schema.field_with_name(field.name())?;
                    columns.push(match how {
                        Recast::Variant => variant_json(column.as_ref())?,
                        Recast::Nulls(data_type) => {
                            arrow_array::new_null_array(data_type, column.len())
                        }
                    });
                    fields.push(Arc::new(target.clone()));
                }
                None => {
                    fields.push(Arc::clone(field));
                    columns.push(Arc::clone(column));
                }
            }
        }
        RecordBatch::try_new(
            Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone())),
            columns,
        )
    }

    /// The leaves a file's Parquet types need fixing ([`Fix`]).
    fn fix_leaves(&self, batch: RecordBatch) -> Result<RecordBatch, ArrowError> {
        let Some(fixes) = &self.fixes else {
            return Ok(batch);
        };
        let all = self.reader.schema().fields();
        let leaves_of = leaf_counts(all);
        let mut columns = Vec::with_capacity(batch.num_columns());
        let mut fields = Vec::with_capacity(batch.num_columns());
        // A projection keeps the file's column order: each batch column is
        // the next reader column of its name and type (names may repeat).
        let mut cursor = 0;
        for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
            let at = (cursor..all.len())
                .find(|i| {
                    all[*i].name() == field.name() && all[*i].data_type() == field.data_type()
                })
                .ok_or_else(|| ArrowError::SchemaError(format!("no column {}", field.name())))?;
            cursor = at + 1;
            let first_leaf: usize = leaves_of[..at].iter().sum();
            let mut leaves = fixes[first_leaf..].iter();
            columns.push(fix_array(column, &mut leaves)?);
            let mut leaves = fixes[first_leaf..].iter();
            fields.push(fixed_field(field, &mut leaves, true));
        }
        let schema = Arc::new(Schema::new_with_metadata(
            fields,
            batch.schema().metadata().clone(),
        ));
        RecordBatch::try_new(schema, columns)
    }
}

/// A VARIANT column's values as their JSON texts (DuckDB's rendering:
/// numbers as numbers, text, dates and times as strings, binary as
/// base64), decoded by the `parquet-variant` crates, shredded
/// `typed_value`s included.
///
/// # Errors
///
/// When the column is not a VARIANT's struct, or a value is malformed.
fn variant_json(column: &dyn Array) -> Result<ArrayRef, ArrowError> {
    use parquet_variant_json::VariantToJson as _;
    let variants = parquet_variant_compute::VariantArray::try_new(column)?;
    let mut out = arrow_array::builder::StringBuilder::new();
    let mut text = Capped(Vec::new());
    for row in 0..variants.len() {
        if variants.is_null(row) {
            out.append_null();
            continue;
        }
        text.0.clear();
        variants.try_value(row)?.to_json(&mut text)?;
        out.append_value(String::from_utf8_lossy(&text.0));
    }
    Ok(Arc::new(out.finish()))
}

/// JSON of one VARIANT value at most: object keys are stored once in its
/// metadata and may be named by every value, so a small value can spell
/// a large text.
const VARIANT_JSON_BYTES: usize = 16 * 1024 * 1024;

/// A buffer that refuses to grow past [`VARIANT_JSON_BYTES`].
struct Capped(Vec<u8>);

impl std::io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + buf.len() > VARIANT_JSON_BYTES {
            return Err(std::io::Error::other(format!(
                "a VARIANT value is over {VARIANT_JSON_BYTES} bytes as JSON"
            )));
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The Arrow types of a schema's leaves, in Parquet's leaf order.
fn leaf_types(fields: &Fields) -> Vec<DataType> {
    fn walk(data_type: &DataType, out: &mut Vec<DataType>) {
        match children(data_type) {
            Some(kids) => kids.iter().for_each(|f| walk(f.data_type(), out)),
            None => out.push(data_type.clone()),
        }
    }
    let mut out = Vec::new();
    fields.iter().for_each(|f| walk(f.data_type(), &mut out));
    out
}

/// Leaves under each top-level field.
fn leaf_counts(fields: &Fields) -> Vec<usize> {
    fields
        .iter()
        .map(|f| leaf_types(&Fields::from(vec![Arc::clone(f)])).len())
        .collect()
}

/// The child fields of a nested type.
pub(crate) fn children(data_type: &DataType) -> Option<Vec<FieldRef>> {
    match data_type {
        DataType::Struct(fields) => Some(fields.iter().cloned().collect()),
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::ListView(f)
        | DataType::LargeListView(f)
        | DataType::FixedSizeList(f, _)
        | DataType::Map(f, _) => Some(vec![Arc::clone(f)]),
        _ => None,
    }
}

/// The same nested type with its children replaced.
pub(crate) fn with_children(data_type: &DataType, kids: Vec<FieldRef>) -> DataType {
    let one = || kids.first().cloned();
    match (data_type, one()) {
        (DataType::Struct(_), _) => DataType::Struct(kids.into()),
        (DataType::List(_), Some(f)) => DataType::List(f),
        (DataType::LargeList(_), Some(f)) => DataType::LargeList(f),
        (DataType::ListView(_), Some(f)) => DataType::ListView(f),
        (DataType::LargeListView(_), Some(f)) => DataType::LargeListView(f),
        (DataType::FixedSizeList(_, n), Some(f)) => DataType::FixedSizeList(f, *n),
        (DataType::Map(_, sorted), Some(f)) => DataType::Map(f, *sorted),
        (other, _) => other.clone(),
    }
}

fn fixed_type(data_type: &DataType, leaves: &mut std::slice::Iter<'_, Option<Fix>>) -> DataType {
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

fn fixed_field(
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

fn fix_array(
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
fn int96_micros(bytes: &[u8]) -> Option<i64> {
    let nanos = i64::from_le_bytes(bytes.get(0..8)?.try_into().ok()?);
    let day = i32::from_le_bytes(bytes.get(8..12)?.try_into().ok()?);
    (i64::from(day) - JULIAN_DAY_OF_UNIX_EPOCH)
        .checked_mul(MICROS_PER_DAY)?
        .checked_add(nanos / 1000)
}

fn interval(bytes: &[u8]) -> Option<IntervalMonthDayNano> {
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
fn decimal_text(bytes: &[u8], scale: i32) -> String {
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
fn rewrite(
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

#[cfg(test)]
mod tests;
