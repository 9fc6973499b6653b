//! What bounds the memory of one input, whatever it declares (issue 23):
//! the bytes of a row, the columns and their nesting, the bytes of a
//! batch and of a whole part as decoded. A part's size on the wire says
//! little about what it decodes to (a 64 MB NDJSON line of `[0,0,…]` took
//! 3.2 GB; 33 KB of Parquet held a 1 GiB string), so every decoder checks
//! these before it allocates for them, and every batch any decoder yields
//! is cut into pieces of bounded bytes before the writer sees it.
//!
//! The figures each limit buys are in docs/RELIABILITY.md ("Memory").

use std::io::BufRead;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Fields, Schema};

/// Bytes of one row at most by default (`DAGTRAIL_MAX_ROW_BYTES`): an
/// NDJSON line, a CSV record, a row of Parquet or Arrow as decoded, and so
/// every cell in it.
pub const DEFAULT_MAX_ROW_BYTES: usize = 1024 * 1024;
/// Columns of an input at most by default (`DAGTRAIL_MAX_COLUMNS`),
/// counting each leaf of a nested column.
pub const DEFAULT_MAX_COLUMNS: usize = 1_000;
/// Levels of nesting at most by default (`DAGTRAIL_MAX_NESTING`): a JSON
/// value inside an object or list is one level down.
pub const DEFAULT_MAX_NESTING: usize = 32;
/// Bytes of one Arrow IPC message at most by default
/// (`DAGTRAIL_MAX_BATCH_BYTES`), as sent and as decompressed.
pub const DEFAULT_MAX_BATCH_BYTES: usize = 64 * 1024 * 1024;
/// Bytes one part may decode to at most by default
/// (`DAGTRAIL_MAX_PART_DECODED_BYTES`): 4 GiB, so that a small part whose
/// values repeat (a dictionary, run-end encoding) cannot keep a slot for
/// hours.
pub const DEFAULT_MAX_DECODED_BYTES: u64 = 4 * 1024 * 1024 * 1024;
/// Memory a Parquet part's decoder process may take by default
/// (`DAGTRAIL_DECODER_MEMORY_BYTES`).
pub const DEFAULT_DECODER_MEMORY: u64 = 256 * 1024 * 1024;
/// Bytes of rows handed to the writer at once: text inputs end a batch
/// here (or at 8,192 rows), and any decoder's batch is cut to it.
pub const BATCH_BYTES: usize = 8 * 1024 * 1024;
/// Bytes of the first rows that column types are inferred from (at least
/// one row, at most 1,000): the first batch's. Inference holds one row's
/// value at a time, so this bounds time, not memory.
pub const INFER_BYTES: usize = BATCH_BYTES;

/// What bounds one input (handed to a decoder process as JSON).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IngestLimits {
    /// Bytes of one row (line, record, decoded row) at most.
    pub max_row_bytes: usize,
    /// Leaf columns at most.
    pub max_columns: usize,
    /// Nesting levels at most.
    pub max_nesting: usize,
    /// Bytes of one Arrow IPC message at most, as sent and decompressed.
    pub max_batch_bytes: usize,
    /// Bytes one input may decode to (`None`: no bound, for files an
    /// operator ingests on their own machine).
    pub max_decoded_bytes: Option<u64>,
    /// Memory of a Parquet decoder process.
    pub decoder_memory: u64,
    /// The executable that decodes Parquet in a process of its own, under
    /// [`IngestLimits::decoder_memory`] (`dagtrail decode-part`); `None`
    /// decodes in this process (the CLI on its own files, tests).
    #[serde(skip)]
    pub decoder: Option<std::path::PathBuf>,
}

impl Default for IngestLimits {
    fn default() -> Self {
        Self {
            max_row_bytes: DEFAULT_MAX_ROW_BYTES,
            max_columns: DEFAULT_MAX_COLUMNS,
            max_nesting: DEFAULT_MAX_NESTING,
            max_batch_bytes: DEFAULT_MAX_BATCH_BYTES,
            max_decoded_bytes: Some(DEFAULT_MAX_DECODED_BYTES),
            decoder_memory: DEFAULT_DECODER_MEMORY,
            decoder: None,
        }
    }
}

impl IngestLimits {
    /// The defaults for files an operator ingests with `dagtrail ingest`:
    /// no bound on a file's decoded bytes (it may hold billions of rows);
    /// every other bound as for parts.
    pub fn for_files() -> Self {
        Self {
            max_decoded_bytes: None,
            ..Self::default()
        }
    }
}

/// Which limit an input is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Limit {
    /// [`IngestLimits::max_row_bytes`].
    RowBytes,
    /// [`IngestLimits::max_columns`].
    Columns,
    /// [`IngestLimits::max_nesting`].
    Nesting,
    /// [`IngestLimits::max_batch_bytes`].
    BatchBytes,
    /// [`IngestLimits::max_decoded_bytes`].
    DecodedBytes,
    /// [`IngestLimits::decoder_memory`].
    DecoderMemory,
}

impl Limit {
    /// The setting that raises it.
    pub fn setting(self) -> &'static str {
        match self {
            Limit::RowBytes => "DAGTRAIL_MAX_ROW_BYTES",
            Limit::Columns => "DAGTRAIL_MAX_COLUMNS",
            Limit::Nesting => "DAGTRAIL_MAX_NESTING",
            Limit::BatchBytes => "DAGTRAIL_MAX_BATCH_BYTES",
            Limit::DecodedBytes => "DAGTRAIL_MAX_PART_DECODED_BYTES",
            Limit::DecoderMemory => "DAGTRAIL_DECODER_MEMORY_BYTES",
        }
    }

    /// Whether going past it makes the input too large (413) rather than
    /// of a shape the server refuses (422).
    pub fn too_large(self) -> bool {
        !matches!(self, Limit::Columns | Limit::Nesting)
    }

    fn unit(self) -> &'static str {
        match self {
            Limit::Columns => "columns",
            Limit::Nesting => "levels",
            _ => "bytes",
        }
    }
}

/// An input over one of its limits: what went past it, the bound and the
/// setting that raises it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[error("{what}: over the limit of {bound} {unit} ({setting})", unit = limit.unit(), setting = limit.setting())]
pub struct OverLimit {
    /// The limit.
    pub limit: Limit,
    /// Its value.
    pub bound: u64,
    /// What went past it ("a line is longer", "2,301 columns").
    pub what: String,
}

impl OverLimit {
    /// `what` over `limit`, whose value is `bound`.
    pub fn new(limit: Limit, bound: impl TryInto<u64>, what: impl Into<String>) -> Self {
        Self {
            limit,
            bound: bound.try_into().unwrap_or(u64::MAX),
            what: what.into(),
        }
    }
}

/// How [`read_line`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line {
    /// A line of this many bytes (its `\n` included) was appended.
    Read(usize),
    /// The input ended before any byte.
    End,
    /// The line is longer than the bound: reading stopped there.
    TooLong,
}

/// Appends the next line of `reader` (up to and with its `\n`) to `buf`,
/// reading no further than `max` bytes of it: `BufRead::read_until` would
/// hold a line of any length.
///
/// # Errors
///
/// The reader's.
pub fn read_line(
    reader: &mut impl BufRead,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Line> {
    let mut read = 0usize;
    loop {
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(if read == 0 {
                Line::End
            } else {
                Line::Read(read)
            });
        }
        let (take, ends) = match memchr::memchr(b'\n', available) {
            Some(at) => (at + 1, true),
            None => (available.len(), false),
        };
        if read + take > max.saturating_add(1) || (!ends && read + take > max) {
            return Ok(Line::TooLong);
        }
        buf.extend_from_slice(&available[..take]);
        reader.consume(take);
        read += take;
        if ends {
            return Ok(Line::Read(read));
        }
    }
}

/// A JSON text's fault of shape: too deep, or an object naming a key twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonShapeFault {
    /// Over a limit: nested deeper than the bound, or an object of more
    /// keys than any column rule takes.
    TooDeep(OverLimit),
    /// An object holds this key twice (its path from the top, dotted).
    DuplicateKey(String),
    /// Not JSON (serde_json's message and column).
    Syntax(String),
}

impl std::fmt::Display for JsonShapeFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JsonShapeFault::TooDeep(over) => over.fmt(f),
            JsonShapeFault::DuplicateKey(path) => write!(
                f,
                "column {path:?} is named twice in one object (a value would be lost: name each column once)"
            ),
            JsonShapeFault::Syntax(reason) => f.write_str(reason),
        }
    }
}

/// Checks a JSON text's shape without building it: at most `max_nesting`
/// levels below the top value, and no object naming a key twice (where
/// `serde_json` and `arrow-json` keep the last value and drop the others).
///
/// # Errors
///
/// The first fault found.
pub fn check_json_shape(text: &[u8], max_nesting: usize) -> Result<JsonCounts, JsonShapeFault> {
    use serde::de::DeserializeSeed;
    let mut deserializer = serde_json::Deserializer::from_slice(text);
    let mut fault = None;
    let mut counts = JsonCounts::default();
    let walked = Shape {
        depth: 0,
        max: max_nesting,
        path: &mut Vec::new(),
        fault: &mut fault,
        counts: &mut counts,
    }
    .deserialize(&mut deserializer);
    if let Some(fault) = fault {
        return Err(fault);
    }
    walked
        .and_then(|()| deserializer.end())
        .map_err(|e| JsonShapeFault::Syntax(e.to_string()))?;
    Ok(counts)
}

/// What a JSON text holds, counted by [`check_json_shape`]: what decoding
/// it costs beyond its bytes (an empty object in a list of structs
/// decodes to a value of every field of the struct).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JsonCounts {
    /// Values of any kind (scalars, lists, objects).
    pub values: u64,
    /// Objects below the top one.
    pub objects: u64,
}

impl JsonCounts {
    /// Values a text decodes to at most when each of its objects below the
    /// top is a struct of `struct_leaves` leaves.
    pub fn cells(&self, struct_leaves: usize) -> u64 {
        self.values
            .saturating_add(self.objects.saturating_mul(struct_leaves as u64))
    }
}

/// Keys one JSON object may hold at most: past it the walk stops (no
/// column rule would take it, and a sorted or hashed set of millions of
/// keys is its own cost).
const MAX_OBJECT_KEYS: usize = 100_000;

/// One JSON value walked for [`check_json_shape`]: the fault is kept
/// apart from serde's error so that it keeps its kind.
struct Shape<'a> {
    depth: usize,
    max: usize,
    path: &'a mut Vec<String>,
    fault: &'a mut Option<JsonShapeFault>,
    counts: &'a mut JsonCounts,
}

impl Shape<'_> {
    fn below<E: serde::de::Error>(&mut self) -> Result<Shape<'_>, E> {
        if self.depth >= self.max {
            *self.fault = Some(JsonShapeFault::TooDeep(OverLimit::new(
                Limit::Nesting,
                self.max,
                format!(
                    "a value is nested more than {} levels deep (at {})",
                    self.max,
                    if self.path.is_empty() {
                        "the top".to_owned()
                    } else {
                        self.path.join(".")
                    }
                ),
            )));
            return Err(E::custom("too deep"));
        }
        Ok(Shape {
            depth: self.depth + 1,
            max: self.max,
            path: self.path,
            fault: self.fault,
            counts: self.counts,
        })
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for Shape<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        self.counts.values = self.counts.values.saturating_add(1);
        deserializer.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Shape<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_i128<E>(self, _: i128) -> Result<(), E> {
        Ok(())
    }
    fn visit_u128<E>(self, _: u128) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0usize;
        loop {
            let below = self.below()?;
            below.path.push(index.to_string());
            let next = seq.next_element_seed(below);
            self.path.pop();
            if next?.is_none() {
                return Ok(());
            }
            index += 1;
        }
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        if self.depth > 0 {
            self.counts.objects = self.counts.objects.saturating_add(1);
        }
        let mut keys: std::collections::HashSet<String> = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if keys.len() >= MAX_OBJECT_KEYS {
                *self.fault = Some(JsonShapeFault::TooDeep(OverLimit::new(
                    Limit::Columns,
                    MAX_OBJECT_KEYS,
                    format!("an object holds more than {MAX_OBJECT_KEYS} keys"),
                )));
                return Err(serde::de::Error::custom("too many keys"));
            }
            if !keys.insert(key.to_string()) {
                let mut path = self.path.clone();
                path.push(key.into_owned());
                *self.fault = Some(JsonShapeFault::DuplicateKey(path.join(".")));
                return Err(serde::de::Error::custom("duplicate key"));
            }
            let below = self.below()?;
            below.path.push(key.into_owned());
            let value = map.next_value_seed(below);
            self.path.pop();
            value?;
        }
        Ok(())
    }
}

/// Checks a schema against the limits and the one naming rule: at most
/// `max_columns` leaves, `max_nesting` levels, and no two fields of one
/// struct (or the top) with the same name.
///
/// # Errors
///
/// [`SchemaFault`] naming the first fault.
pub fn check_schema(schema: &Schema, limits: &IngestLimits) -> Result<(), SchemaFault> {
    check_fields(schema.fields(), &mut Vec::new(), 0, limits)?;
    let leaves: usize = schema.fields().iter().map(|f| leaves(f.data_type())).sum();
    if leaves > limits.max_columns {
        return Err(SchemaFault::Over(OverLimit::new(
            Limit::Columns,
            limits.max_columns,
            format!("{leaves} columns (nested fields counted one by one)"),
        )));
    }
    Ok(())
}

/// A schema's fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaFault {
    /// Over a limit.
    #[error(transparent)]
    Over(OverLimit),
    /// Two columns of one level with one name (the dotted path).
    #[error("column {0:?} is named twice (a value would be lost: name each column once)")]
    Duplicate(String),
}

fn check_fields(
    fields: &Fields,
    path: &mut Vec<String>,
    depth: usize,
    limits: &IngestLimits,
) -> Result<(), SchemaFault> {
    let mut names: Vec<&str> = fields.iter().map(|f| f.name().as_str()).collect();
    names.sort_unstable();
    if let Some(twice) = names.windows(2).find(|w| w[0] == w[1]) {
        let mut named = path.clone();
        named.push(twice[0].to_owned());
        return Err(SchemaFault::Duplicate(named.join(".")));
    }
    for field in fields {
        path.push(field.name().clone());
        check_type(field.data_type(), path, depth, limits)?;
        path.pop();
    }
    Ok(())
}

fn check_type(
    data_type: &DataType,
    path: &mut Vec<String>,
    depth: usize,
    limits: &IngestLimits,
) -> Result<(), SchemaFault> {
    let Some(kids) = type_children(data_type) else {
        return Ok(());
    };
    if depth >= limits.max_nesting {
        return Err(SchemaFault::Over(OverLimit::new(
            Limit::Nesting,
            limits.max_nesting,
            format!(
                "column {:?} is nested more than {} levels deep",
                path.join("."),
                limits.max_nesting
            ),
        )));
    }
    match data_type {
        // A struct's fields are columns of their own, named apart.
        DataType::Struct(fields) => check_fields(fields, path, depth + 1, limits),
        _ => kids
            .iter()
            .try_for_each(|f| check_type(f.data_type(), path, depth + 1, limits)),
    }
}

/// The fields a type holds (list items, struct fields, map entries,
/// dictionary values), or `None` for a leaf.
fn type_children(data_type: &DataType) -> Option<Vec<Arc<Field>>> {
    match data_type {
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::ListView(f)
        | DataType::LargeListView(f)
        | DataType::FixedSizeList(f, _)
        | DataType::Map(f, _) => Some(vec![Arc::clone(f)]),
        DataType::Struct(fields) => Some(fields.iter().cloned().collect()),
        DataType::Union(fields, _) => Some(fields.iter().map(|(_, f)| Arc::clone(f)).collect()),
        DataType::Dictionary(_, values) => Some(vec![Arc::new(Field::new(
            "values",
            (**values).clone(),
            true,
        ))]),
        DataType::RunEndEncoded(_, values) => Some(vec![Arc::clone(values)]),
        _ => None,
    }
}

/// Leaf columns of a type.
pub(crate) fn leaves(data_type: &DataType) -> usize {
    match type_children(data_type) {
        Some(kids) => kids
            .iter()
            .map(|f| leaves(f.data_type()))
            .sum::<usize>()
            .max(1),
        None => 1,
    }
}

/// Bytes each row of `array` takes once its values are laid out plainly
/// (what the writer and every kernel after the decoder materialize): a
/// dictionary's or a run's value counts once per row that shows it, a
/// view's bytes once per view. Added to `sizes`, one entry per row.
fn add_row_bytes(array: &dyn Array, sizes: &mut [u64]) {
    let rows = array.len().min(sizes.len());
    // A validity bit, and what a row of a leaf takes at least.
    let fixed = |width: u64, sizes: &mut [u64]| {
        for size in sizes.iter_mut().take(rows) {
            *size = size.saturating_add(width);
        }
    };
    match array.data_type() {
        DataType::Utf8 | DataType::Binary => {
            let offsets = if let Some(a) = array.as_string_opt::<i32>() {
                a.value_offsets()
            } else {
                array.as_binary::<i32>().value_offsets()
            };
            for (row, pair) in offsets.windows(2).take(rows).enumerate() {
                let len = u64::try_from(pair[1].saturating_sub(pair[0])).unwrap_or(0);
                sizes[row] = sizes[row].saturating_add(len + 4);
            }
        }
        DataType::LargeUtf8 | DataType::LargeBinary => {
            let offsets = if let Some(a) = array.as_string_opt::<i64>() {
                a.value_offsets()
            } else {
                array.as_binary::<i64>().value_offsets()
            };
            for (row, pair) in offsets.windows(2).take(rows).enumerate() {
                let len = u64::try_from(pair[1].saturating_sub(pair[0])).unwrap_or(0);
                sizes[row] = sizes[row].saturating_add(len + 8);
            }
        }
        DataType::Utf8View | DataType::BinaryView => {
            let views = if let Some(a) = array.as_string_view_opt() {
                a.views()
            } else {
                array.as_binary_view().views()
            };
            for (row, view) in views.iter().take(rows).enumerate() {
                // The low 32 bits of a view are its value's length.
                let len = u64::from(*view as u32);
                sizes[row] = sizes[row].saturating_add(len + 16);
            }
        }
        DataType::List(_) | DataType::LargeList(_) | DataType::Map(_, _) => {
            let (offsets, values): (Vec<usize>, ArrayRef) = match array.data_type() {
                DataType::List(_) => {
                    let list = array.as_list::<i32>();
                    (
                        list.value_offsets()
                            .iter()
                            .map(|o| usize::try_from(*o).unwrap_or(0))
                            .collect(),
                        Arc::clone(list.values()),
                    )
                }
                DataType::LargeList(_) => {
                    let list = array.as_list::<i64>();
                    (
                        list.value_offsets()
                            .iter()
                            .map(|o| usize::try_from(*o).unwrap_or(0))
                            .collect(),
                        Arc::clone(list.values()),
                    )
                }
                _ => {
                    let map = array.as_map();
                    (
                        map.value_offsets()
                            .iter()
                            .map(|o| usize::try_from(*o).unwrap_or(0))
                            .collect(),
                        Arc::new(map.entries().clone()) as ArrayRef,
                    )
                }
            };
            nested_row_bytes(&offsets, values.as_ref(), rows, sizes);
        }
        DataType::FixedSizeList(_, width) => {
            let list = array.as_fixed_size_list();
            let width = usize::try_from(*width).unwrap_or(0);
            let start = list.offset() * width;
            let offsets: Vec<usize> = (0..=rows).map(|r| start + r * width).collect();
            // The values of a sliced fixed-size list start at its offset.
            nested_row_bytes(&offsets, list.values().as_ref(), rows, sizes);
        }
        DataType::FixedSizeBinary(width) => {
            fixed(u64::try_from(*width).unwrap_or(0).max(1), sizes);
        }
        DataType::ListView(_) | DataType::LargeListView(_) => {
            // Each row views its own range of the values (ranges may
            // overlap: every view counts).
            let (ranges, values) = match array.data_type() {
                DataType::ListView(_) => view_ranges(array.as_list_view::<i32>()),
                _ => view_ranges(array.as_list_view::<i64>()),
            };
            let mut value_sizes = vec![0u64; values.len()];
            add_row_bytes(values.as_ref(), &mut value_sizes);
            // Prefix sums, so that each row's range is one subtraction.
            let mut prefix = Vec::with_capacity(value_sizes.len() + 1);
            prefix.push(0u64);
            for size in &value_sizes {
                let last = prefix.last().copied().unwrap_or(0);
                prefix.push(last.saturating_add(*size));
            }
            for (row, (offset, len)) in ranges.iter().take(rows).enumerate() {
                let end = offset.saturating_add(*len).min(value_sizes.len());
                let start = (*offset).min(end);
                let sum = prefix[end].saturating_sub(prefix[start]);
                sizes[row] = sizes[row].saturating_add(sum.saturating_add(8));
            }
        }
        DataType::Struct(_) => {
            for column in array.as_struct().columns() {
                add_row_bytes(column.as_ref(), sizes);
            }
            fixed(1, sizes);
        }
        DataType::Dictionary(_, _) => {
            let dictionary = array.as_any_dictionary();
            let values = dictionary.values();
            let mut value_sizes = vec![0u64; values.len()];
            add_row_bytes(values.as_ref(), &mut value_sizes);
            for (row, key) in dictionary.normalized_keys().iter().take(rows).enumerate() {
                let size = value_sizes.get(*key).copied().unwrap_or(0);
                sizes[row] = sizes[row].saturating_add(size);
            }
        }
        DataType::RunEndEncoded(_, _) => {
            // A run's value counts for every row of the run.
            let values = ree_values(array);
            let mut value_sizes = vec![0u64; values.as_ref().map_or(0, |(v, _)| v.len())];
            if let Some((values, physical)) = values {
                add_row_bytes(values.as_ref(), &mut value_sizes);
                for (row, index) in physical.iter().take(rows).enumerate() {
                    let size = value_sizes.get(*index).copied().unwrap_or(0);
                    sizes[row] = sizes[row].saturating_add(size);
                }
            }
        }
        DataType::Union(_, _) => {
            let union = array.as_union();
            for (row, size) in sizes.iter_mut().enumerate().take(rows) {
                let child = union.child(union.type_id(row));
                let index = union.value_offset(row);
                let mut one = [0u64];
                add_row_bytes(child.slice(index, 1).as_ref(), &mut one);
                *size = size.saturating_add(one[0] + 1);
            }
        }
        DataType::Null => fixed(0, sizes),
        other => fixed(
            other
                .primitive_width()
                .map_or(16, |w| u64::try_from(w).unwrap_or(16))
                .max(1),
            sizes,
        ),
    }
}

/// Each row's range of a list view's values (offset, length), and the
/// values.
fn view_ranges<O: arrow_array::OffsetSizeTrait>(
    list: &arrow_array::GenericListViewArray<O>,
) -> (Vec<(usize, usize)>, ArrayRef) {
    let ranges = list
        .offsets()
        .iter()
        .zip(list.sizes().iter())
        .map(|(o, n)| (o.as_usize(), n.as_usize()))
        .collect();
    (ranges, Arc::clone(list.values()))
}

/// Adds to each row the bytes of its range of `values` (`offsets[row]..
/// offsets[row + 1]`) and its offset.
fn nested_row_bytes(offsets: &[usize], values: &dyn Array, rows: usize, sizes: &mut [u64]) {
    let (Some(first), Some(last)) = (offsets.first(), offsets.get(rows)) else {
        return;
    };
    let (first, last) = (*first, (*last).min(values.len()));
    if last < first {
        return;
    }
    let mut value_sizes = vec![0u64; last - first];
    add_row_bytes(values.slice(first, last - first).as_ref(), &mut value_sizes);
    for (row, pair) in offsets.windows(2).take(rows).enumerate() {
        let (from, to) = (pair[0].saturating_sub(first), pair[1].saturating_sub(first));
        let sum: u64 = value_sizes
            .get(from..to.min(value_sizes.len()))
            .map_or(0, |s| s.iter().fold(0u64, |a, b| a.saturating_add(*b)));
        sizes[row] = sizes[row].saturating_add(sum.saturating_add(8));
    }
}

/// A run-end encoded array's values and, for each of its rows, the index
/// of the value that row shows.
fn ree_values(array: &dyn Array) -> Option<(ArrayRef, Vec<usize>)> {
    use arrow_array::types::{Int16Type, Int32Type, Int64Type};
    let any = array.as_any();
    let (values, physical) = if let Some(a) = any.downcast_ref::<arrow_array::RunArray<Int16Type>>()
    {
        (
            Arc::clone(a.values()),
            a.get_physical_indices(&row_numbers(a.len())),
        )
    } else if let Some(a) = any.downcast_ref::<arrow_array::RunArray<Int32Type>>() {
        (
            Arc::clone(a.values()),
            a.get_physical_indices(&row_numbers(a.len())),
        )
    } else if let Some(a) = any.downcast_ref::<arrow_array::RunArray<Int64Type>>() {
        (
            Arc::clone(a.values()),
            a.get_physical_indices(&row_numbers(a.len())),
        )
    } else {
        return None;
    };
    Some((values, physical.ok()?))
}

/// `0..rows` as the index type run-end lookups take.
fn row_numbers(rows: usize) -> Vec<u64> {
    (0..rows as u64).collect()
}

/// Bytes each row of `batch` takes laid out plainly ([`add_row_bytes`]).
pub fn row_bytes(batch: &RecordBatch) -> Vec<u64> {
    let mut sizes = vec![0u64; batch.num_rows()];
    for column in batch.columns() {
        add_row_bytes(column.as_ref(), &mut sizes);
    }
    sizes
}

/// Slices of a batch, each with the index of its first row.
pub type Pieces = Vec<(usize, RecordBatch)>;

/// Values an array holds, every child array's counted (a list's items,
/// a struct's fields, a dictionary's values, a run's values and rows),
/// from lengths alone: a value of Arrow type `null` takes no buffer, so a
/// message of a few bytes can declare a list of 2^40 of them, which no
/// measure of the array may then allocate a slot for each of.
pub fn values_in(array: &dyn Array) -> u64 {
    let own = array.len() as u64;
    let children: u64 = match array.data_type() {
        DataType::List(_) => values_in(array.as_list::<i32>().values().as_ref()),
        DataType::LargeList(_) => values_in(array.as_list::<i64>().values().as_ref()),
        DataType::ListView(_) => values_in(array.as_list_view::<i32>().values().as_ref()),
        DataType::LargeListView(_) => values_in(array.as_list_view::<i64>().values().as_ref()),
        DataType::FixedSizeList(_, _) => values_in(array.as_fixed_size_list().values().as_ref()),
        DataType::Map(_, _) => values_in(array.as_map().entries()),
        DataType::Struct(_) => array
            .as_struct()
            .columns()
            .iter()
            .map(|c| values_in(c.as_ref()))
            .fold(0u64, u64::saturating_add),
        DataType::Union(_, _) => {
            let union = array.as_union();
            union
                .type_ids()
                .iter()
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .map(|id| values_in(union.child(*id).as_ref()))
                .fold(0u64, u64::saturating_add)
        }
        DataType::Dictionary(_, _) => values_in(array.as_any_dictionary().values().as_ref()),
        DataType::RunEndEncoded(_, _) => {
            ree_values(array).map_or(0, |(values, _)| values_in(values.as_ref()))
        }
        _ => 0,
    };
    own.saturating_add(children)
}

/// Why [`split_by_bytes`] refused a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitFault {
    /// This 0-based row takes more than the row bound, in bytes.
    Row {
        /// The row.
        row: usize,
        /// Its bytes.
        bytes: u64,
    },
    /// The batch holds more values than the bound ([`values_in`]).
    Values(u64),
}

/// `batch` cut into consecutive slices of at most `target` bytes each (a
/// row alone may be more, up to `max_row`), with their first rows, and the
/// bytes of the whole batch; the batch whole when it fits. Every row
/// counts at least one byte, so that a batch of many empty rows is not
/// free. A batch of more than `max_values` values ([`values_in`]) is
/// refused before any is measured: measuring takes 8 bytes a value.
///
/// # Errors
///
/// [`SplitFault`]: the first row over `max_row` bytes, or too many values.
pub fn split_by_bytes(
    batch: &RecordBatch,
    target: usize,
    max_row: usize,
    max_values: u64,
) -> Result<(Pieces, u64), SplitFault> {
    let values = batch
        .columns()
        .iter()
        .map(|c| values_in(c.as_ref()))
        .fold(batch.num_rows() as u64, u64::saturating_add);
    if values > max_values {
        return Err(SplitFault::Values(values));
    }
    let (target, max_row) = (target as u64, max_row as u64);
    let sizes = row_bytes(batch);
    let mut pieces = Vec::new();
    let (mut start, mut bytes, mut total) = (0usize, 0u64, 0u64);
    for (row, size) in sizes.iter().enumerate() {
        let size = (*size).max(1);
        if size > max_row {
            return Err(SplitFault::Row { row, bytes: size });
        }
        if row > start && bytes.saturating_add(size) > target {
            pieces.push((start, batch.slice(start, row - start)));
            (start, bytes) = (row, 0);
        }
        bytes = bytes.saturating_add(size);
        total = total.saturating_add(size);
    }
    if pieces.is_empty() {
        return Ok((vec![(0, batch.clone())], total));
    }
    if start < batch.num_rows() {
        pieces.push((start, batch.slice(start, batch.num_rows() - start)));
    }
    Ok((pieces, total))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::types::Int32Type;
    use arrow_array::{
        DictionaryArray, Int32Array, Int64Array, ListArray, RunArray, StringArray, StructArray,
    };

    use super::*;

    #[test]
    fn a_line_is_read_no_further_than_its_bound() {
        let text = b"{\"a\":1}\n0123456789\nend";
        let mut reader = std::io::BufReader::with_capacity(4, &text[..]);
        let mut buf = Vec::new();
        assert_eq!(read_line(&mut reader, &mut buf, 8).unwrap(), Line::Read(8));
        assert_eq!(buf, b"{\"a\":1}\n");
        buf.clear();
        assert_eq!(read_line(&mut reader, &mut buf, 8).unwrap(), Line::TooLong);
        assert!(buf.len() <= 8, "held {} bytes", buf.len());
        let mut reader = &b"x\nyz"[..];
        let mut buf = Vec::new();
        assert_eq!(read_line(&mut reader, &mut buf, 2).unwrap(), Line::Read(2));
        assert_eq!(read_line(&mut reader, &mut buf, 2).unwrap(), Line::Read(2));
        assert_eq!(read_line(&mut reader, &mut buf, 2).unwrap(), Line::End);
    }

    #[test]
    fn json_shapes_are_checked_without_building_values() {
        let counts = check_json_shape(br#"{"a":[1,{"b":2},{}],"c":"x"}"#, 3).unwrap();
        // The top object, a list, 1, two objects, 2, "x".
        assert_eq!(
            counts,
            JsonCounts {
                values: 7,
                objects: 2
            }
        );
        assert_eq!(counts.cells(10), 27);
        assert!(matches!(
            check_json_shape(br#"{"a":[[[[1]]]]}"#, 3),
            Err(JsonShapeFault::TooDeep(_))
        ));
        assert_eq!(
            check_json_shape(br#"{"a":1,"b":{"c":1,"c":2}}"#, 8),
            Err(JsonShapeFault::DuplicateKey("b.c".into()))
        );
        assert_eq!(
            check_json_shape(br#"{"a":1,"a":2}"#, 8),
            Err(JsonShapeFault::DuplicateKey("a".into()))
        );
        // Escapes spell the same key.
        assert!(check_json_shape(br#"{"a":1,"\u0061":2}"#, 8).is_err());
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(
            check_json_shape(deep.as_bytes(), 32),
            Err(JsonShapeFault::TooDeep(_))
        ));
        assert!(matches!(
            check_json_shape(b"{\"a\":", 8),
            Err(JsonShapeFault::Syntax(_))
        ));
    }

    #[test]
    fn schemas_are_bounded_and_name_each_column_once() {
        let limits = IngestLimits {
            max_columns: 3,
            max_nesting: 2,
            ..IngestLimits::default()
        };
        let field = |name: &str, t: DataType| Field::new(name, t, true);
        let ok = Schema::new(vec![
            field("a", DataType::Int64),
            field(
                "s",
                DataType::Struct(
                    vec![field("a", DataType::Int64), field("b", DataType::Utf8)].into(),
                ),
            ),
        ]);
        assert_eq!(check_schema(&ok, &limits), Ok(()));
        let twice = Schema::new(vec![
            field("a", DataType::Int64),
            field("a", DataType::Utf8),
        ]);
        assert_eq!(
            check_schema(&twice, &limits),
            Err(SchemaFault::Duplicate("a".into()))
        );
        let nested_twice = Schema::new(vec![field(
            "s",
            DataType::Struct(vec![field("x", DataType::Int64), field("x", DataType::Int64)].into()),
        )]);
        assert_eq!(
            check_schema(&nested_twice, &limits),
            Err(SchemaFault::Duplicate("s.x".into()))
        );
        let wide = Schema::new(
            (0..4)
                .map(|i| field(&format!("c{i}"), DataType::Int64))
                .collect::<Vec<_>>(),
        );
        assert!(matches!(
            check_schema(&wide, &limits),
            Err(SchemaFault::Over(OverLimit {
                limit: Limit::Columns,
                ..
            }))
        ));
        let item = Arc::new(field("item", DataType::Int64));
        let list3 = DataType::List(Arc::new(field(
            "item",
            DataType::List(Arc::new(field("item", DataType::List(item)))),
        )));
        assert!(matches!(
            check_schema(&Schema::new(vec![field("l", list3)]), &limits),
            Err(SchemaFault::Over(OverLimit {
                limit: Limit::Nesting,
                ..
            }))
        ));
    }

    #[test]
    fn rows_are_counted_as_they_will_be_laid_out() {
        // One 1,000-byte value shown by 1,000 rows: 1 MB laid out plainly.
        let values = StringArray::from(vec!["x".repeat(1000)]);
        let keys = Int32Array::from(vec![0; 1000]);
        let dictionary = DictionaryArray::<Int32Type>::try_new(keys, Arc::new(values)).unwrap();
        let batch = RecordBatch::try_from_iter([("d", Arc::new(dictionary) as ArrayRef)]).unwrap();
        let sizes = row_bytes(&batch);
        assert!(sizes.iter().all(|s| *s >= 1000), "{:?}", &sizes[..3]);
        let (pieces, total) = split_by_bytes(&batch, 100_000, 10_000, 1 << 20).unwrap();
        assert!(total >= 1_000_000);
        assert!(pieces.len() >= 10, "{} pieces", pieces.len());
        assert_eq!(
            pieces.iter().map(|(_, p)| p.num_rows()).sum::<usize>(),
            1000
        );
        assert!(matches!(
            split_by_bytes(&batch, 100_000, 500, 1 << 20),
            Err(SplitFault::Row { row: 0, .. })
        ));
        // A list of 2^40 values of type null: refused from its lengths,
        // before a slot is allocated for any of them.
        let nulls = arrow_array::NullArray::new(1 << 20);
        let field = Arc::new(Field::new("item", DataType::Null, true));
        let many = arrow_array::LargeListArray::new(
            field,
            arrow_buffer::OffsetBuffer::new(vec![0i64, 1 << 20].into()),
            Arc::new(nulls),
            None,
        );
        let batch = RecordBatch::try_from_iter([("l", Arc::new(many) as ArrayRef)]).unwrap();
        assert!(matches!(
            split_by_bytes(&batch, 100_000, 10_000, 1 << 16),
            Err(SplitFault::Values(_))
        ));

        let run = RunArray::<Int32Type>::try_new(
            &Int32Array::from(vec![3, 5]),
            &StringArray::from(vec!["a".repeat(100), "b".into()]),
        )
        .unwrap();
        let batch = RecordBatch::try_from_iter([("r", Arc::new(run) as ArrayRef)]).unwrap();
        let sizes = row_bytes(&batch);
        assert!(
            sizes[..3].iter().all(|s| *s >= 100) && sizes[3] < 100,
            "{sizes:?}"
        );

        let list = ListArray::from_iter_primitive::<arrow_array::types::Int64Type, _, _>(vec![
            Some(vec![Some(1); 100]),
            Some(vec![]),
        ]);
        let strukt = StructArray::from(vec![(
            Arc::new(Field::new("n", DataType::Int64, true)),
            Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef,
        )]);
        let batch = RecordBatch::try_from_iter([
            ("l", Arc::new(list) as ArrayRef),
            ("s", Arc::new(strukt) as ArrayRef),
        ])
        .unwrap();
        let sizes = row_bytes(&batch);
        assert!(sizes[0] >= 800 && sizes[1] < 100, "{sizes:?}");
        // A slice counts only its own rows' values.
        let sizes = row_bytes(&batch.slice(1, 1));
        assert!(sizes[0] < 100, "{sizes:?}");
    }
}
