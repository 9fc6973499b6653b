//! NDJSON lines read no further than their bound, and their shapes walked
//! (depth, keys, duplicates) before any value is built.

use std::io::BufRead;

use super::{Limit, OverLimit};

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
