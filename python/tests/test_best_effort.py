"""Best-effort mode, the default: dagtrail being away, hung, or refusing
never fails the task it watches. Against real processes: a closed port, the
conftest's `dagtrail serve` (stopped mid-phase, or given a bad token), a
socket that never answers, and a stub HTTP server answering 503, 500 or
slowly (tests/stub_server.py). Each failure is one WARNING on the
`dagtrail` logger, then one summary of what was dropped; strict mode
raises the same failures, as the client always did."""

from __future__ import annotations

import importlib.util
import logging
import re
import time
import uuid
from typing import List

import httpx
import pytest

import dagtrail
from dagtrail import airflow as dagtrail_airflow
from conftest import free_port
from stub_server import Answer, Hung, Stub
from test_airflow_context import airflow2_context

DATE = "2026-11-27"
RUN = "manual__best_effort"


def closed_url() -> str:
    """A loopback port nothing listens on (a wrong DAGTRAIL_URL)."""
    return f"http://127.0.0.1:{free_port()}"


def rows(n: int, start: int = 0) -> List[dict]:
    return [{"n": i} for i in range(start, start + n)]


def warnings_of(caplog) -> List[str]:
    return [r.getMessage() for r in caplog.records if r.name == "dagtrail" and r.levelno == logging.WARNING]


def test_a_server_never_reached_costs_the_task_nothing(dag_id, caplog):
    """A wrong URL: the phase detaches on entering (at once: a port that
    never answered is not retried), the block runs, its rows are counted,
    and the code after it runs. One warning, then the summary."""
    caplog.set_level(logging.INFO, logger="dagtrail")
    after = []
    began = time.monotonic()
    with dagtrail.Client(closed_url(), token="t") as client:
        with client.phase(dag_id, DATE, RUN, "extract", dag_name="orders_daily") as ph:
            assert ph.detached and ph.is_open
            # The rows are taken (the count the task sees is the same as
            # with dagtrail up), not sent.
            assert ph.write(rows(27_000)) == 27_000
            assert ph.write(iter(rows(30))) == 30
            for i in range(3):
                ph.error(title="bad amount", detail=f"order {i}")
            for i in range(1_200):
                ph.log("INFO", f"line {i}")
            ph.message = "extracted"
        after.append("the task goes on")
    took = time.monotonic() - began
    assert after == ["the task goes on"]
    assert took < 5
    assert ph.committed is None
    assert ph.rows_written == 0
    assert ph.dropped == {"rows": 27_030, "errors": 3, "logs": 1_200}
    assert isinstance(ph.failure, dagtrail.TransportError)
    first, summary = warnings_of(caplog)
    assert re.fullmatch(
        rf"dagtrail: extract of orders_daily/{RUN}: recording stopped, the task goes on without dagtrail: "
        rf"PATCH /dags/{dag_id}: cannot connect to .+ \(not retried: the server has not answered this client yet\)",
        first,
    )
    assert summary == (
        f"dagtrail: extract of orders_daily/{RUN}: dropped 27,030 rows, 3 errors, 1,200 log lines: {ph.failure}"
    )


def test_strict_mode_raises_the_same_failure(dag_id, monkeypatch):
    with dagtrail.Client(closed_url(), token="t", strict=True) as client:
        with pytest.raises(dagtrail.TransportError, match="not retried"):
            with client.phase(dag_id, DATE, RUN, "extract"):
                pytest.fail("the block must not run")
    monkeypatch.setenv("DAGTRAIL_STRICT", "TRUE")
    with dagtrail.Client(closed_url(), token="t") as client:
        assert client.strict
        with pytest.raises(dagtrail.TransportError):
            client.event(dag_id, DATE, RUN, event={"n": 1})
    # An explicit argument outranks the environment.
    assert not dagtrail.Client(closed_url(), strict=False).strict
    monkeypatch.setenv("DAGTRAIL_STRICT", "maybe")
    with pytest.raises(ValueError, match="DAGTRAIL_STRICT must be true or false"):
        dagtrail.Client(closed_url())


def test_the_time_bounds_by_mode():
    best_effort = dagtrail.Client(closed_url())
    strict = dagtrail.Client(closed_url(), strict=True)
    assert (best_effort.timeout, best_effort.upload_timeout, best_effort.commit_timeout, best_effort.retry_time) == (
        10,
        60,
        600,
        10,
    )
    # Strict: the client's bounds before best-effort mode.
    assert (strict.timeout, strict.upload_timeout, strict.commit_timeout) == (30, 600, 3600)
    assert strict.retry_time == float("inf")
    assert dagtrail.Client(closed_url(), timeout=3, retry_time=1).retry_time == 1


def test_a_server_that_dies_mid_phase(own_server, dag_id, caplog):
    """Stopped between two parts: the next part waits out retry_time, the
    phase detaches, and from then on nothing goes on the wire: the rest is
    counted, the commit is not attempted."""
    caplog.set_level(logging.INFO, logger="dagtrail")
    own_server.start()
    sent: List[str] = []
    http = httpx.Client(event_hooks={"request": [lambda request: sent.append(request.method)]})
    with own_server.client(http_client=http, retry_time=1.0) as client:
        with client.phase(dag_id, DATE, RUN, "extract", part_rows=100) as ph:
            ph.write(rows(200))
            own_server.stop()
            began = time.monotonic()
            assert ph.write(rows(1_000, 200)) == 1_000
            detaching = time.monotonic() - began
            assert ph.detached
            before = len(sent)
            ph.write(rows(26_000, 1_200))
            for i in range(3):
                ph.error(title="bad", detail=str(i))
            for i in range(12):
                ph.log("WARNING", f"line {i}")
            assert len(sent) == before
        assert len(sent) == before
    http.close()
    # Retried with backoff until retry_time, not for the 6 tries' worth.
    assert 0.3 < detaching < 3
    assert ph.rows_written == 200 and ph.committed is None
    first, summary = warnings_of(caplog)
    assert "recording stopped" in first and "ConnectError" in first
    assert re.search(r"no answer after \d tries \(\d\.\d s of retrying, retry_time 1 s\)", first)
    assert summary.startswith(
        f"dagtrail: extract of {dag_id}/{RUN}: dropped 27,000 rows, 3 errors, 12 log lines; "
        "attempt 1 is left uncommitted with 200 rows staged: PUT "
    )


def test_the_tasks_exception_still_propagates_unchanged(own_server, dag_id, caplog, recwarn):
    caplog.set_level(logging.INFO, logger="dagtrail")
    own_server.start()
    mine = KeyError("order 7")
    with own_server.client(retry_time=0.5) as client:
        with pytest.raises(KeyError) as caught:
            with client.phase(dag_id, DATE, RUN, "transform", log_batch=1) as ph:
                ph.write(rows(10))
                own_server.stop()
                ph.log("INFO", "detaches here")
                raise mine
    assert caught.value is mine
    assert ph.detached
    # The exception's error row is what the server would have been sent.
    (summary,) = [m for m in warnings_of(caplog) if "dropped" in m]
    assert "dropped 0 rows, 1 error, 1 log line; attempt 1 is left uncommitted with 10 rows staged" in summary
    # Detached before the exception: nothing was tried, so no RuntimeWarning.
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_a_server_that_hangs_costs_one_timeout(dag_id, caplog):
    """A server that takes the connection and never answers: with the
    default bounds, one call waits its timeout (10 s), is not retried, and
    the phase makes no other call."""
    caplog.set_level(logging.INFO, logger="dagtrail")
    with Hung() as hung:
        began = time.monotonic()
        with dagtrail.Client(hung.url, token="t") as client:
            with client.phase(dag_id, DATE, RUN, "load", dag_name="orders_daily") as ph:
                ph.write(rows(5))
            took = time.monotonic() - began
    assert 9 < took < 30
    first, summary = warnings_of(caplog)
    assert "no answer in time" in first and "ReadTimeout" in first and "not retried in best-effort mode" in first
    assert summary.startswith(f"dagtrail: load of orders_daily/{RUN}: dropped 5 rows, 0 errors, 0 log lines: PATCH")


def test_strict_mode_retries_a_server_that_hangs(dag_id):
    with Hung() as hung:
        with dagtrail.Client(hung.url, token="t", strict=True, timeout=0.3, retries=1, backoff=0.01) as client:
            with pytest.raises(dagtrail.TransportError, match="no answer after 2 tries"):
                client.describe_dag(dag_id, "x")


def test_a_slow_answer_is_bounded_by_the_timeout(dag_id, caplog):
    """A server that answers, but after 3 s: a timeout of 0.5 s gives up
    at once."""
    caplog.set_level(logging.INFO, logger="dagtrail")
    with Stub(lambda method, path: Answer(200, delay=3.0)) as stub:
        began = time.monotonic()
        with dagtrail.Client(stub.url, token="t", timeout=0.5) as client:
            with client.phase(dag_id, DATE, RUN, "extract"):
                pass
        took = time.monotonic() - began
    assert took < 2.5
    assert [m for m in warnings_of(caplog) if "no answer in time" in m]
    assert stub.requests == [("POST", f"/api/v1/dags/{dag_id}/runs/{DATE}/{RUN}/phases/extract/attempts")]


def test_a_busy_server_is_retried_for_retry_time_at_most(dag_id, caplog):
    caplog.set_level(logging.INFO, logger="dagtrail")
    with Stub(lambda method, path: Answer(503)) as stub:
        began = time.monotonic()
        with dagtrail.Client(stub.url, token="t", retries=100, backoff=0.1, max_backoff=0.2, retry_time=1.0) as client:
            with client.phase(dag_id, DATE, RUN, "extract") as ph:
                pass
        took = time.monotonic() - began
    assert 0.7 < took < 3
    assert 4 <= len(stub.requests) < 20
    assert isinstance(ph.failure, dagtrail.ServerError)
    first, _ = warnings_of(caplog)
    # The last answer's request id: the one the operator's log shows last.
    assert f"503 stub 503: as the test said (request id stub-{len(stub.requests)})" in first


def test_a_retry_after_past_retry_time_is_not_waited(dag_id, caplog):
    """The default retry_time (10 s) against a server asking for 2
    minutes: given up at once, rather than the task waiting."""
    caplog.set_level(logging.INFO, logger="dagtrail")
    with Stub(lambda method, path: Answer(503, headers={"Retry-After": "120"})) as stub:
        began = time.monotonic()
        with dagtrail.Client(stub.url, token="t") as client:
            recorded = client.event(dag_id, DATE, RUN, queue_data={"offset": 1})
        took = time.monotonic() - began
    assert took < 2
    assert recorded == {"queue_data_rows": 0, "event_rows": 0}
    (warning,) = warnings_of(caplog)
    assert warning.startswith(f"dagtrail: the event of run {RUN} is not recorded, the task goes on without it: PUT ")
    assert "(request id stub-1)" in warning


def test_strict_mode_waits_the_retry_after(dag_id):
    with Stub(lambda method, path: Answer(503, headers={"Retry-After": "1"})) as stub:
        began = time.monotonic()
        with dagtrail.Client(stub.url, token="t", strict=True, retries=1) as client:
            with pytest.raises(dagtrail.ServerError):
                client.describe_dag(dag_id, "x")
        assert time.monotonic() - began >= 1
    assert len(stub.requests) == 2


def test_a_server_error_detaches_at_once_and_strict_raises_it(dag_id, caplog):
    caplog.set_level(logging.INFO, logger="dagtrail")
    with Stub(lambda method, path: Answer(500)) as stub:
        with dagtrail.Client(stub.url, token="t") as client:
            with client.phase(dag_id, DATE, RUN, "extract") as ph:
                ph.write(rows(3))
        assert len(stub.requests) == 1
        assert ph.failure.status == 500 and ph.failure.request_id == "stub-1"
        with dagtrail.Client(stub.url, token="t", strict=True) as client:
            with pytest.raises(dagtrail.ServerError):
                with client.phase(dag_id, DATE, RUN, "extract"):
                    pytest.fail("the block must not run")
    first, summary = warnings_of(caplog)
    assert "500 stub 500: as the test said (request id stub-1)" in first
    assert "dropped 3 rows" in summary


def test_an_answer_that_is_not_dagtrails(dag_id, caplog):
    """Another service on that port, answering 200 with a page: a failure
    of talking to dagtrail, not a JSON error out of the task's call."""
    caplog.set_level(logging.INFO, logger="dagtrail")
    page = Answer(200, headers={"content-type": "text/html"}, body=b"<html>sign in</html>")
    with Stub(lambda method, path: page) as stub:
        with dagtrail.Client(stub.url, token="t") as client:
            with client.phase(dag_id, DATE, RUN, "extract") as ph:
                pass
            assert ph.detached
        with dagtrail.Client(stub.url, token="t", strict=True) as client:
            with pytest.raises(dagtrail.DagtrailError, match="not with JSON"):
                client.describe_dag(dag_id, "x")
    assert "200 answered, but not with JSON (text/html)" in warnings_of(caplog)[0]


def test_a_token_the_server_refuses(server, dag_id, caplog):
    """The server's refusal (401) is dagtrail's problem, not the task's:
    the warning names the status and the request id to quote."""
    caplog.set_level(logging.INFO, logger="dagtrail")
    with dagtrail.Client(server.url, token="not.a.jwt") as client:
        with client.phase(dag_id, DATE, RUN, "extract") as ph:
            ph.write(rows(2))
    assert isinstance(ph.failure, dagtrail.AuthError)
    first, summary = warnings_of(caplog)
    assert ": 401 Unauthorized" in first
    assert f"(request id {ph.failure.request_id})" in first and ph.failure.request_id
    assert "dropped 2 rows" in summary


def test_event_and_catalog_calls_go_on_without_dagtrail(server, read_token, dag_id, caplog):
    caplog.set_level(logging.INFO, logger="dagtrail")
    with server.client(read_token) as client:  # may read, not write: 403
        entry = client.describe_dag(dag_id, "orders_daily", tags=["orders"], owner="data-team")
        recorded = client.event(dag_id, DATE, RUN, event={"order_id": 1})
        with pytest.raises(dagtrail.AuthError):
            client.event(dag_id, DATE, RUN, event={"order_id": 1}, strict=True)
    assert entry == {
        "dag_id": str(dag_id),
        "name": "orders_daily",
        "owner": "data-team",
        "tags": ["orders"],
        "runs": 0,
        "runs_in_window": 0,
        "failed_in_window": 0,
    }
    assert recorded == {"queue_data_rows": 0, "event_rows": 0}
    catalog, event = warnings_of(caplog)
    assert catalog.startswith(f"dagtrail: the catalog entry of DAG {dag_id} is not recorded, the task goes on")
    assert "403 Forbidden" in catalog and "request id" in catalog
    assert event.startswith(f"dagtrail: the event of run {RUN} is not recorded")


def test_the_callers_mistakes_still_raise(server, write_token, dag_id):
    """What would fail the same against a healthy server is the task's
    bug, and raises in best-effort mode too, detached or not."""
    with dagtrail.Client(closed_url(), token="t") as client:
        with pytest.raises(ValueError, match="phase must be one of"):
            client.phase(dag_id, DATE, RUN, "publish")
        with pytest.raises(ValueError):
            with client.phase("not-a-uuid", DATE, RUN, "extract"):
                pytest.fail("the block must not run")
        with pytest.raises(ValueError):
            client.event(dag_id, "27/11/2026", RUN, event={"n": 1})
        with client.phase(dag_id, DATE, RUN, "extract") as ph:
            assert ph.detached
            with pytest.raises(ValueError, match="unknown log level"):
                ph.log("LOUD", "x")
            with pytest.raises(TypeError):
                ph.write(42)
            with pytest.raises(ValueError, match="status must be one of"):
                ph.commit("done")
    with server.client(write_token) as client:
        with pytest.raises(dagtrail.SchemaError):
            with client.phase(dag_id, DATE, RUN, "extract") as ph:
                ph.write([{"n": 1}])
                ph.write([{"n": "not a number"}])
        assert not ph.detached


def test_logging_into_a_detached_phase_is_counted(dag_id, capsys, caplog):
    """Records captured into a detached phase are counted, and never make
    a logging error (nor a request)."""
    caplog.set_level(logging.INFO, logger="dagtrail")
    logger = logging.getLogger("orders.best_effort")
    logger.setLevel(logging.INFO)
    with dagtrail.Client(closed_url(), token="t") as client:
        with client.phase(dag_id, DATE, RUN, "extract", capture_logs=True, log_batch=1) as ph:
            for i in range(5):
                logger.info("line %d", i)
    assert ph.dropped["logs"] == 5
    assert "--- Logging error ---" not in capsys.readouterr().err
    assert len(warnings_of(caplog)) == 2


def test_a_phase_without_a_with_block(dag_id, caplog):
    caplog.set_level(logging.INFO, logger="dagtrail")
    with dagtrail.Client(closed_url(), token="t") as client:
        ph = client.phase(dag_id, DATE, RUN, "load").open()
        ph.write(rows(4))
        answer = ph.commit()
    assert answer == {
        "phase": "load",
        "attempt": 0,
        "message": "",
        "total": 0,
        "data_rows": 0,
        "data_files": 0,
        "error_count": 0,
        "log_count": 0,
    }
    assert ph.committed is None and not ph.is_open
    assert len(warnings_of(caplog)) == 2


# -- the Airflow helper, without Airflow ---------------------------------------


def test_the_airflow_helper_goes_on_when_the_server_is_down(monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="dagtrail")
    monkeypatch.setenv("DAGTRAIL_URL", closed_url())
    monkeypatch.setenv("DAGTRAIL_TOKEN", "t")
    context = airflow2_context()
    with dagtrail_airflow.phase("extract", context=context) as ph:
        ph.write(rows(3))
    assert ph.detached
    recorded = dagtrail_airflow.event(context=context, queue_data={"conf": {}})
    assert recorded == {"queue_data_rows": 0, "event_rows": 0}
    assert len(warnings_of(caplog)) == 3
    monkeypatch.setenv("DAGTRAIL_STRICT", "true")
    with pytest.raises(dagtrail.TransportError):
        with dagtrail_airflow.phase("extract", context=context):
            pytest.fail("the block must not run")


def test_the_airflow_helper_goes_on_without_a_server_configured(monkeypatch, caplog):
    if importlib.util.find_spec("airflow") is not None:
        pytest.skip("Airflow is installed here: the connection would be looked up")
    caplog.set_level(logging.INFO, logger="dagtrail")
    monkeypatch.delenv("DAGTRAIL_URL", raising=False)
    context = airflow2_context()
    with dagtrail_airflow.phase("load", context=context) as ph:
        ph.write(rows(3))
    assert dagtrail_airflow.event(context=context, event={"kind": "daily"}) == {"queue_data_rows": 0, "event_rows": 0}
    first, summary, event = warnings_of(caplog)
    assert "recording stopped" in first and "no dagtrail server" in first and "DAGTRAIL_URL" in first
    assert summary.startswith("dagtrail: load of orders_daily/scheduled__2026-11-26T23:00:00+00:00: dropped 3 rows")
    assert "the event of run scheduled__2026-11-26T23:00:00+00:00 is not recorded" in event
    # Outside a task (no run in the context): the caller's mistake.
    with pytest.raises(ValueError, match="names no run"):
        dagtrail_airflow.phase("load", context={"dag": context["dag"]})
    monkeypatch.setenv("DAGTRAIL_STRICT", "1")
    with pytest.raises(RuntimeError, match="DAGTRAIL_URL"):
        dagtrail_airflow.phase("load", context=context)
    with pytest.raises(RuntimeError, match="DAGTRAIL_URL"):
        dagtrail_airflow.event(context=context, event={"kind": "daily"})


def test_the_connections_extra_strict():
    assert dagtrail_airflow._extra_options({"strict": "true", "timeout": "5"}) == {"strict": True, "timeout": 5.0}
    assert dagtrail_airflow._extra_options({"strict": False}) == {"strict": False}
    with pytest.raises(ValueError, match="extra strict"):
        dagtrail_airflow._extra_options({"strict": "sometimes"})
