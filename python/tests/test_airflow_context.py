"""`dagtrail.airflow` without Airflow: what it derives from a task's context
(made here as Airflow 2 and 3 make theirs), and the server from the
environment."""

from __future__ import annotations

import datetime as dt
import importlib.util
import subprocess
import sys
import types
import uuid

import pytest

from dagtrail import airflow as dagtrail_airflow


def test_it_imports_without_airflow():
    code = "import sys, dagtrail.airflow; print('airflow' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_the_dag_uuid_is_uuid5_of_the_namespace_and_dag_id(monkeypatch):
    monkeypatch.delenv("DAGTRAIL_DAG_NAMESPACE", raising=False)
    assert dagtrail_airflow.NAMESPACE == uuid.UUID("77755bbf-be9a-4eda-ab7b-e39470dadb89")
    assert dagtrail_airflow.dag_uuid("orders_daily") == uuid.uuid5(dagtrail_airflow.NAMESPACE, "orders_daily")
    other = uuid.uuid4()
    monkeypatch.setenv("DAGTRAIL_DAG_NAMESPACE", str(other))
    assert dagtrail_airflow.dag_uuid("orders_daily") == uuid.uuid5(other, "orders_daily")
    mine = uuid.uuid4()
    assert dagtrail_airflow.dag_uuid("orders_daily", mine) == uuid.uuid5(mine, "orders_daily")


def airflow2_context():
    utc = dt.timezone.utc
    dag = types.SimpleNamespace(dag_id="orders_daily", tags={"orders", "daily"}, description="Orders", owner="data-team")
    return {
        "dag": dag,
        "dag_run": types.SimpleNamespace(dag_id="orders_daily", run_id="scheduled__2026-11-26T23:00:00+00:00"),
        "run_id": "scheduled__2026-11-26T23:00:00+00:00",
        # A day that starts at 23:00 UTC: the date is the UTC one.
        "data_interval_start": dt.datetime(2026, 11, 26, 23, 0, tzinfo=utc),
        "logical_date": dt.datetime(2026, 11, 26, 23, 0, tzinfo=utc),
        "ti": types.SimpleNamespace(task_id="extract", try_number=2, dag_id="orders_daily"),
    }


def test_a_scheduled_runs_date_is_its_data_interval_start():
    info = dagtrail_airflow.run_info(airflow2_context())
    assert info.dag_id == dagtrail_airflow.dag_uuid("orders_daily")
    assert info.dag_name == "orders_daily"
    assert info.run_id == "scheduled__2026-11-26T23:00:00+00:00"
    assert info.date == dt.date(2026, 11, 26)
    assert info.tags == ["daily", "orders"]
    assert (info.description, info.owner, info.task_id, info.try_number) == ("Orders", "data-team", "extract", 2)


def test_a_manual_airflow3_run_without_logical_date_takes_run_after():
    dag_run = types.SimpleNamespace(
        dag_id="orders_daily",
        run_id="manual__2026-11-27T10:31:02+00:00",
        logical_date=None,
        data_interval_start=None,
        run_after=dt.datetime(2026, 11, 27, 10, 31, 2, tzinfo=dt.timezone.utc),
    )
    context = {
        "dag": types.SimpleNamespace(dag_id="orders_daily"),
        "dag_run": dag_run,
        "run_id": dag_run.run_id,
        "data_interval_start": None,
        "logical_date": None,
    }
    info = dagtrail_airflow.run_info(context)
    assert info.date == dt.date(2026, 11, 27)
    assert info.tags is None and info.owner is None
    assert dagtrail_airflow.run_info(context, date="2026-12-01").date == dt.date(2026, 12, 1)


def test_a_context_without_any_date_asks_for_one():
    context = {"dag": types.SimpleNamespace(dag_id="d"), "run_id": "r"}
    with pytest.raises(ValueError, match="date="):
        dagtrail_airflow.run_info(context)


def test_the_server_from_the_environment(monkeypatch):
    monkeypatch.setenv("DAGTRAIL_URL", "http://127.0.0.1:9/")
    monkeypatch.setenv("DAGTRAIL_TOKEN", "tok")
    assert dagtrail_airflow.server() == ("http://127.0.0.1:9/", "tok", {})
    with dagtrail_airflow.client() as client:
        assert client.base_url == "http://127.0.0.1:9/api/v1"


def test_a_phase_from_a_context_records_into_the_derived_run(server, write_token, reader, monkeypatch):
    namespace = uuid.uuid4()
    monkeypatch.setenv("DAGTRAIL_URL", server.url)
    monkeypatch.setenv("DAGTRAIL_TOKEN", write_token)
    monkeypatch.setenv("DAGTRAIL_DAG_NAMESPACE", str(namespace))
    context = airflow2_context()
    with dagtrail_airflow.phase("extract", context=context) as ph:
        ph.write([{"order_id": 1}])
    assert ph.committed["success"] is True
    dag = uuid.uuid5(namespace, "orders_daily")
    assert list(reader.read_rows(dag, "2026-11-26", context["run_id"], "extract")) == [{"order_id": 1}]
    (entry,) = [d for d in reader.list_dags()["items"] if d["dag_id"] == str(dag)]
    assert (entry["name"], entry["tags"], entry["owner"], entry["description"]) == (
        "orders_daily",
        ["daily", "orders"],
        "data-team",
        "Orders",
    )
    recorded = dagtrail_airflow.event(context=context, queue_data={"conf": {"full": True}}, event={"kind": "daily"})
    assert recorded == {"queue_data_rows": 1, "event_rows": 1}


def test_without_airflow_or_environment_the_helper_says_what_to_set(monkeypatch):
    if importlib.util.find_spec("airflow") is not None:
        pytest.skip("Airflow is installed here: the connection would be looked up")
    monkeypatch.delenv("DAGTRAIL_URL", raising=False)
    with pytest.raises(RuntimeError, match="DAGTRAIL_URL"):
        dagtrail_airflow.server()
