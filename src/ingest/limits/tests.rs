use std::sync::Arc;

use arrow_array::types::Int32Type;
use arrow_array::{
    DictionaryArray, Int32Array, Int64Array, ListArray, RunArray, StringArray, StructArray,
};

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};

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
            DataType::Struct(vec![field("a", DataType::Int64), field("b", DataType::Utf8)].into()),
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
