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

use arrow_array::{Array, RecordBatch};
use arrow_schema::{ArrowError, DataType, Field, FieldRef, Fields, Schema, SchemaRef};
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::errors::ParquetError;
use parquet::file::metadata::{FileMetaData, ParquetMetaData, ParquetMetaDataBuilder};
use parquet::schema::types::SchemaDescriptor;

mod fix;
mod variant;

use fix::{Fix, fix_array, fixed_field, rewrite};
#[cfg(test)]
use fix::{decimal_text, int96_micros, interval};
use variant::variant_json;

/// Field metadata naming the type a column is shown as when its Arrow type
/// would say less (`uuid` for a UUID read as text).
pub const SHOWN_TYPE: &str = "dagtrail.type";

/// Days from the Julian day epoch to 1970-01-01.
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

#[cfg(test)]
mod tests;
