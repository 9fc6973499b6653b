//! Unit tests of the conversions, with files written by the crate's
//! low-level writer for the types no writer of the fixtures makes.

use arrow_array::types::IntervalMonthDayNano;

use super::*;

fn int96(day: i32, nanos: i64) -> [u8; 12] {
    let mut b = [0u8; 12];
    b[..8].copy_from_slice(&nanos.to_le_bytes());
    b[8..].copy_from_slice(&day.to_le_bytes());
    b
}

#[test]
fn int96_is_exact_or_null() {
    // 9999-12-31T23:59:59.999999 and 0001-01-01 (proleptic Gregorian).
    assert_eq!(
        int96_micros(&int96(5_373_484, 86_399_999_999_000)),
        Some(253_402_300_799_999_999)
    );
    assert_eq!(
        int96_micros(&int96(1_721_426, 0)),
        Some(-62_135_596_800_000_000)
    );
    assert_eq!(int96_micros(&int96(i32::MAX, 0)), None);
    assert_eq!(int96_micros(&int96(i32::MIN, 0)), None);
}

#[test]
fn intervals_keep_their_months() {
    let mut b = [0u8; 12];
    b[..4].copy_from_slice(&14i32.to_le_bytes());
    b[4..8].copy_from_slice(&3i32.to_le_bytes());
    b[8..].copy_from_slice(&14_706_789i32.to_le_bytes());
    assert_eq!(
        interval(&b),
        Some(IntervalMonthDayNano::new(14, 3, 14_706_789_000_000))
    );
    b[..4].copy_from_slice(&(-1i32).to_le_bytes());
    assert_eq!(interval(&b).map(|i| i.months), Some(-1));
}

#[test]
fn wide_decimals_are_exact_text() {
    assert_eq!(decimal_text(&[0x30, 0x39], 2), "123.45");
    assert_eq!(decimal_text(&[0xFF, 0xFB], 2), "-0.05");
    assert_eq!(decimal_text(&[0x01], 0), "1");
    let big = num_bigint::BigInt::parse_bytes(b"-123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890", 10).unwrap();
    assert_eq!(
        decimal_text(&big.to_signed_bytes_be(), 5),
        "-1234567890123456789012345678901234567890123456789012345678901234567890123456789012345.67890"
    );
}

/// Types no writer on this machine makes (legacy 2-level lists, ENUM,
/// BSON, decimals on BYTE_ARRAY and wider than Arrow's, INT96 past
/// any 64-bit count, times of day out of range), written with the
/// parquet crate's low-level writer and read back as the service does.
#[test]
fn rare_types_read_exactly() {
    use parquet::data_type::{ByteArray, ByteArrayType, Int32Type, Int96, Int96Type};
    use serde_json::json;

    let bytes = |v: Vec<&[u8]>| v.into_iter().map(ByteArray::from).collect::<Vec<_>>();
    let wide = num_bigint::BigInt::parse_bytes(format!("-{}", "9".repeat(79)).as_bytes(), 10)
        .unwrap()
        .to_signed_bytes_be();
    let int96 = |day: u32| {
        let mut v = Int96::new();
        v.set_data(0, 0, day);
        v
    };
    let file = write_file(
        "message m {
           optional group legacy (LIST) { repeated int32 array; }
           optional binary dec (DECIMAL(20,2));
           optional binary wide (DECIMAL(80,2));
           optional binary bson (BSON);
           optional binary mood (ENUM);
           optional int96 at;
           optional int32 tm (TIME(MILLIS,false));
         }",
        |leaf, writer| {
            match leaf {
                0 => writer.typed::<Int32Type>().write_batch(
                    &[1, 2],
                    Some(&[2, 2, 1, 0]),
                    Some(&[0, 1, 0, 0]),
                ),
                1 => writer.typed::<ByteArrayType>().write_batch(
                    &bytes(vec![&[0x30, 0x39], &[0xFF, 0xFB]]),
                    Some(&[1, 1, 0]),
                    None,
                ),
                2 => writer.typed::<ByteArrayType>().write_batch(
                    &[ByteArray::from(wide.clone())],
                    Some(&[1, 0, 0]),
                    None,
                ),
                3 => writer.typed::<ByteArrayType>().write_batch(
                    &bytes(vec![b"\x05\0\0\0\0"]),
                    Some(&[1, 0, 0]),
                    None,
                ),
                4 => writer.typed::<ByteArrayType>().write_batch(
                    &bytes(vec![b"happy", b"sad"]),
                    Some(&[1, 0, 1]),
                    None,
                ),
                5 => writer.typed::<Int96Type>().write_batch(
                    &[int96(2_440_588), int96(i32::MAX as u32)],
                    Some(&[1, 1, 0]),
                    None,
                ),
                _ => writer.typed::<Int32Type>().write_batch(
                    &[86_400_000, 90_000_000, 1],
                    Some(&[1, 1, 1]),
                    None,
                ),
            }
            .unwrap();
        },
    );
    let wide_text = format!("-{}.{}", "9".repeat(77), "99");
    assert_eq!(
        rendered(&file, None),
        vec![
            json!({"legacy": [1, 2], "dec": "123.45", "wide": wide_text, "bson": "BQAAAAA=",
                   "mood": "happy", "at": "1970-01-01T00:00:00", "tm": "24:00:00"}),
            json!({"legacy": [], "dec": "-0.05", "wide": null, "bson": null,
                   "mood": null, "at": null, "tm": null}),
            json!({"legacy": null, "dec": null, "wide": null, "bson": null,
                   "mood": "sad", "at": null, "tm": "00:00:00.001"}),
        ]
    );
}

/// A one-row-group file of `message`, each leaf written by `write`
/// (called with the leaf's number).
fn write_file(
    message: &str,
    mut write: impl FnMut(usize, &mut parquet::file::writer::SerializedColumnWriter<'_>),
) -> bytes::Bytes {
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    let schema = parquet::schema::parser::parse_message_type(message).unwrap();
    let mut file = Vec::new();
    let mut writer = SerializedFileWriter::new(
        &mut file,
        Arc::new(schema),
        Arc::new(WriterProperties::default()),
    )
    .unwrap();
    let mut group = writer.next_row_group().unwrap();
    let mut leaf = 0;
    while let Some(mut column) = group.next_column().unwrap() {
        write(leaf, &mut column);
        column.close().unwrap();
        leaf += 1;
    }
    group.close().unwrap();
    writer.close().unwrap();
    bytes::Bytes::from(file)
}

/// The rows of a file as the service renders them, with only the
/// `columns` named (all when `None`).
fn rendered(file: &bytes::Bytes, columns: Option<&[&str]>) -> Vec<serde_json::Value> {
    use parquet::arrow::ProjectionMask;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let metadata = parquet::file::metadata::ParquetMetaDataReader::new()
        .parse_and_finish(file)
        .unwrap();
    let footer = TypedFooter::new(metadata).unwrap();
    let mut builder =
        ParquetRecordBatchReaderBuilder::new_with_metadata(file.clone(), footer.reader().clone());
    if let Some(names) = columns {
        let mask = ProjectionMask::columns(
            footer.metadata().file_metadata().schema_descr(),
            names.iter().copied(),
        );
        builder = builder.with_projection(mask);
    }
    let whole = columns.is_none();
    builder
        .build()
        .unwrap()
        .flat_map(|b| {
            let batch = footer.convert(b.unwrap()).unwrap();
            if whole {
                // What the footer says the rows are is what they are.
                assert_eq!(batch.schema(), *footer.schema());
            }
            crate::artifacts::json_values::batch_to_rows(&batch)
        })
        .map(serde_json::Value::Object)
        .collect()
}

#[test]
fn an_enum_alone_reads_as_text() {
    use parquet::data_type::{ByteArray, ByteArrayType};
    let file = write_file("message m { optional binary mood (ENUM); }", |_, column| {
        column
            .typed::<ByteArrayType>()
            .write_batch(&[ByteArray::from("happy")], Some(&[1, 0]), None)
            .unwrap();
    });
    assert_eq!(
        rendered(&file, None),
        vec![
            serde_json::json!({"mood": "happy"}),
            serde_json::json!({"mood": null})
        ]
    );
}

#[test]
fn nested_int96_and_projections_read_exactly() {
    use parquet::data_type::{Int32Type, Int96, Int96Type};
    let int96 = |day: u32| {
        let mut v = Int96::new();
        v.set_data(0, 0, day);
        v
    };
    let file = write_file(
        "message m {
           optional int32 id;
           optional group ts (LIST) { repeated group list { optional int96 element; } }
           optional int96 at;
         }",
        |leaf, column| match leaf {
            0 => {
                column
                    .typed::<Int32Type>()
                    .write_batch(&[7], Some(&[1]), None)
                    .unwrap();
            }
            1 => {
                column
                    .typed::<Int96Type>()
                    .write_batch(
                        &[int96(2_440_589), int96(i32::MAX as u32)],
                        Some(&[3, 3]),
                        Some(&[0, 1]),
                    )
                    .unwrap();
            }
            _ => {
                column
                    .typed::<Int96Type>()
                    .write_batch(&[int96(2_440_588)], Some(&[1]), None)
                    .unwrap();
            }
        },
    );
    let whole = serde_json::json!({
        "id": 7, "ts": ["1970-01-02T00:00:00", null], "at": "1970-01-01T00:00:00"
    });
    assert_eq!(rendered(&file, None), vec![whole]);
    assert_eq!(
        rendered(&file, Some(&["at"])),
        vec![serde_json::json!({"at": "1970-01-01T00:00:00"})]
    );
    assert_eq!(
        rendered(&file, Some(&["ts", "at"])),
        vec![serde_json::json!({"ts": ["1970-01-02T00:00:00", null], "at": "1970-01-01T00:00:00"})]
    );
}

#[test]
fn an_absurd_decimal_precision_is_an_error_not_a_gigabyte() {
    use parquet::data_type::{ByteArray, ByteArrayType};
    let file = write_file(
        "message m { optional binary d (DECIMAL(2000000000,1999999999)); }",
        |_, column| {
            column
                .typed::<ByteArrayType>()
                .write_batch(&[ByteArray::from(vec![1u8])], Some(&[1]), None)
                .unwrap();
        },
    );
    let metadata = parquet::file::metadata::ParquetMetaDataReader::new()
        .parse_and_finish(&file)
        .unwrap();
    assert!(TypedFooter::new(metadata).is_err());
}
