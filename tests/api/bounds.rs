//! What a tenant sends is bounded (issue 23), through the real router:
//! every format's rows, columns and nesting, Arrow messages checked before
//! they are decoded, events and staged attempts, one naming rule for
//! columns, the calendar at the edge of the date range, `*` in
//! `Accept-Encoding`, contract files whose columns are of Arrow type
//! `null`, methods, scopes and the explorer's redirects and posts. The
//! memory each bound buys is measured on a real process in
//! `tests/reliability/memory.rs`.

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, StringArray};
use axum::http::{Method, StatusCode};
use dagtrail::http::Limits;
use dagtrail::ingest::IngestLimits;
use serde_json::{Value, json};

use crate::both_backends;
use crate::support::{Reply, TestApp, embedded, embedded_configured, embedded_with};

const JSON: (&str, &str) = ("content-type", "application/json");
const NDJSON: &str = "application/x-ndjson";
const ARROW: &str = "application/vnd.apache.arrow.stream";
const PARQUET: &str = "application/vnd.apache.parquet";

both_backends!(a_calendar_at_the_last_date_finds_its_runs);

/// Limits small enough to reach in a test.
fn small() -> Limits {
    Limits {
        ingest: IngestLimits {
            max_row_bytes: 64 * 1024,
            max_columns: 50,
            max_nesting: 4,
            max_batch_bytes: 256 * 1024,
            max_decoded_bytes: Some(4 * 1024 * 1024),
            ..IngestLimits::default()
        },
        ..Limits::default()
    }
}

async fn small_app() -> TestApp {
    embedded_with(|store| store, None, small()).await
}

/// An open attempt of a new run, and its URL.
async fn open_attempt(app: &TestApp, run_id: &str) -> String {
    let attempt = format!(
        "/api/v1/dags/{}/runs/2026-11-29/{run_id}/phases/extract/attempts/1",
        app.dag
    );
    let opened = app
        .send(Method::PUT, &attempt, Some(&app.write_token()), &[], "")
        .await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.json());
    attempt
}

async fn put(app: &TestApp, url: &str, content_type: &str, body: Vec<u8>) -> Reply {
    app.send(
        Method::PUT,
        url,
        Some(&app.write_token()),
        &[("content-type", content_type)],
        body,
    )
    .await
}

/// Asserts a refusal: its status, and that its detail names `setting`
/// (or, for a naming fault, the column).
fn refused(reply: &Reply, status: StatusCode, names: &str) {
    let body = reply.json();
    assert_eq!(reply.status, status, "{body}");
    let detail = body.to_string();
    assert!(detail.contains(names), "{names} not in {detail}");
}

/// Nothing of a refused part is kept.
async fn nothing_staged(app: &TestApp, attempt: &str) {
    let staged = app
        .call(attempt, Some(&app.write_token()), &[])
        .await
        .ok_json();
    assert_eq!(staged["data"], json!([]), "{staged}");
}

fn ipc(batches: &[RecordBatch], options: arrow_ipc::writer::IpcWriteOptions) -> Vec<u8> {
    let mut out = Vec::new();
    let mut writer = arrow_ipc::writer::StreamWriter::try_new_with_options(
        &mut out,
        &batches[0].schema(),
        options,
    )
    .unwrap();
    for batch in batches {
        writer.write(batch).unwrap();
    }
    writer.finish().unwrap();
    drop(writer);
    out
}

fn parquet(batch: &RecordBatch) -> Vec<u8> {
    let mut out = Vec::new();
    let mut writer = parquet::arrow::ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ndjson_rows_are_bounded_and_lose_nothing() {
    let app = small_app().await;
    let attempt = open_attempt(&app, "ndjson").await;
    let part = format!("{attempt}/data/1");
    // A line past the row limit: read no further, 413, placed.
    let long = format!(
        "{{\"a\": 1}}\n{{\"a\": [{}]}}\n",
        vec!["0"; 100_000].join(",")
    );
    let reply = put(&app, &part, NDJSON, long.into_bytes()).await;
    refused(
        &reply,
        StatusCode::PAYLOAD_TOO_LARGE,
        "DAGTRAIL_MAX_ROW_BYTES",
    );
    refused(&reply, StatusCode::PAYLOAD_TOO_LARGE, "line 2");
    // Nested past the limit.
    let deep = "{\"a\": [[[[[1]]]]]}\n".to_owned();
    refused(
        &put(&app, &part, NDJSON, deep.into_bytes()).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "DAGTRAIL_MAX_NESTING",
    );
    // More columns than the limit.
    let wide = format!(
        "{{{}}}\n",
        (0..60)
            .map(|i| format!("\"c{i}\": {i}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    refused(
        &put(&app, &part, NDJSON, wide.into_bytes()).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "DAGTRAIL_MAX_COLUMNS",
    );
    // A key named twice would lose a value: refused, naming it, at any
    // level.
    refused(
        &put(&app, &part, NDJSON, b"{\"a\": 1, \"a\": \"x\"}\n".to_vec()).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "\\\"a\\\" is named twice",
    );
    refused(
        &put(
            &app,
            &part,
            NDJSON,
            b"{\"s\": {\"b\": 1, \"b\": 2}}\n".to_vec(),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "s.b",
    );
    // A column first seen past the lines types are inferred from was
    // dropped; it is refused, naming it and its line.
    let mut late = "{\"a\": 1}\n".repeat(1_500);
    late.push_str("{\"a\": 2, \"late\": \"kept?\"}\n");
    let reply = put(&app, &part, NDJSON, late.into_bytes()).await;
    refused(&reply, StatusCode::UNPROCESSABLE_ENTITY, "late");
    refused(&reply, StatusCode::UNPROCESSABLE_ENTITY, "line 1501");
    nothing_staged(&app, &attempt).await;
    // Empty objects in a list of a wide struct decode to a value of
    // every field each: 10,000 of them in a 20 KB line would be 450,000
    // values. Refused before they are decoded.
    let fields: Vec<String> = (0..45).map(|i| format!("\"f{i}\": 0")).collect();
    let amplified = format!(
        "{{\"l\": [{{{}}}]}}\n{{\"l\": [{}]}}\n",
        fields.join(","),
        vec!["{}"; 10_000].join(",")
    );
    let reply = put(&app, &part, NDJSON, amplified.into_bytes()).await;
    refused(&reply, StatusCode::PAYLOAD_TOO_LARGE, "decodes to");
    refused(&reply, StatusCode::PAYLOAD_TOO_LARGE, "line 2");
    nothing_staged(&app, &attempt).await;
    // Under every limit, the rows pass.
    let ok = put(
        &app,
        &part,
        NDJSON,
        b"{\"a\": [[1]], \"b\": \"x\"}\n".to_vec(),
    )
    .await;
    assert_eq!(ok.ok_json()["rows"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_records_are_bounded() {
    let app = small_app().await;
    let attempt = open_attempt(&app, "csv").await;
    let part = format!("{attempt}/data/1");
    // A quote never closed: the record would run to the end of the body.
    let mut open_quote = b"id,doc\n1,\"".to_vec();
    open_quote.extend(std::iter::repeat_n(b'x', 300_000));
    refused(
        &put(&app, &part, "text/csv", open_quote).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "DAGTRAIL_MAX_ROW_BYTES",
    );
    let header: Vec<String> = (0..60).map(|i| format!("c{i}")).collect();
    refused(
        &put(
            &app,
            &part,
            "text/csv",
            format!("{}\n", header.join(",")).into_bytes(),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "DAGTRAIL_MAX_COLUMNS",
    );
    nothing_staged(&app, &attempt).await;
}

/// One naming rule for every format and level: a column named twice is
/// refused, naming it (a pyarrow table `a, a, b` through `ph.write` lost
/// its int64 `a`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_column_named_twice_is_refused_in_every_format() {
    use arrow_array::{Int64Array, StructArray};
    use arrow_schema::{DataType, Field, Schema};
    let app = embedded().await;
    let attempt = open_attempt(&app, "twice").await;
    let part = format!("{attempt}/data/1");
    let schema = Arc::new(Schema::new(vec![
        Field::new("a", DataType::Int64, true),
        Field::new("a", DataType::Utf8, true),
        Field::new("b", DataType::Int64, true),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef,
            Arc::new(StringArray::from(vec!["x", "y"])),
            Arc::new(Int64Array::from(vec![10, 20])),
        ],
    )
    .unwrap();
    let stream = ipc(std::slice::from_ref(&batch), Default::default());
    refused(
        &put(&app, &part, ARROW, stream).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "\\\"a\\\" is named twice",
    );
    refused(
        &put(&app, &part, PARQUET, parquet(&batch)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "\\\"a\\\" is named twice",
    );
    let inner = StructArray::from(vec![
        (
            Arc::new(Field::new("x", DataType::Int64, true)),
            Arc::new(Int64Array::from(vec![1])) as ArrayRef,
        ),
        (
            Arc::new(Field::new("x", DataType::Int64, true)),
            Arc::new(Int64Array::from(vec![2])) as ArrayRef,
        ),
    ]);
    let nested = RecordBatch::try_from_iter([("s", Arc::new(inner) as ArrayRef)]).unwrap();
    refused(
        &put(&app, &part, ARROW, ipc(&[nested], Default::default())).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "s.x",
    );
    refused(
        &put(&app, &part, "text/csv", b"a,a,b\n1,x,10\n".to_vec()).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "named twice",
    );
    nothing_staged(&app, &attempt).await;
}

/// An Arrow message's declared sizes are checked before anything is
/// allocated for them: its body, what its compressed buffers say they
/// decompress to, and what its rows decode to (a dictionary's value once
/// per row that shows it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arrow_messages_are_checked_before_they_are_decoded() {
    use arrow_array::{DictionaryArray, Int32Array, types::Int32Type};
    use arrow_ipc::CompressionType;
    use arrow_ipc::writer::IpcWriteOptions;
    let app = small_app().await;
    let attempt = open_attempt(&app, "arrow").await;
    let part = format!("{attempt}/data/1");
    let big = RecordBatch::try_from_iter([(
        "doc",
        Arc::new(StringArray::from(vec!["x".repeat(40_000); 10])) as ArrayRef,
    )])
    .unwrap();
    refused(
        &put(
            &app,
            &part,
            ARROW,
            ipc(std::slice::from_ref(&big), Default::default()),
        )
        .await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "DAGTRAIL_MAX_BATCH_BYTES",
    );
    // Compressed to a few hundred bytes, it still says 400 KB.
    let zstd = IpcWriteOptions::default()
        .try_with_compression(Some(CompressionType::ZSTD))
        .unwrap();
    let compressed = ipc(std::slice::from_ref(&big), zstd.clone());
    assert!(compressed.len() < 10_000);
    refused(
        &put(&app, &part, ARROW, compressed).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "decompresses to",
    );
    // A compressed buffer whose length prefix lies (2^60 bytes).
    let one = RecordBatch::try_from_iter([(
        "doc",
        Arc::new(StringArray::from(vec!["y".repeat(1000)])) as ArrayRef,
    )])
    .unwrap();
    let mut lying = ipc(&[one], zstd);
    let at = lying
        .windows(8)
        .rposition(|w| w == 1000i64.to_le_bytes())
        .unwrap();
    lying[at..at + 8].copy_from_slice(&(1i64 << 60).to_le_bytes());
    refused(
        &put(&app, &part, ARROW, lying).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "DAGTRAIL_MAX_BATCH_BYTES",
    );
    // 10 KB sent, 50 MB as rows: one value shown by 5,000 keys.
    let values = StringArray::from(vec!["d".repeat(10_000)]);
    let keys = Int32Array::from(vec![0; 5_000]);
    let dictionary = DictionaryArray::<Int32Type>::try_new(keys, Arc::new(values)).unwrap();
    let amplified =
        RecordBatch::try_from_iter([("doc", Arc::new(dictionary) as ArrayRef)]).unwrap();
    let sent = ipc(&[amplified], Default::default());
    assert!(sent.len() < 64 * 1024);
    refused(
        &put(&app, &part, ARROW, sent).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "DAGTRAIL_MAX_PART_DECODED_BYTES",
    );
    // A list of 2^30 values of type null holds no buffer: a message of a
    // few hundred bytes. Refused from its lengths, never measured value
    // by value.
    let field = Arc::new(arrow_schema::Field::new(
        "item",
        arrow_schema::DataType::Null,
        true,
    ));
    let nulls = arrow_array::LargeListArray::new(
        field,
        arrow_buffer::OffsetBuffer::new(vec![0i64, 1 << 30].into()),
        Arc::new(arrow_array::NullArray::new(1 << 30)),
        None,
    );
    let sent = ipc(
        &[RecordBatch::try_from_iter([("l", Arc::new(nulls) as ArrayRef)]).unwrap()],
        Default::default(),
    );
    assert!(sent.len() < 4096);
    refused(
        &put(&app, &part, ARROW, sent).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "values",
    );
    nothing_staged(&app, &attempt).await;
}

/// A dictionary sent again under its id replaces the one before it: a
/// stream of many batches, each with a new dictionary, is not refused as
/// if every dictionary stayed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dictionaries_replaced_are_not_counted_twice() {
    use arrow_array::{DictionaryArray, Int32Array, types::Int32Type};
    use arrow_ipc::writer::{DictionaryHandling, IpcWriteOptions};
    let app = small_app().await;
    let attempt = open_attempt(&app, "dictionaries").await;
    let batches: Vec<RecordBatch> = (0..8)
        .map(|i| {
            let values = StringArray::from(vec![format!("{i}").repeat(40_000)]);
            let dictionary =
                DictionaryArray::<Int32Type>::try_new(Int32Array::from(vec![0]), Arc::new(values))
                    .unwrap();
            RecordBatch::try_from_iter([("d", Arc::new(dictionary) as ArrayRef)]).unwrap()
        })
        .collect();
    // 8 dictionaries of 40 KB: 320 KB sent, over the 256 KB message limit
    // in all, 40 KB held at a time.
    let sent = ipc(
        &batches,
        IpcWriteOptions::default().with_dictionary_handling(DictionaryHandling::Resend),
    );
    let reply = put(&app, &format!("{attempt}/data/1"), ARROW, sent).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json());
    assert_eq!(reply.json()["rows"], 8);
}

/// A Parquet row past the row limit, as decoded (its file is small).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parquet_rows_are_bounded_as_decoded() {
    let app = small_app().await;
    let attempt = open_attempt(&app, "parquet").await;
    let batch = RecordBatch::try_from_iter([(
        "doc",
        Arc::new(StringArray::from(vec!["z".repeat(200_000)])) as ArrayRef,
    )])
    .unwrap();
    refused(
        &put(&app, &format!("{attempt}/data/1"), PARQUET, parquet(&batch)).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "DAGTRAIL_MAX_ROW_BYTES",
    );
    nothing_staged(&app, &attempt).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_bounded_like_parts() {
    let app = small_app().await;
    let event = format!("/api/v1/dags/{}/runs/2026-11-29/ev/event", app.dag);
    let token = app.write_token();
    let send = |body: String| {
        let (app, event, token) = (&app, &event, &token);
        async move {
            app.send(Method::PUT, event, Some(token), &[JSON], body)
                .await
        }
    };
    let wide: serde_json::Map<String, Value> =
        (0..60).map(|i| (format!("k{i}"), json!(i))).collect();
    refused(
        &send(json!({ "event": [wide] }).to_string()).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "DAGTRAIL_MAX_COLUMNS",
    );
    // serde_json would keep the last value of a key named twice.
    let twice = send(r#"{"event": [{"a": 1, "a": 2}]}"#.to_owned()).await;
    assert_eq!(twice.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        twice.json()["detail"][0]["loc"],
        json!(["body", "event", "0", "a"])
    );
    let deep = send(r#"{"event": [{"a": [[[[[[1]]]]]]}]}"#.to_owned()).await;
    refused(
        &deep,
        StatusCode::UNPROCESSABLE_ENTITY,
        "DAGTRAIL_MAX_NESTING",
    );
    let ok = send(r#"{"event": [{"a": 1}]}"#.to_owned()).await;
    assert_eq!(ok.ok_json()["event_rows"], 1);
    // A catalog entry naming a field twice is refused too.
    let twice = app
        .send(
            Method::PATCH,
            &format!("/api/v1/dags/{}", app.dag),
            Some(&token),
            &[JSON],
            r#"{"name": "a", "name": "b"}"#,
        )
        .await;
    assert_eq!(
        twice.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        twice.json()
    );
}

/// An event is an upload: it waits for no slot, it takes one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_and_catalog_entries_take_an_upload_slot() {
    let limits = Limits {
        max_writes: 1,
        max_writes_per_company: 1,
        ..Limits::default()
    };
    let app = embedded_with(|store| store, None, limits).await;
    let attempt = open_attempt(&app, "slot").await;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(1);
    tx.send(Ok(bytes::Bytes::from_static(b"{\"a\": 1}\n")))
        .await
        .unwrap();
    let held = tokio::spawn({
        let router = app.router.clone();
        let uri = format!("{attempt}/data/1");
        let token = app.write_token();
        async move {
            let request = axum::http::Request::put(uri)
                .header("authorization", format!("Bearer {token}"))
                .header("content-type", NDJSON)
                .body(axum::body::Body::from_stream(
                    tokio_stream::wrappers::ReceiverStream::new(rx),
                ))
                .unwrap();
            tower::ServiceExt::oneshot(router, request)
                .await
                .unwrap()
                .status()
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    let token = app.write_token();
    let event = app
        .send(
            Method::PUT,
            &format!("/api/v1/dags/{}/runs/2026-11-29/slot/event", app.dag),
            Some(&token),
            &[JSON],
            r#"{"event": {"a": 1}}"#,
        )
        .await;
    assert_eq!(event.status, StatusCode::SERVICE_UNAVAILABLE);
    let entry = app
        .send(
            Method::PATCH,
            &format!("/api/v1/dags/{}", app.dag),
            Some(&token),
            &[JSON],
            r#"{"name": "n"}"#,
        )
        .await;
    assert_eq!(entry.status, StatusCode::SERVICE_UNAVAILABLE);
    drop(tx);
    assert_eq!(held.await.unwrap(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staged_attempts_are_bounded() {
    let app = embedded_configured(|state| {
        state.with_staging_limits(dagtrail::record::staging::StagingLimits {
            max_open_attempts: 2,
            max_parts: 2,
        })
    })
    .await;
    let first = open_attempt(&app, "one").await;
    open_attempt(&app, "two").await;
    let third = format!(
        "/api/v1/dags/{}/runs/2026-11-29/three/phases/extract/attempts/1",
        app.dag
    );
    let refused_open = app
        .send(Method::PUT, &third, Some(&app.write_token()), &[], "")
        .await;
    refused(
        &refused_open,
        StatusCode::TOO_MANY_REQUESTS,
        "DAGTRAIL_MAX_OPEN_ATTEMPTS",
    );
    // An open attempt is still resumed.
    let resumed = app
        .send(Method::PUT, &first, Some(&app.write_token()), &[], "")
        .await;
    assert_eq!(resumed.status, StatusCode::OK);
    for part in 1..=2 {
        let reply = put(
            &app,
            &format!("{first}/data/{part}"),
            NDJSON,
            b"{\"a\": 1}\n".to_vec(),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.json());
    }
    refused(
        &put(
            &app,
            &format!("{first}/data/3"),
            NDJSON,
            b"{\"a\": 1}\n".to_vec(),
        )
        .await,
        StatusCode::CONFLICT,
        "DAGTRAIL_MAX_PARTS",
    );
    // Out of order is still said as such, with the next part.
    refused(
        &put(&app, &format!("{first}/logs/2"), NDJSON, b"{}\n".to_vec()).await,
        StatusCode::CONFLICT,
        "the next is 1",
    );
    // Committing one frees its place.
    app.send(
        Method::POST,
        &format!("{first}/commit"),
        Some(&app.write_token()),
        &[JSON],
        "{}",
    )
    .await
    .ok_json();
    let opened = app
        .send(Method::PUT, &third, Some(&app.write_token()), &[], "")
        .await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.json());
}

/// A range end worked out from the last date a parameter may name stays
/// a date both backends compare (SQLite compared `+10000-12-30`, text).
async fn a_calendar_at_the_last_date_finds_its_runs(app: TestApp) {
    for date in ["9999-12-31", "0000-01-01"] {
        let event = app
            .send(
                Method::PUT,
                &format!("/api/v1/dags/{}/runs/{date}/edge/event", app.dag),
                Some(&app.write_token()),
                &[JSON],
                r#"{"event": {"a": 1}}"#,
            )
            .await;
        assert_eq!(event.status, StatusCode::OK, "{}", event.json());
    }
    let calendar = app
        .get(&format!(
            "/api/v1/dags/{}/calendar?date_from=9999-12-31",
            app.dag
        ))
        .await
        .ok_json();
    assert_eq!(calendar["date_to"], "9999-12-31", "{calendar}");
    assert_eq!(calendar["days"][0]["date"], "9999-12-31", "{calendar}");
    let calendar = app
        .get(&format!(
            "/api/v1/dags/{}/calendar?date_to=0000-01-01",
            app.dag
        ))
        .await
        .ok_json();
    assert_eq!(calendar["date_from"], "0000-01-01", "{calendar}");
    assert_eq!(calendar["days"][0]["date"], "0000-01-01", "{calendar}");
}

/// RFC 9110 section 12.5.3: `*` allows any coding not listed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_coding_allowed_is_a_compressed_answer() {
    let app = embedded().await;
    let token = app.token();
    let run = app.run_url();
    for (uri, accept) in [
        ("/api/v1/dags".to_owned(), "application/json"),
        (format!("{run}/phases/extract/logs"), "application/x-ndjson"),
        ("/".to_owned(), "text/html"),
    ] {
        for (offered, compressed) in [
            ("identity;q=0, *", true),
            ("*", true),
            // Named at a higher weight, identity wins.
            ("*;q=0.5, identity", false),
            ("identity;q=0.5, *", true),
            ("*;q=0", false),
            ("identity", false),
            ("gzip;q=0, *", true),
        ] {
            let reply = app
                .call(
                    &uri,
                    Some(&token),
                    &[("accept", accept), ("accept-encoding", offered)],
                )
                .await;
            assert_eq!(reply.status, StatusCode::OK, "{uri} {offered}");
            let coding = reply.header("content-encoding");
            assert_eq!(
                ["gzip", "zstd"].contains(&coding),
                compressed,
                "{uri} with {offered:?}: {coding:?}"
            );
            if offered.starts_with("gzip;q=0") {
                assert_eq!(coding, "zstd", "gzip refused");
            }
        }
    }
}

/// A contract file from another writer whose column holds only nulls has
/// Arrow type `null` (pandas): read as the contract's type, not a 502.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn columns_of_only_nulls_read_as_the_contract_says() {
    use arrow_schema::{DataType, Field, Schema, TimeUnit};
    use dagtrail::artifacts::key::RunFolder;
    use dagtrail::model::{Phase, RunId, RunRef};
    let app = embedded().await;
    let run = RunRef::new(
        app.dag,
        chrono::NaiveDate::from_ymd_opt(2026, 11, 27).unwrap(),
        RunId::new("manual__nulls").unwrap(),
    );
    let folder = RunFolder::new(&app.company, &run)
        .unwrap()
        .attempt(Phase::Load, 1)
        .unwrap();
    let dir = crate::support::artifacts_dir(&app).join(folder.folder());
    let errors = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("error_type", DataType::Utf8, false),
            Field::new("error_title", DataType::Utf8, false),
            Field::new("error_status", DataType::Int64, false),
            Field::new("error_detail", DataType::Utf8, false),
            Field::new("traceback", DataType::Null, true),
            Field::new(
                "occurred_at",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
            Field::new("_file", DataType::Null, true),
            Field::new("_row", DataType::Null, true),
        ])),
        vec![
            Arc::new(StringArray::from(vec!["ValueError"])) as ArrayRef,
            Arc::new(StringArray::from(vec!["bad amount"])),
            Arc::new(arrow_array::Int64Array::from(vec![422])),
            Arc::new(StringArray::from(vec!["negative"])),
            Arc::new(arrow_array::NullArray::new(1)),
            Arc::new(
                arrow_array::TimestampMicrosecondArray::from(vec![1_764_000_000_000_000])
                    .with_timezone("UTC"),
            ),
            Arc::new(arrow_array::NullArray::new(1)),
            Arc::new(arrow_array::NullArray::new(1)),
        ],
    )
    .unwrap();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("errors_000.parquet"), parquet(&errors)).unwrap();
    let metadata = dagtrail::artifacts::schemas::AttemptMetadata {
        phase: "load".into(),
        attempt: 1,
        success: Some(false),
        message: "failed".into(),
        total: 0,
        started_at: None,
        finished_at: None,
        duration_ms: None,
        data_files: 0,
        data_file_rows: vec![],
        data_rows: 0,
        error_files: 1,
        log_files: 0,
        error_count: 1,
        log_count: 0,
        error_log_count: 0,
        searchable_lowercase: true,
        writer: "pandas, as a test".into(),
    };
    std::fs::write(
        dir.join("metadata.parquet"),
        parquet(&metadata.to_batch().unwrap()),
    )
    .unwrap();
    let page = app
        .get(&format!(
            "/api/v1/dags/{}/runs/2026-11-27/manual__nulls/phases/load/errors",
            app.dag
        ))
        .await
        .ok_json();
    assert_eq!(page["rows"][0]["error_title"], "bad amount", "{page}");
    assert!(page["rows"][0]["traceback"].is_null(), "{page}");
    let traceback = page["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "traceback")
        .cloned()
        .unwrap();
    assert_eq!(traceback["type"], "utf8", "{traceback}");
}

/// A method outside the set the server answers is 501 before routing,
/// and counted under one label: any token is a method to hyper.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn methods_outside_the_set_are_501_and_one_label() {
    let app = embedded().await;
    for method in ["FOOBARBAZ", "X-CUSTOM-1", "PROPFIND"] {
        let reply = app
            .send(
                Method::from_bytes(method.as_bytes()).unwrap(),
                "/api/v1/dags",
                Some(&app.token()),
                &[],
                "",
            )
            .await;
        assert_eq!(reply.status, StatusCode::NOT_IMPLEMENTED, "{method}");
    }
    // A method HTTP defines that the route does not take is its 405.
    let trace = app
        .send(Method::TRACE, "/api/v1/dags", Some(&app.token()), &[], "")
        .await;
    assert_eq!(trace.status, StatusCode::METHOD_NOT_ALLOWED);
    let metrics = app.get("/metrics").await;
    let text = String::from_utf8_lossy(&metrics.body).into_owned();
    assert!(
        !text.contains("FOOBARBAZ") && !text.contains("PROPFIND"),
        "{text}"
    );
    assert!(text.contains("method=\"OTHER\""), "{text}");
}

/// Scopes as RFC 6749 section 3.3 says, and claims that mean one thing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scopes_and_claims_mean_one_thing() {
    use base64::Engine as _;
    let app = embedded().await;
    let sign = |payload: &str| {
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let message = format!(
            "{}.{}",
            b64(br#"{"alg":"HS256","typ":"JWT"}"#),
            b64(payload.as_bytes())
        );
        let signature = jsonwebtoken::crypto::sign(
            message.as_bytes(),
            &jsonwebtoken::EncodingKey::from_secret(crate::support::SECRET.as_bytes()).unwrap(),
            jsonwebtoken::Algorithm::HS256,
        )
        .unwrap();
        format!("{message}.{signature}")
    };
    let exp = chrono::Utc::now().timestamp() + 600;
    let company = app.company.as_str();
    let event = format!("/api/v1/dags/{}/runs/2026-11-29/scopes/event", app.dag);
    let write = |token: String| {
        let (app, event) = (&app, &event);
        async move {
            app.send(
                Method::PUT,
                event,
                Some(&token),
                &[JSON],
                r#"{"event": {"a": 1}}"#,
            )
            .await
            .status
        }
    };
    // Only a space separates scopes: a tab or form feed grants nothing.
    for odd in [
        "runs:read\\truns:write",
        "runs:read\\fruns:write",
        "x\\nruns:write",
    ] {
        let token = sign(&format!(
            r#"{{"id_company":"{company}","exp":{exp},"scope":"{odd}"}}"#
        ));
        assert_eq!(write(token).await, StatusCode::FORBIDDEN, "{odd}");
    }
    let spaced = sign(&format!(
        r#"{{"id_company":"{company}","exp":{exp},"scope":"runs:read runs:write"}}"#
    ));
    assert_eq!(write(spaced).await, StatusCode::OK);
    // `scope: null` beside `scp` defers to `scp`, and does not lock out
    // reads either.
    let null_scope = sign(&format!(
        r#"{{"id_company":"{company}","exp":{exp},"scope":null,"scp":["runs:write"]}}"#
    ));
    assert_eq!(write(null_scope.clone()).await, StatusCode::OK);
    let read = app.call("/api/v1/dags", Some(&null_scope), &[]).await;
    assert_eq!(read.status, StatusCode::OK);
    // A claim named twice: refused, whichever a reader would keep.
    for twice in [
        format!(r#"{{"id_company":"{company}","exp":{exp},"scope":"x","scope":"runs:write"}}"#),
        format!(r#"{{"id_company":"other","id_company":"{company}","exp":{exp}}}"#),
    ] {
        let reply = app.call("/api/v1/dags", Some(&sign(&twice)), &[]).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{twice}");
        assert!(reply.json()["detail"].as_str().unwrap().contains("twice"));
    }
}

/// The explorer's redirects stay on our origin, whatever the value (a
/// tab, a backslash, a line break), and never fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_stay_on_our_origin() {
    let app = embedded().await;
    for back in [
        "/%09/other.example/",
        "/%5Cother.example",
        "//other.example",
        "%09//other.example",
        "https://other.example/",
        "/a%0D%0ASet-Cookie:%20x=1",
        "/%0A/other.example",
        "javascript:alert(1)",
    ] {
        let reply = app
            .call(&format!("/lang?to=es&back={back}"), None, &[])
            .await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{back}");
        let location = reply.header("location");
        let resolved = url::Url::parse("https://ours.example/")
            .unwrap()
            .join(location)
            .unwrap();
        assert_eq!(
            resolved.host_str(),
            Some("ours.example"),
            "{back} -> {location:?}"
        );
    }
}

/// Sign-in and sign-out posted by another site's page are refused; pages
/// are kept by no cache; the icon is served; a write token is no
/// browser's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_explorer_refuses_cross_site_posts() {
    let app = embedded().await;
    let form = format!("token={}", app.token());
    let post = |uri: &'static str, headers: Vec<(&'static str, &'static str)>, body: String| {
        let app = &app;
        async move {
            let mut request = axum::http::Request::post(uri)
                .header("content-type", "application/x-www-form-urlencoded")
                .header("host", "127.0.0.1:8080");
            for (name, value) in headers {
                request = request.header(name, value);
            }
            let request = request.body(axum::body::Body::from(body)).unwrap();
            tower::ServiceExt::oneshot(app.router.clone(), request)
                .await
                .unwrap()
        }
    };
    for headers in [
        vec![("sec-fetch-site", "cross-site")],
        vec![("origin", "https://evil.example")],
        vec![("origin", "null")],
        vec![
            ("sec-fetch-site", "same-site"),
            ("origin", "http://127.0.0.1:8080"),
        ],
    ] {
        let refused = post("/signin", headers.clone(), form.clone()).await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{headers:?}");
        assert!(refused.headers().get("set-cookie").is_none(), "{headers:?}");
        let out = post("/signout", headers.clone(), String::new()).await;
        assert_eq!(out.status(), StatusCode::FORBIDDEN, "{headers:?}");
    }
    let ours = post(
        "/signin",
        vec![
            ("sec-fetch-site", "same-origin"),
            ("origin", "http://127.0.0.1:8080"),
        ],
        form,
    )
    .await;
    assert_eq!(ours.status(), StatusCode::SEE_OTHER);
    assert!(ours.headers().get("set-cookie").is_some());
    // A token that can write is refused at sign-in, saying why.
    let write = post("/signin", vec![], format!("token={}", app.write_token())).await;
    assert_eq!(write.status(), StatusCode::UNAUTHORIZED);
    assert!(write.headers().get("set-cookie").is_none());
    // Pages are no-store; the icon is there.
    let page = app
        .call("/", Some(&app.token()), &[("accept", "text/html")])
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.header("cache-control"), "no-store");
    let icon = app.call("/favicon.ico", None, &[]).await;
    assert_eq!(icon.status, StatusCode::OK);
    assert_eq!(icon.header("content-type"), "image/x-icon");
}
