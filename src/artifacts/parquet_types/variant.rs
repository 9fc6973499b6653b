//! Parquet VARIANT columns read as the JSON text of their values.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef};
use arrow_schema::ArrowError;

/// A VARIANT column's values as their JSON texts (DuckDB's rendering:
/// numbers as numbers, text, dates and times as strings, binary as
/// base64), decoded by the `parquet-variant` crates, shredded
/// `typed_value`s included.
///
/// # Errors
///
/// When the column is not a VARIANT's struct, or a value is malformed.
pub(super) fn variant_json(column: &dyn Array) -> Result<ArrayRef, ArrowError> {
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
