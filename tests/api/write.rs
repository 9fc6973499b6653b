//! The write API through the real router on both backends: scope and
//! tenant checks, bodies refused the API's way, and what is written read
//! back through the read API.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::support::{TestApp, embedded, token_with_scopes};

const JSON: (&str, &str) = ("content-type", "application/json");

both_backends!(
    a_catalog_entry_names_the_dag_for_its_company_only,
    writing_needs_the_scope,
    an_event_is_read_back_as_written,
    an_attempt_in_parts_is_read_back_whole_once_committed,
    a_refused_part_keeps_nothing_and_says_where,
    parts_in_every_format,
    another_company_cannot_touch_an_open_attempt,
    values_parquet_cannot_hold_are_kept_as_their_json,
    two_phases_of_one_run_written_at_once,
    forgotten_attempts_expire_and_touched_ones_stay
);

/// Found by Schemathesis: an empty JSON object is an Arrow struct without
/// fields, which Parquet cannot write (it was a 502). Such values are kept
/// as their JSON text, in events and in parts alike.
async fn values_parquet_cannot_hold_are_kept_as_their_json(app: TestApp) {
    let run = write_run(&app, "empty-objects");
    let token = app.write_token();
    let event = app
        .send(
            Method::PUT,
            &format!("{run}/event"),
            Some(&token),
            &[JSON],
            json!({"event": {"o": {}, "nested": {"inner": {}}, "list": [{}]}}).to_string(),
        )
        .await;
    assert_eq!(event.status, StatusCode::OK, "{}", event.json());
    let read = app.get(&format!("{run}/event")).await.ok_json();
    assert_eq!(read["event"]["rows"][0]["o"], "{}", "{read}");
    let attempt = format!("{run}/phases/extract/attempts/1");
    app.send(Method::PUT, &attempt, Some(&token), &[], "").await;
    for part in ["1", "2"] {
        let reply = put_part(
            &app,
            &attempt,
            &format!("data/{part}"),
            NDJSON.1,
            "{\"id\": 1, \"o\": {}, \"l\": [{}]}\n",
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.json());
    }
    app.send(
        Method::POST,
        &format!("{attempt}/commit"),
        Some(&token),
        &[JSON],
        "{}",
    )
    .await
    .ok_json();
    let data = app
        .get(&format!("{run}/phases/extract/data"))
        .await
        .ok_json();
    assert_eq!(data["total"], 2);
    assert_eq!(data["rows"][1]["o"], "{}", "{data}");
}

const NDJSON: (&str, &str) = ("content-type", "application/x-ndjson");

/// `/api/v1/dags/{dag}/runs/2026-11-29/{run_id}` of a run for writing.
fn write_run(app: &TestApp, run_id: &str) -> String {
    format!(
        "/api/v1/dags/{}/runs/2026-11-29/{}",
        app.dag,
        crate::support::encode(run_id)
    )
}

async fn put_part(
    app: &TestApp,
    attempt: &str,
    part: &str,
    content_type: &str,
    body: impl Into<axum::body::Body>,
) -> crate::support::Reply {
    app.send(
        Method::PUT,
        &format!("{attempt}/{part}"),
        Some(&app.write_token()),
        &[("content-type", content_type)],
        body,
    )
    .await
}

async fn an_attempt_in_parts_is_read_back_whole_once_committed(app: TestApp) {
    let run = write_run(&app, "manual__2026-11-29T10:31:02+00:00");
    let token = app.write_token();
    let opened = app
        .send(
            Method::POST,
            &format!("{run}/phases/extract/attempts"),
            Some(&token),
            &[],
            "",
        )
        .await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.json());
    assert_eq!(
        opened.json(),
        json!({"attempt": 1, "resumed": false, "data": [], "errors": [], "logs": []})
    );
    let attempt = format!("{run}/phases/extract/attempts/1");
    assert!(
        opened
            .header("location")
            .ends_with("/phases/extract/attempts/1")
    );

    let part1 = put_part(&app, &attempt, "data/1", NDJSON.1,
        "{\"order_id\": 1, \"customer\": \"Zoë\", \"amount\": 10.5}\n{\"order_id\": 2, \"customer\": \"Ana\", \"amount\": 3}\n").await;
    assert_eq!(
        part1.ok_json(),
        json!({"kind": "data", "part": 1, "rows": 2})
    );
    // A later part in CSV, without the amount column: null there.
    let part2 = put_part(
        &app,
        &attempt,
        "data/2",
        "text/csv; charset=utf-8",
        "order_id,customer\n3,Émile\n",
    )
    .await;
    assert_eq!(part2.ok_json()["rows"], 1);
    put_part(&app, &attempt, "errors/1", NDJSON.1,
        "{\"error_title\": \"bad amount\", \"error_status\": 422, \"error_detail\": \"amount is negative\", \"occurred_at\": \"2026-11-29T10:31:03Z\", \"record\": \"{\\\"order_id\\\": 3}\"}\n").await.ok_json();
    put_part(&app, &attempt, "logs/1", NDJSON.1,
        "{\"ts\": \"2026-11-29T10:31:03Z\", \"level\": \"INFO\", \"logger\": \"orders\", \"message\": \"fetched 3 orders\"}\n").await.ok_json();

    // Nothing is readable before the commit; the staging says what it has.
    let phase = format!("{run}/phases/extract");
    assert_eq!(app.get(&phase).await.status, StatusCode::NOT_FOUND);
    let staged = app.call(&attempt, Some(&token), &[]).await.ok_json();
    assert_eq!(
        staged,
        json!({"attempt": 1, "resumed": true, "data": [1, 2], "errors": [1], "logs": [1]})
    );
    // Re-opening resumes it.
    let resumed = app
        .send(
            Method::POST,
            &format!("{run}/phases/extract/attempts"),
            Some(&token),
            &[],
            "",
        )
        .await;
    assert_eq!(resumed.status, StatusCode::OK);
    assert_eq!(resumed.json()["data"], json!([1, 2]));

    let commit = json!({"status": "success", "message": "extracted 3 orders", "started_at": "2026-11-29T10:31:02Z"}).to_string();
    let committed = app
        .send(
            Method::POST,
            &format!("{attempt}/commit"),
            Some(&token),
            &[JSON],
            commit.clone(),
        )
        .await
        .ok_json();
    assert_eq!(committed["data_rows"], 3);
    assert_eq!(committed["total"], 3);
    assert_eq!(committed["error_count"], 1);
    assert_eq!(committed["log_count"], 1);
    // Read back through the read API, as written.
    let data = app.get(&format!("{phase}/data?limit=10")).await.ok_json();
    assert_eq!(data["total"], 3);
    assert_eq!(data["rows"][0]["customer"], "Zoë");
    assert_eq!(data["rows"][2]["customer"], "Émile");
    assert!(data["rows"][2]["amount"].is_null());
    let errors = app.get(&format!("{phase}/errors")).await.ok_json();
    assert_eq!(errors["rows"][0]["error_detail"], "amount is negative");
    let logs = app.get(&format!("{phase}/logs")).await.ok_json();
    assert_eq!(logs["rows"][0]["message"], "fetched 3 orders");
    let summary = app.get(&run).await.ok_json();
    assert_eq!(
        summary["extract"]["status"]["message"],
        "extracted 3 orders"
    );
    // The keyword search finds the inline rows.
    let found = app
        .get(&format!("/api/v1/dags/{}/runs?date_from=2026-11-29&date_to=2026-11-29&extract_keyword=%C3%89mile", app.dag))
        .await
        .ok_json();
    assert_eq!(found["total"], 1, "{found}");

    // Committed: immutable. The same commit again is the same answer (a
    // retry); another outcome is a conflict; no more parts.
    let again = app
        .send(
            Method::POST,
            &format!("{attempt}/commit"),
            Some(&token),
            &[JSON],
            commit,
        )
        .await
        .ok_json();
    assert_eq!(again, committed);
    let other = app
        .send(
            Method::POST,
            &format!("{attempt}/commit"),
            Some(&token),
            &[JSON],
            json!({"status": "failed"}).to_string(),
        )
        .await;
    assert_eq!(other.status, StatusCode::CONFLICT);
    assert_eq!(
        put_part(&app, &attempt, "data/3", NDJSON.1, "{\"order_id\": 4}\n")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.send(Method::DELETE, &attempt, Some(&token), &[], "")
            .await
            .status,
        StatusCode::CONFLICT
    );
    // The next attempt is 2.
    let next = app
        .send(
            Method::POST,
            &format!("{run}/phases/extract/attempts"),
            Some(&token),
            &[],
            "",
        )
        .await;
    assert_eq!(next.status, StatusCode::CREATED);
    assert_eq!(next.json()["attempt"], 2);
    // Aborted, it is gone.
    let second = format!("{run}/phases/extract/attempts/2");
    put_part(&app, &second, "data/1", NDJSON.1, "{\"order_id\": 9}\n")
        .await
        .ok_json();
    assert_eq!(
        app.send(Method::DELETE, &second, Some(&token), &[], "")
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.call(&second, Some(&token), &[]).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.send(Method::DELETE, &second, Some(&token), &[], "")
            .await
            .status,
        StatusCode::NO_CONTENT
    );
}

async fn a_refused_part_keeps_nothing_and_says_where(app: TestApp) {
    let run = write_run(&app, "refused");
    let token = app.write_token();
    let attempt = format!("{run}/phases/transform/attempts/3");
    let opened = app.send(Method::PUT, &attempt, Some(&token), &[], "").await;
    assert_eq!(opened.status, StatusCode::CREATED);
    assert_eq!(opened.json()["attempt"], 3);
    // Line 3 is not JSON: the part, the line, and nothing kept.
    let bad = put_part(
        &app,
        &attempt,
        "data/1",
        NDJSON.1,
        "{\"a\": 1}\n{\"a\": 2}\n{\"a\": 3,\n",
    )
    .await;
    assert_eq!(
        bad.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        bad.json()
    );
    let detail = bad.json()["detail"].as_str().unwrap().to_owned();
    assert!(
        detail.contains("data part 1") && detail.contains("line 3"),
        "{detail}"
    );
    // A value that does not fit the first part's column, past the rows
    // staged before it in the same part.
    put_part(&app, &attempt, "data/1", NDJSON.1, "{\"a\": 1}\n")
        .await
        .ok_json();
    let unfit = put_part(&app, &attempt, "data/2", NDJSON.1, "{\"a\": \"one\"}\n").await;
    assert_eq!(unfit.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        unfit.json()["detail"]
            .as_str()
            .unwrap()
            .contains("column \"a\""),
        "{}",
        unfit.json()
    );
    let new_column = put_part(&app, &attempt, "data/2", NDJSON.1, "{\"a\": 2, \"b\": 1}\n").await;
    assert_eq!(new_column.status, StatusCode::UNPROCESSABLE_ENTITY);
    // Out of order, of no kind known, in no format taken, without rows.
    assert_eq!(
        put_part(&app, &attempt, "data/3", NDJSON.1, "{\"a\": 3}\n")
            .await
            .status,
        StatusCode::CONFLICT
    );
    assert_eq!(
        put_part(&app, &attempt, "rows/1", NDJSON.1, "{\"a\": 3}\n")
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        put_part(&app, &attempt, "data/0", NDJSON.1, "{\"a\": 3}\n")
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let xml = put_part(&app, &attempt, "data/2", "application/xml", "<a/>").await;
    assert_eq!(xml.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(xml.json()["detail"].as_str().unwrap().contains("text/csv"));
    assert_eq!(
        put_part(&app, &attempt, "data/2", NDJSON.1, "")
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    // An error row that does not fit the contract's errors schema.
    let error = put_part(
        &app,
        &attempt,
        "errors/1",
        NDJSON.1,
        "{\"error_title\": 5}\n",
    )
    .await;
    assert_eq!(
        error.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        error.json()
    );
    let staged = app.call(&attempt, Some(&token), &[]).await.ok_json();
    assert_eq!(staged["data"], json!([1]));
    assert_eq!(staged["errors"], json!([]));
    // The event has no attempts; an attempt not open takes no parts.
    assert_eq!(
        app.send(
            Method::POST,
            &format!("{run}/phases/event/attempts"),
            Some(&token),
            &[],
            ""
        )
        .await
        .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let closed = put_part(
        &app,
        &format!("{run}/phases/load/attempts/1"),
        "data/1",
        NDJSON.1,
        "{\"a\": 1}\n",
    )
    .await;
    assert_eq!(closed.status, StatusCode::NOT_FOUND);
    // The commit of what was staged: the one good part.
    let committed = app
        .send(
            Method::POST,
            &format!("{attempt}/commit"),
            Some(&token),
            &[JSON],
            json!({"status": "failed", "message": "bad rows"}).to_string(),
        )
        .await
        .ok_json();
    assert_eq!(committed["data_rows"], 1);
    assert_eq!(committed["success"], false);
}

async fn parts_in_every_format(app: TestApp) {
    use arrow_array::{Int64Array, RecordBatch, StringArray};
    use std::sync::Arc;
    let batch = RecordBatch::try_from_iter([
        (
            "id",
            Arc::new(Int64Array::from(vec![1, 2])) as arrow_array::ArrayRef,
        ),
        (
            "name",
            Arc::new(StringArray::from(vec![Some("a"), None])) as arrow_array::ArrayRef,
        ),
    ])
    .unwrap();
    let mut parquet = Vec::new();
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(&mut parquet, batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let mut ipc = Vec::new();
    let mut stream = arrow_ipc::writer::StreamWriter::try_new(&mut ipc, &batch.schema()).unwrap();
    stream.write(&batch).unwrap();
    stream.finish().unwrap();
    drop(stream);

    let run = write_run(&app, "formats");
    let token = app.write_token();
    let attempt = format!("{run}/phases/load/attempts/1");
    app.send(Method::PUT, &attempt, Some(&token), &[], "").await;
    for (part, content_type, body) in [
        ("data/1", "application/vnd.apache.parquet", parquet.clone()),
        ("data/2", "application/vnd.apache.arrow.stream", ipc.clone()),
        ("data/3", "text/csv", b"id,name\n3,c\n".to_vec()),
        (
            "data/4",
            "application/jsonl",
            b"{\"id\": 4, \"name\": \"d\"}\n".to_vec(),
        ),
    ] {
        let reply = put_part(&app, &attempt, part, content_type, body).await;
        assert_eq!(reply.status, StatusCode::OK, "{part}: {}", reply.json());
    }
    // Not what the type says: refused, naming the part.
    let fake = put_part(
        &app,
        &attempt,
        "data/5",
        "application/vnd.apache.parquet",
        b"PAR1 not really".to_vec(),
    )
    .await;
    assert_eq!(fake.status, StatusCode::UNPROCESSABLE_ENTITY);
    let fake = put_part(
        &app,
        &attempt,
        "data/5",
        "application/vnd.apache.arrow.stream",
        b"nope".to_vec(),
    )
    .await;
    assert_eq!(fake.status, StatusCode::UNPROCESSABLE_ENTITY);
    app.send(
        Method::POST,
        &format!("{attempt}/commit"),
        Some(&token),
        &[JSON],
        "{}",
    )
    .await
    .ok_json();
    let data = app.get(&format!("{run}/phases/load/data")).await.ok_json();
    assert_eq!(data["total"], 6);
    let ids: Vec<i64> = data["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [1, 2, 1, 2, 3, 4]);
}

async fn another_company_cannot_touch_an_open_attempt(app: TestApp) {
    let run = write_run(&app, "tenancy");
    let attempt = format!("{run}/phases/extract/attempts/1");
    app.send(Method::PUT, &attempt, Some(&app.write_token()), &[], "")
        .await;
    put_part(&app, &attempt, "data/1", NDJSON.1, "{\"secret\": 1}\n")
        .await
        .ok_json();
    let theirs = token_with_scopes(app.other.as_str(), &[dagtrail::auth::RUNS_WRITE]);
    // Their view of the same path is their own company's: not open.
    assert_eq!(
        app.call(&attempt, Some(&theirs), &[]).await.status,
        StatusCode::NOT_FOUND
    );
    let commit = app
        .send(
            Method::POST,
            &format!("{attempt}/commit"),
            Some(&theirs),
            &[JSON],
            "{}",
        )
        .await;
    assert_eq!(commit.status, StatusCode::NOT_FOUND);
    app.send(Method::DELETE, &attempt, Some(&theirs), &[], "")
        .await;
    // Ours is untouched; a reading token may not write parts.
    let staged = app
        .call(&attempt, Some(&app.write_token()), &[])
        .await
        .ok_json();
    assert_eq!(staged["data"], json!([1]));
    let read_only = app
        .send(
            Method::PUT,
            &format!("{attempt}/data/2"),
            Some(&app.token()),
            &[NDJSON],
            "{\"a\": 1}\n",
        )
        .await;
    assert_eq!(read_only.status, StatusCode::FORBIDDEN);
}

async fn an_event_is_read_back_as_written(app: TestApp) {
    let run = format!(
        "/api/v1/dags/{}/runs/2026-11-28/manual__2026-11-28",
        app.dag
    );
    let uri = format!("{run}/event");
    let written = app
        .send(
            Method::PUT,
            &uri,
            Some(&app.write_token()),
            &[JSON],
            json!({
                "queue_data": {"message_id": "m-9", "body": {"orders": 3}},
                "event": [{"trigger": "manual", "user": "Zoë"}, {"trigger": "retry", "user": null}],
                "message": "received",
                "started_at": "2026-11-28T10:00:00Z"
            })
            .to_string(),
        )
        .await
        .ok_json();
    assert_eq!(written, json!({"queue_data_rows": 1, "event_rows": 2}));
    let event = app.get(&uri).await.ok_json();
    assert_eq!(event["queue_data"]["rows"][0]["body"]["orders"], 3);
    assert_eq!(event["event"]["rows"][1]["trigger"], "retry");
    let summary = app.get(&run).await.ok_json();
    assert_eq!(summary["event"]["status"]["success"], true);
    assert_eq!(summary["event"]["status"]["message"], "received");
    assert_eq!(summary["event"]["status"]["total"], 2, "{summary}");
    // The other company has no such run.
    let theirs = app.call(&uri, Some(&app.other_token()), &[]).await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);

    for (body, loc) in [
        (
            json!({"event": [{"a": 1}, 2]}),
            json!(["body", "event", "1"]),
        ),
        (json!({"event": "text"}), json!(["body", "event"])),
        (
            json!({"status": "done", "event": {}}),
            json!(["body", "status"]),
        ),
        (json!({"message": "nothing"}), Value::Null),
    ] {
        let reply = app
            .send(
                Method::PUT,
                &uri,
                Some(&app.write_token()),
                &[JSON],
                body.to_string(),
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        if !loc.is_null() {
            assert_eq!(
                reply.json()["detail"][0]["loc"],
                loc,
                "{body}: {}",
                reply.json()
            );
        }
    }
}

async fn a_catalog_entry_names_the_dag_for_its_company_only(app: TestApp) {
    let uri = format!("/api/v1/dags/{}", app.dag);
    let written = app
        .send(
            Method::PATCH,
            &uri,
            Some(&app.write_token()),
            &[JSON],
            json!({"name": "orders_daily", "tags": ["sales", "daily"], "owner": "data-eng"})
                .to_string(),
        )
        .await;
    let dag = written.ok_json();
    assert_eq!(dag["name"], "orders_daily");
    assert_eq!(dag["tags"], json!(["sales", "daily"]));
    // Fields left out are kept.
    let renamed = app
        .send(
            Method::PATCH,
            &uri,
            Some(&app.write_token()),
            &[JSON],
            json!({"description": "Orders of the day"}).to_string(),
        )
        .await
        .ok_json();
    assert_eq!(renamed["name"], "orders_daily");
    assert_eq!(renamed["description"], "Orders of the day");
    assert_eq!(renamed["owner"], "data-eng");
    let listed = app.get("/api/v1/dags?name=orders").await.ok_json();
    assert_eq!(listed["items"][0]["dag_id"], app.dag.to_string());

    // Another company's write token names its own DAG of that id: the
    // first company's entry is untouched, and neither sees the other's.
    let other = token_with_scopes(app.other.as_str(), &[dagtrail::auth::RUNS_WRITE]);
    app.send(
        Method::PATCH,
        &uri,
        Some(&other),
        &[JSON],
        json!({"name": "theirs"}).to_string(),
    )
    .await
    .ok_json();
    let ours = app.get("/api/v1/dags").await.ok_json();
    assert_eq!(ours["items"][0]["name"], "orders_daily");
    assert!(!ours.to_string().contains("theirs"));
    let theirs = app
        .call("/api/v1/dags", Some(&app.other_token()), &[])
        .await
        .ok_json();
    assert!(!theirs.to_string().contains("orders_daily"));

    // Bodies refused the API's way, naming where.
    for (body, headers, status, expected) in [
        (
            json!({"tags": ["ok", ""]}).to_string(),
            &[JSON][..],
            StatusCode::UNPROCESSABLE_ENTITY,
            json!(["body", "tags", "1"]),
        ),
        (
            json!({"nmae": "typo"}).to_string(),
            &[JSON][..],
            StatusCode::UNPROCESSABLE_ENTITY,
            json!(["body", "nmae"]),
        ),
        (
            json!({"tags": "one"}).to_string(),
            &[JSON][..],
            StatusCode::UNPROCESSABLE_ENTITY,
            json!(["body", "tags"]),
        ),
        (
            "{\"name\": \"x\",\n \"owner\": }".to_owned(),
            &[JSON][..],
            StatusCode::UNPROCESSABLE_ENTITY,
            json!(["body", "owner"]),
        ),
    ] {
        let reply = app
            .send(
                Method::PATCH,
                &uri,
                Some(&app.write_token()),
                headers,
                body.clone(),
            )
            .await;
        assert_eq!(reply.status, status, "{body}");
        assert_eq!(
            reply.json()["detail"][0]["loc"],
            expected,
            "{body}: {}",
            reply.json()
        );
    }
    let syntax = app
        .send(
            Method::PATCH,
            &uri,
            Some(&app.write_token()),
            &[JSON],
            "{\"name\": \"x\",\n \"owner\": }",
        )
        .await
        .json();
    assert!(
        syntax["detail"][0]["msg"]
            .as_str()
            .unwrap()
            .contains("line 2"),
        "{syntax}"
    );
    let form = app
        .send(
            Method::PATCH,
            &uri,
            Some(&app.write_token()),
            &[("content-type", "text/plain")],
            "name=x",
        )
        .await;
    assert_eq!(form.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(form.header("content-type"), "application/problem+json");
    let huge = app
        .send(
            Method::PATCH,
            &uri,
            Some(&app.write_token()),
            &[JSON],
            format!("{{\"name\": \"{}\"}}", "x".repeat(2 * 1024 * 1024)),
        )
        .await;
    assert_eq!(huge.status, StatusCode::PAYLOAD_TOO_LARGE);
}

async fn writing_needs_the_scope(app: TestApp) {
    let uri = format!("/api/v1/dags/{}", app.dag);
    let body = json!({"name": "x"}).to_string();
    let none = app
        .send(Method::PATCH, &uri, None, &[JSON], body.clone())
        .await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    // A reading token (today's tokens) may not write; it says which scope
    // is missing, as RFC 6750 section 3.1 has it.
    for token in [
        app.token(),
        token_with_scopes(app.company.as_str(), &["runs:read", "runs:writer"]),
    ] {
        let refused = app
            .send(Method::PATCH, &uri, Some(&token), &[JSON], body.clone())
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        assert_eq!(
            refused.header("www-authenticate"),
            r#"Bearer error="insufficient_scope", scope="runs:write""#
        );
        assert_eq!(refused.header("content-type"), "application/problem+json");
    }
    // Nothing was written.
    let dags = app.get("/api/v1/dags").await.ok_json();
    assert!(!dags.to_string().contains("\"name\":\"x\""), "{dags}");
    // A writing token still reads.
    app.call("/api/v1/dags", Some(&app.write_token()), &[])
        .await
        .ok_json();
}

/// A server with the write API off (`DAGTRAIL_WRITE_API=false`, for a
/// server under reading roles) refuses every write route, even to a
/// writing token, and says why; it still reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_the_write_api_refuses_every_write() {
    let app = crate::support::embedded_configured(|state| state.with_write_api(false)).await;
    let token = app.write_token();
    let run = write_run(&app, "refused");
    let attempt = format!("{run}/phases/extract/attempts/1");
    let writes = [
        (
            Method::PATCH,
            format!("/api/v1/dags/{}", app.dag),
            json!({"name": "x"}).to_string(),
        ),
        (
            Method::PUT,
            format!("{run}/event"),
            json!({"event": {"a": 1}}).to_string(),
        ),
        (
            Method::POST,
            format!("{run}/phases/extract/attempts"),
            String::new(),
        ),
        (Method::PUT, attempt.clone(), String::new()),
        (
            Method::PUT,
            format!("{attempt}/data/1"),
            "{\"id\": 1}\n".to_owned(),
        ),
        (
            Method::POST,
            format!("{attempt}/commit"),
            json!({"message": "m"}).to_string(),
        ),
        (Method::DELETE, attempt.clone(), String::new()),
    ];
    for (method, uri, body) in writes {
        let refused = app
            .send(method.clone(), &uri, Some(&token), &[JSON], body)
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{method} {uri}");
        assert_eq!(refused.header("content-type"), "application/problem+json");
        let problem = refused.json();
        assert_eq!(problem["title"], "Writes turned off", "{problem}");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("DAGTRAIL_WRITE_API"),
            "{problem}"
        );
    }
    // An unverified token is still a 401, and reading goes on.
    let none = app.send(Method::PUT, &attempt, None, &[], "").await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    app.call("/api/v1/dags", Some(&token), &[]).await.ok_json();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_entry_needs_no_runs() {
    let app = embedded().await;
    let dag = uuid::Uuid::new_v4();
    let entry = app
        .send(
            Method::PATCH,
            &format!("/api/v1/dags/{dag}"),
            Some(&app.write_token()),
            &[JSON],
            json!({"name": "not yet run"}).to_string(),
        )
        .await
        .ok_json();
    assert_eq!(entry["runs"], 0);
    assert!(entry["last_run"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_over_the_limit_is_413_and_keeps_nothing() {
    let limits = dagtrail::http::Limits {
        max_part_bytes: 64 * 1024,
        ..dagtrail::http::Limits::default()
    };
    let app = crate::support::embedded_with(|store| store, None, limits).await;
    let run = write_run(&app, "big");
    let attempt = format!("{run}/phases/extract/attempts/1");
    app.send(Method::PUT, &attempt, Some(&app.write_token()), &[], "")
        .await;
    // Sent in chunks, as a client streams it: refused once past the limit.
    let line = "{\"n\": 1, \"text\": \"0123456789012345678901234567890123456789\"}\n";
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> =
        (0..4_000).map(|_| Ok(bytes::Bytes::from(line))).collect();
    let body = axum::body::Body::from_stream(futures::stream::iter(chunks));
    let reply = put_part(&app, &attempt, "data/1", NDJSON.1, body).await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        reply.json()
    );
    let staged = app
        .call(&attempt, Some(&app.write_token()), &[])
        .await
        .ok_json();
    assert_eq!(staged["data"], json!([]));
    // Under the limit, the same rows pass.
    let small = put_part(&app, &attempt, "data/1", NDJSON.1, line.repeat(100)).await;
    assert_eq!(small.ok_json()["rows"], 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_past_the_writer_slots_get_503_and_reads_go_on() {
    let limits = dagtrail::http::Limits {
        max_writes: 1,
        max_writes_per_company: 1,
        ..dagtrail::http::Limits::default()
    };
    let app = crate::support::embedded_with(|store| store, None, limits).await;
    let run = write_run(&app, "busy");
    let attempt = format!("{run}/phases/extract/attempts/1");
    app.send(Method::PUT, &attempt, Some(&app.write_token()), &[], "")
        .await;
    // One upload holds the only slot: its body never ends while we look.
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
                .header("content-type", NDJSON.1)
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
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let refused = put_part(&app, &attempt, "logs/1", NDJSON.1, "{}\n").await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.header("retry-after"), "1");
    // Reading is not held up by writing.
    app.get("/api/v1/dags").await.ok_json();
    // The slot frees when the upload ends.
    drop(tx);
    assert_eq!(held.await.unwrap(), StatusCode::OK);
    let logs = put_part(
        &app,
        &attempt,
        "logs/1",
        NDJSON.1,
        "{\"ts\": \"2026-11-29T10:00:00Z\", \"level\": \"INFO\", \"logger\": \"l\", \"message\": \"m\"}\n",
    )
    .await;
    assert_eq!(logs.status, StatusCode::OK, "{}", logs.json());
}

/// Two phases of one run written at once, as two Airflow tasks may: both
/// committed, the run and its DAG's fleet row whole.
async fn two_phases_of_one_run_written_at_once(app: TestApp) {
    let run = write_run(&app, "concurrent");
    let token = app.write_token();
    let write = |phase: &'static str, rows: usize| {
        let app = &app;
        let run = run.clone();
        let token = token.clone();
        async move {
            let attempt = format!("{run}/phases/{phase}/attempts/1");
            app.send(Method::PUT, &attempt, Some(&token), &[], "").await;
            for part in 1..=3 {
                let body: String = (0..rows)
                    .map(|i| format!("{{\"phase\": \"{phase}\", \"i\": {i}}}\n"))
                    .collect();
                put_part(app, &attempt, &format!("data/{part}"), NDJSON.1, body)
                    .await
                    .ok_json();
            }
            app.send(
                Method::POST,
                &format!("{attempt}/commit"),
                Some(&token),
                &[JSON],
                json!({"message": phase}).to_string(),
            )
            .await
            .ok_json()
        }
    };
    let (extract, transform) = tokio::join!(write("extract", 500), write("transform", 300));
    assert_eq!(extract["data_rows"], 1_500);
    assert_eq!(transform["data_rows"], 900);
    let summary = app.get(&run).await.ok_json();
    assert_eq!(summary["extract"]["status"]["message"], "extract");
    assert_eq!(summary["transform"]["status"]["message"], "transform");
    let dag = app.get("/api/v1/dags?since=2026-11-01").await.ok_json();
    let ours = dag["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["dag_id"] == app.dag.to_string())
        .cloned()
        .unwrap();
    assert_eq!(ours["last_run"]["run_id"], "concurrent", "{ours}");
}

/// A commit repeated with the times its answer gave states the same
/// outcome: the answer gives every digit stored (microseconds), not fewer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_repeated_with_its_answered_times_is_the_same() {
    let app = embedded().await;
    let token = app.write_token();
    let attempt = format!("{}/phases/extract/attempts/1", write_run(&app, "times"));
    app.send(Method::PUT, &attempt, Some(&token), &[], "").await;
    let first = json!({"started_at": "2026-11-29T10:31:02.123456Z", "finished_at": "2026-11-29T10:32:03.654321Z"});
    let answer = app
        .send(
            Method::POST,
            &format!("{attempt}/commit"),
            Some(&token),
            &[JSON],
            first.to_string(),
        )
        .await
        .ok_json();
    assert_eq!(answer["started_at"], "2026-11-29T10:31:02.123456Z");
    assert_eq!(answer["finished_at"], "2026-11-29T10:32:03.654321Z");
    let again = json!({"started_at": answer["started_at"], "finished_at": answer["finished_at"]});
    let repeated = app
        .send(
            Method::POST,
            &format!("{attempt}/commit"),
            Some(&token),
            &[JSON],
            again.to_string(),
        )
        .await
        .ok_json();
    assert_eq!(repeated, answer);
}

/// A commit cut short after its `metadata.parquet` (the run index failed:
/// a 502 the client retries) is recorded in the run index by the retry,
/// not only answered: the phase is then found.
#[tokio::test]
async fn a_retried_commit_records_what_the_first_left_unrecorded() {
    use dagtrail::artifacts::RunFolder;
    use dagtrail::artifacts::writer::{AttemptWriter, PhaseOutcome, WriterOptions};
    use dagtrail::model::{Phase, RunId, RunRef};

    let app = embedded().await;
    let token = app.write_token();
    let run = write_run(&app, "cut-short");
    let attempt = format!("{run}/phases/extract/attempts/1");
    app.send(Method::PUT, &attempt, Some(&token), &[], "").await;
    let part = put_part(&app, &attempt, "data/1", NDJSON.1, "{\"id\": 1}\n").await;
    assert_eq!(part.status, StatusCode::OK, "{}", part.json());
    // The first commit's first step only: the files and the metadata, as
    // the commit writes them, and no run index entry.
    let run_ref = RunRef::new(
        app.dag,
        chrono::NaiveDate::from_ymd_opt(2026, 11, 29).unwrap(),
        RunId::new("cut-short").unwrap(),
    );
    let folder = RunFolder::new(&app.company, &run_ref)
        .unwrap()
        .attempt(Phase::Extract, 1)
        .unwrap();
    let mut writer = AttemptWriter::create(
        app.recorder.store(),
        folder,
        Phase::Extract,
        1,
        WriterOptions::default(),
    )
    .await
    .unwrap();
    let batch = arrow_array::RecordBatch::try_from_iter([(
        "id",
        std::sync::Arc::new(arrow_array::Int64Array::from(vec![1])) as arrow_array::ArrayRef,
    )])
    .unwrap();
    writer.write_data(&batch).await.unwrap();
    let finished = chrono::DateTime::parse_from_rfc3339("2026-11-29T10:32:03Z")
        .unwrap()
        .to_utc();
    writer
        .commit(&PhaseOutcome {
            success: Some(true),
            message: "extracted".to_owned(),
            finished_at: Some(finished),
            ..PhaseOutcome::default()
        })
        .await
        .unwrap();
    assert_eq!(
        app.get(&run).await.status,
        StatusCode::NOT_FOUND,
        "committed in the store, unknown to the run index"
    );

    let retried = app
        .send(
            Method::POST,
            &format!("{attempt}/commit"),
            Some(&token),
            &[JSON],
            json!({"message": "extracted", "finished_at": "2026-11-29T10:32:03Z"}).to_string(),
        )
        .await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.json());
    let found = app.get(&run).await.ok_json();
    assert_eq!(found["extract"]["attempt"], 1, "{found}");
    assert_eq!(
        found["extract"]["status"]["message"], "extracted",
        "{found}"
    );
}

/// Staged attempts untouched since a time are deleted by
/// `Recorder::expire_staged` (what `dagtrail serve` sweeps with): a
/// forgotten one goes, with its parts; one resumed since stays, as do
/// committed attempts; the forgotten one can be opened anew.
async fn forgotten_attempts_expire_and_touched_ones_stay(app: TestApp) {
    let token = app.write_token();
    let forgotten = format!("{}/phases/extract/attempts/1", write_run(&app, "forgotten"));
    let resumed = format!("{}/phases/extract/attempts/1", write_run(&app, "resumed"));
    let committed = format!("{}/phases/extract/attempts/1", write_run(&app, "committed"));
    for attempt in [&forgotten, &resumed, &committed] {
        let opened = app.send(Method::PUT, attempt, Some(&token), &[], "").await;
        assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.json());
        let part = put_part(&app, attempt, "data/1", NDJSON.1, "{\"id\": 1}\n").await;
        assert_eq!(part.status, StatusCode::OK, "{}", part.json());
    }
    let done = app
        .send(
            Method::POST,
            &format!("{committed}/commit"),
            Some(&token),
            &[JSON],
            json!({"message": "done"}).to_string(),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.json());
    // Stores keep times to the second at worst: the cut lies a second away
    // from the files on each side of it.
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let cut = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let again = app.send(Method::PUT, &resumed, Some(&token), &[], "").await;
    assert_eq!(again.status, StatusCode::OK, "resumed: {}", again.json());

    let expired = app.recorder.expire_staged(cut).await.unwrap();
    assert_eq!(
        (expired.attempts, expired.files),
        (1, 2),
        "the forgotten attempt's marker and part: {expired:?}"
    );
    assert!(expired.bytes > 0);
    let gone = app
        .send(Method::GET, &forgotten, Some(&token), &[], "")
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND, "{}", gone.json());
    let commit = app
        .send(
            Method::POST,
            &format!("{forgotten}/commit"),
            Some(&token),
            &[JSON],
            json!({"message": "too late"}).to_string(),
        )
        .await;
    assert_eq!(commit.status, StatusCode::NOT_FOUND, "{}", commit.json());
    let kept = app
        .send(Method::GET, &resumed, Some(&token), &[], "")
        .await
        .ok_json();
    assert_eq!(kept["data"], json!([1]), "{kept}");
    let read = app
        .get(&format!("{}/phases/extract", write_run(&app, "committed")))
        .await;
    assert_eq!(
        read.status,
        StatusCode::OK,
        "committed attempts are never staged"
    );

    let anew = app
        .send(Method::PUT, &forgotten, Some(&token), &[], "")
        .await;
    assert_eq!(anew.status, StatusCode::CREATED, "{}", anew.json());
    assert_eq!(anew.json()["data"], json!([]));
    assert_eq!(
        app.recorder.expire_staged(cut).await.unwrap().attempts,
        0,
        "nothing left untouched since the cut"
    );
}

/// A commit whose staged parts were deleted from under it (a sweep of
/// expired attempts that had begun on it) refuses with 409 and commits
/// nothing, instead of committing the parts that were left.
#[tokio::test]
async fn a_commit_refuses_when_staged_parts_went_missing() {
    use futures::TryStreamExt as _;
    use object_store::ObjectStoreExt as _;

    let app = embedded().await;
    let token = app.write_token();
    let run = write_run(&app, "swept");
    let attempt = format!("{run}/phases/extract/attempts/1");
    app.send(Method::PUT, &attempt, Some(&token), &[], "").await;
    for part in ["data/1", "data/2"] {
        let staged = put_part(&app, &attempt, part, NDJSON.1, "{\"id\": 1}\n").await;
        assert_eq!(staged.status, StatusCode::OK, "{}", staged.json());
    }
    let store = app.recorder.store().object_store();
    let staging = object_store::path::Path::from(dagtrail::record::staging::STAGING_TOP);
    let first: Vec<_> = store
        .list(Some(&staging))
        .try_filter(|meta| {
            std::future::ready(meta.location.as_ref().ends_with("data/000001.parquet"))
        })
        .try_collect()
        .await
        .unwrap();
    assert_eq!(first.len(), 1, "{first:?}");
    store.delete(&first[0].location).await.unwrap();

    let commit = app
        .send(
            Method::POST,
            &format!("{attempt}/commit"),
            Some(&token),
            &[JSON],
            json!({"message": "half"}).to_string(),
        )
        .await;
    assert_eq!(commit.status, StatusCode::CONFLICT, "{}", commit.json());
    assert!(
        commit.json()["detail"]
            .as_str()
            .unwrap()
            .contains("nothing was committed"),
        "{}",
        commit.json()
    );
    assert_eq!(
        app.get(&format!("{run}/phases/extract")).await.status,
        StatusCode::NOT_FOUND
    );
}

/// An error names its data row by its place among every data row the
/// attempt was given (`_row` without `_file`), across parts, whatever
/// files the writer splits them into: the commit resolves it to the file
/// and row the data row landed in, and the explorer links it. A place past
/// the data is refused, naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_name_data_rows_by_position_across_parts() {
    let app = crate::support::embedded_configured(|mut state| {
        // Files of 10 rows: 3 parts of 9 rows land in files of 10, 10, 7.
        state.recorder = dagtrail::record::Recorder::new(
            std::sync::Arc::clone(state.reads.run_index()),
            state.reads.store().clone(),
            dagtrail::artifacts::writer::WriterOptions {
                rows_per_file: 10,
                ..dagtrail::artifacts::writer::WriterOptions::default()
            },
        );
        state
    })
    .await;
    let run = write_run(&app, "positions");
    let attempt = format!("{run}/phases/extract/attempts/1");
    let token = app.write_token();
    app.send(Method::PUT, &attempt, Some(&token), &[], "").await;
    for part in 0..3 {
        let rows: String = (0..9)
            .map(|i| format!("{{\"n\": {}}}\n", part * 9 + i))
            .collect();
        let reply = put_part(
            &app,
            &attempt,
            &format!("data/{}", part + 1),
            NDJSON.1,
            rows,
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.json());
    }
    // By position (row 15 of 27 is in file 1 at row 5; 26 in file 2 at 6),
    // and one naming its file as the contract does.
    let errors = [
        json!({"_row": 15, "error_title": "bad n", "error_type": "about:blank", "error_status": 422, "error_detail": "n=15", "occurred_at": "2026-11-29T10:00:00Z"}),
        json!({"_row": 26, "error_title": "bad n", "error_type": "about:blank", "error_status": 422, "error_detail": "n=26", "occurred_at": "2026-11-29T10:00:00Z"}),
        json!({"_file": 0, "_row": 3, "error_title": "bad n", "error_type": "about:blank", "error_status": 422, "error_detail": "n=3", "occurred_at": "2026-11-29T10:00:00Z"}),
    ];
    let body: String = errors.iter().map(|e| format!("{e}\n")).collect();
    let reply = put_part(&app, &attempt, "errors/1", NDJSON.1, body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json());
    app.send(
        Method::POST,
        &format!("{attempt}/commit"),
        Some(&token),
        &[JSON],
        "{}",
    )
    .await
    .ok_json();
    let read = app
        .get(&format!("{run}/phases/extract/errors"))
        .await
        .ok_json();
    let rows = read["rows"].as_array().unwrap();
    let places: Vec<(i64, i64, String)> = rows
        .iter()
        .map(|r| {
            (
                r["_file"].as_i64().unwrap(),
                r["_row"].as_i64().unwrap(),
                r["error_detail"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        places,
        vec![
            (1, 5, "n=15".to_owned()),
            (2, 6, "n=26".to_owned()),
            (0, 3, "n=3".to_owned())
        ]
    );
    // Each place is the row the error names.
    for (file, row, detail) in &places {
        let position = file * 10 + row;
        let data = app
            .get(&format!(
                "{run}/phases/extract/data?page={position}&limit=1"
            ))
            .await
            .ok_json();
        assert_eq!(format!("n={}", data["rows"][0]["n"]), *detail);
    }
    // The explorer links each to its row of the Data tab.
    let page = app
        .send(
            Method::GET,
            &format!(
                "{}/phases/extract/errors",
                run.trim_start_matches("/api/v1")
            ),
            Some(&app.token()),
            &[("accept", "text/html")],
            "",
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let html = String::from_utf8_lossy(&page.body).into_owned();
    for position in [15, 26, 3] {
        assert!(
            html.contains(&format!("row={position}#row-{position}")),
            "no link to data row {position}"
        );
    }

    // A place past the attempt's data is refused at the commit.
    let attempt = format!("{run}/phases/transform/attempts/1");
    app.send(Method::PUT, &attempt, Some(&token), &[], "").await;
    put_part(&app, &attempt, "data/1", NDJSON.1, "{\"n\": 1}\n")
        .await
        .ok_json();
    let past = json!({"_row": 1, "error_title": "t", "error_type": "about:blank", "error_status": 422, "error_detail": "d", "occurred_at": "2026-11-29T10:00:00Z"});
    put_part(&app, &attempt, "errors/1", NDJSON.1, format!("{past}\n"))
        .await
        .ok_json();
    let refused = app
        .send(
            Method::POST,
            &format!("{attempt}/commit"),
            Some(&token),
            &[JSON],
            "{}",
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    let detail = refused.json()["detail"].as_str().unwrap().to_owned();
    assert!(
        detail.contains("names data row 1") && detail.contains("has 1 data rows"),
        "{detail}"
    );
}
