"""Phases written through a real server and read back through its read API."""

from __future__ import annotations

import json
import uuid

import pyarrow as pa
import pytest

import dagtrail

DATE = "2026-11-27"
RUN = "manual__2026-11-27T10:31:02+00:00"


def test_the_readme_snippet_end_to_end(server, write_token, reader, dag_id):
    client = dagtrail.Client(server.url, token=write_token)
    with client.phase(dag_id=dag_id, date="2026-11-27",
                      run_id="manual__2026-11-27T10:31:02+00:00",
                      phase="extract", dag_name="orders_daily") as ph:
        ph.write([{"order_id": 1, "customer": "Zoë"}, {"order_id": 2, "customer": "Ana"}])
        ph.log("INFO", "fetched 2 orders")
        ph.error(title="bad amount", detail="amount is negative", record={"order_id": 3})
        ph.message = "extracted 2 orders"
    client.close()

    assert ph.committed["success"] is True
    assert ph.committed["data_rows"] == 2
    assert ph.committed["error_count"] == 1
    assert ph.committed["log_count"] == 1

    rows = list(reader.read_rows(dag_id, DATE, RUN, "extract", "data"))
    assert rows == [{"order_id": 1, "customer": "Zoë"}, {"order_id": 2, "customer": "Ana"}]

    (error,) = reader.read_rows(dag_id, DATE, RUN, "extract", "errors")
    assert error["error_title"] == "bad amount"
    assert error["error_detail"] == "amount is negative"
    assert error["error_status"] == 422
    assert json.loads(error["record"]) == {"order_id": 3}

    (log,) = reader.read_rows(dag_id, DATE, RUN, "extract", "logs")
    assert (log["level"], log["message"]) == ("INFO", "fetched 2 orders")

    run = reader.get_run(dag_id, DATE, RUN)
    assert run["extract"]["status"] == {"success": True, "message": "extracted 2 orders", "total": 2}
    assert run["extract"]["started_at"] and run["extract"]["finished_at"]
    assert run["extract"]["started_at"] <= run["extract"]["finished_at"]

    (dag,) = [d for d in reader.list_dags()["items"] if d["dag_id"] == str(dag_id)]
    assert dag["name"] == "orders_daily"


def failing_transform(ph):
    ph.write([{"order_id": 1, "amount": 10.0}])
    amounts = [10.0, -3.0]
    if any(a < 0 for a in amounts):
        raise ValueError("amount is negative in order 2")


def test_an_exception_commits_a_failed_attempt_with_its_traceback_and_is_reraised(client, reader, dag_id):
    with pytest.raises(ValueError, match="amount is negative in order 2"):
        with client.phase(dag_id, DATE, RUN, "transform") as ph:
            failing_transform(ph)

    assert ph.committed["success"] is False
    assert ph.committed["message"] == "ValueError: amount is negative in order 2"
    # The rows written before the failure are kept with the failed attempt.
    assert ph.committed["data_rows"] == 1

    (error,) = reader.read_rows(dag_id, DATE, RUN, "transform", "errors")
    assert error["error_type"] == "ValueError"
    assert error["error_title"] == "ValueError"
    assert error["error_status"] == 500
    assert error["error_detail"] == "amount is negative in order 2"
    assert error["traceback"].startswith("Traceback (most recent call last):")
    assert "in failing_transform" in error["traceback"]
    assert 'raise ValueError("amount is negative in order 2")' in error["traceback"]

    run = reader.get_run(dag_id, DATE, RUN)
    assert run["transform"]["status"]["success"] is False


def test_a_second_run_of_a_phase_is_its_next_attempt(client, reader, dag_id):
    with pytest.raises(RuntimeError):
        with client.phase(dag_id, DATE, RUN, "load") as first:
            raise RuntimeError("database is down")
    with client.phase(dag_id, DATE, RUN, "load") as second:
        second.write([{"loaded": 5}])
    assert (first.attempt, second.attempt) == (1, 2)
    assert reader.get_run(dag_id, DATE, RUN)["load"]["attempt"] == 2
    assert list(reader.read_rows(dag_id, DATE, RUN, "load", attempt=2)) == [{"loaded": 5}]
    assert list(reader.read_rows(dag_id, DATE, RUN, "load", attempt=1)) == []


def test_many_parts_with_progress(client, reader, dag_id):
    seen = []
    with client.phase(dag_id, DATE, RUN, "extract", part_rows=10) as ph:
        sent = ph.write([{"n": i, "name": f"row {i}"} for i in range(35)], progress=seen.append)
        staged = client.staged_attempt(dag_id, DATE, RUN, "extract", ph.attempt)
        ph.write(pa.table({"n": [35, 36]}))
    assert sent == 35
    assert seen == [10, 20, 30, 35]
    assert staged["data"] == [1, 2, 3, 4]
    assert ph.committed["data_rows"] == 37
    rows = list(reader.read_rows(dag_id, DATE, RUN, "extract", limit=7))
    assert [r["n"] for r in rows] == list(range(37))
    # The later part lacked the column `name`: null there.
    assert rows[-1] == {"n": 36, "name": None}


def test_parts_bounded_by_bytes(client, reader, dag_id):
    table = pa.table({"n": pa.array(range(10_000), pa.int64()), "x": pa.array([1.5] * 10_000)})
    parts = []
    with client.phase(dag_id, DATE, RUN, "extract", part_bytes=32 * 1024, batch_rows=1000) as ph:
        ph.write(table, progress=parts.append)
        staged = client.staged_attempt(dag_id, DATE, RUN, "extract", ph.attempt)
    # 160 kB of Arrow data in parts of at most 32 kB.
    assert len(staged["data"]) >= 5
    assert parts[-1] == 10_000
    assert ph.committed["data_rows"] == 10_000
    page = reader.read_page(dag_id, DATE, RUN, "extract", limit=1, page=9_999)
    assert page["rows"] == [{"n": 9_999, "x": 1.5}]


def test_logs_and_errors_are_sent_in_batches(client, reader, dag_id):
    with client.phase(dag_id, DATE, RUN, "extract", log_batch=3, error_batch=2) as ph:
        for i in range(7):
            ph.log("warning" if i % 2 else "INFO", f"message {i}", logger="orders")
        for i in range(3):
            ph.error(title="bad row", detail=f"row {i} is bad", row=i, file=0, record='{"raw": true}')
        staged = client.staged_attempt(dag_id, DATE, RUN, "extract", ph.attempt)
    assert staged["logs"] == [1, 2]
    assert staged["errors"] == [1]
    assert (ph.committed["log_count"], ph.committed["error_count"]) == (7, 3)
    logs = list(reader.read_rows(dag_id, DATE, RUN, "extract", "logs"))
    assert [log["message"] for log in logs] == [f"message {i}" for i in range(7)]
    assert {log["level"] for log in logs} == {"INFO", "WARNING"}
    errors = list(reader.read_rows(dag_id, DATE, RUN, "extract", "errors"))
    assert [(e["_file"], e["_row"], e["record"]) for e in errors] == [(0, i, '{"raw": true}') for i in range(3)]
    assert {e["error_type"] for e in errors} == {"about:blank"}


def test_a_run_id_is_one_path_segment(client, reader, dag_id):
    run_id = "scheduled__2026/11/27 ?#%+:Zoë"
    with client.phase(dag_id, DATE, run_id, "extract") as ph:
        ph.write([{"a": 1}])
    run = reader.get_run(dag_id, DATE, run_id)
    assert run["run_id"] == run_id
    assert list(reader.read_rows(dag_id, DATE, run_id, "extract")) == [{"a": 1}]


def test_an_open_attempt_left_by_a_dead_process_starts_over(client, reader, dag_id):
    # What a process that died mid-phase leaves: an open attempt with parts.
    opened = client.open_attempt(dag_id, DATE, RUN, "extract")
    body = b'{"stale": 1}\n{"stale": 2}\n'
    client.upload_part(dag_id, DATE, RUN, "extract", opened["attempt"], "data", 1, body, "application/x-ndjson")
    client.upload_part(dag_id, DATE, RUN, "extract", opened["attempt"], "data", 2, body, "application/x-ndjson")

    with client.phase(dag_id, DATE, RUN, "extract") as ph:
        ph.write([{"fresh": 1}])
    assert ph.attempt == opened["attempt"]
    assert list(reader.read_rows(dag_id, DATE, RUN, "extract")) == [{"fresh": 1}]


def test_resume_keeps_the_staged_parts(client, reader, dag_id):
    opened = client.open_attempt(dag_id, DATE, RUN, "extract")
    client.upload_part(
        dag_id, DATE, RUN, "extract", opened["attempt"], "data", 1, b'{"n": 1}\n', "application/x-ndjson"
    )
    with client.phase(dag_id, DATE, RUN, "extract", resume=True) as ph:
        ph.write([{"n": 2}])
    assert [r["n"] for r in reader.read_rows(dag_id, DATE, RUN, "extract")] == [1, 2]


def test_abort_commits_nothing(client, dag_id):
    with client.phase(dag_id, DATE, RUN, "extract") as ph:
        ph.write([{"n": 1}])
        ph.abort()
    assert ph.committed is None
    with pytest.raises(dagtrail.NotFoundError):
        client.staged_attempt(dag_id, DATE, RUN, "extract", ph.attempt)
    with pytest.raises(dagtrail.NotFoundError):
        client.get_run(dag_id, DATE, RUN)


def test_a_pending_phase_and_its_total(client, reader, dag_id):
    with client.phase(dag_id, DATE, RUN, "load") as ph:
        ph.write([{"n": 1}, {"n": 2}])
        ph.status = "pending"
        ph.total = 10
        ph.message = "waiting for the warehouse"
    status = reader.get_run(dag_id, DATE, RUN)["load"]["status"]
    assert status == {"success": None, "message": "waiting for the warehouse", "total": 10}


def test_commit_is_safe_to_repeat_and_another_outcome_conflicts(client, dag_id):
    with client.phase(dag_id, DATE, RUN, "extract") as ph:
        ph.write([{"n": 1}])
    where = (dag_id, DATE, RUN, "extract", ph.attempt)
    again = client.commit_attempt(
        *where, status="success", started_at=ph.committed["started_at"], finished_at=ph.committed["finished_at"]
    )
    assert again == ph.committed
    with pytest.raises(dagtrail.ConflictError) as caught:
        client.commit_attempt(*where, status="failed", message="no")
    assert caught.value.status == 409
    assert "another outcome" in caught.value.detail


def test_event_and_catalog_entry(client, reader, dag_id):
    entry = client.describe_dag(dag_id, "orders_daily", description="Orders of the day", tags=["orders", "daily"])
    assert (entry["name"], entry["tags"], entry["description"]) == ("orders_daily", ["orders", "daily"], "Orders of the day")
    # Fields given replace, the others are kept.
    entry = client.describe_dag(dag_id, owner="data-team")
    assert (entry["name"], entry["owner"], entry["tags"]) == ("orders_daily", "data-team", ["orders", "daily"])

    recorded = client.event(
        dag_id,
        DATE,
        RUN,
        queue_data={"topic": "orders", "offset": 42},
        event=[{"order_id": 1, "kind": "created"}, {"order_id": 2, "kind": "created"}],
        status="success",
        message="2 orders",
    )
    assert recorded == {"queue_data_rows": 1, "event_rows": 2}
    run = reader.get_run(dag_id, DATE, RUN)
    assert run["event"]["status"]["success"] is True
    assert run["event"]["status"]["message"] == "2 orders"
    stored = reader.get_event(dag_id, DATE, RUN)
    assert json.dumps(stored).count("created") >= 2
    assert "42" in json.dumps(stored)


def test_an_unknown_phase_is_refused_before_sending(client, dag_id):
    with pytest.raises(ValueError, match="phase must be one of"):
        client.phase(dag_id, DATE, RUN, "publish")


def test_dag_ids_and_dates_of_other_types(client, reader):
    dag = uuid.uuid4()
    import datetime

    with client.phase(str(dag), datetime.date(2026, 11, 28), RUN, "extract") as ph:
        ph.write([{"n": 1}])
    assert list(reader.read_rows(dag, "2026-11-28", RUN, "extract")) == [{"n": 1}]
