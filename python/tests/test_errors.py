"""The server's refusals as typed errors, and retries against a server that
goes away or is busy. The tests marked `strict` show what raises in strict
mode; test_best_effort.py shows the same failures in the default mode."""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid

import httpx
import pyarrow as pa
import pytest

import dagtrail

DATE = "2026-11-27"
RUN = "manual__errors"


@pytest.mark.strict
def test_a_read_only_token_may_not_write(server, read_token, dag_id):
    with server.client(read_token) as client:
        with pytest.raises(dagtrail.AuthError) as caught:
            with client.phase(dag_id, DATE, RUN, "extract"):
                pytest.fail("the block must not run")
    error = caught.value
    assert error.status == 403
    assert error.insufficient_scope
    assert "runs:write" in error.headers["www-authenticate"]
    assert "may read but not write" in error.detail
    assert error.problem["status"] == 403


@pytest.mark.strict
def test_a_token_the_server_did_not_sign(server, dag_id):
    with dagtrail.Client(server.url, token="not.a.jwt", retries=0) as client:
        with pytest.raises(dagtrail.AuthError) as caught:
            client.describe_dag(dag_id, "x")
    assert caught.value.status == 401
    assert not caught.value.insufficient_scope
    assert caught.value.title == "Unauthorized"


def test_a_refused_part_names_its_part_and_line(client, dag_id):
    opened = client.open_attempt(dag_id, DATE, RUN, "extract")
    body = b'{"n": 1}\n{"n": 2,}\n'
    with pytest.raises(dagtrail.ValidationError) as caught:
        client.upload_part(dag_id, DATE, RUN, "extract", opened["attempt"], "data", 1, body, "application/x-ndjson")
    error = caught.value
    assert error.status == 422
    assert error.problem is not None and error.details == []
    assert "data part 1" in error.detail
    assert "line 2" in error.detail


@pytest.mark.strict
def test_a_field_validation_error_carries_its_located_issues(client, dag_id):
    with pytest.raises(dagtrail.ValidationError) as caught:
        client.describe_dag(dag_id, "too many tags", tags=[f"t{i}" for i in range(51)])
    error = caught.value
    assert error.status == 422
    assert error.problem is None
    (issue,) = error.details
    assert issue["loc"] == ["body", "tags"]
    assert issue["msg"] == "at most 50 tags"
    assert "body.tags: at most 50 tags" in str(error)


@pytest.mark.strict
def test_an_event_without_rows_is_a_problem(client, dag_id):
    with pytest.raises(dagtrail.ValidationError) as caught:
        client.event(dag_id, DATE, RUN)
    assert caught.value.details == []
    assert caught.value.detail == "an event needs rows in queue_data or event"


def test_an_error_row_the_contract_refuses(client, dag_id):
    opened = client.open_attempt(dag_id, DATE, RUN, "extract")
    body = b'{"error_title": "t", "error_status": "not a number", "error_detail": "d", "occurred_at": "2026-11-27T00:00:00Z"}\n'
    with pytest.raises(dagtrail.ValidationError, match="error_status"):
        client.upload_part(dag_id, DATE, RUN, "extract", opened["attempt"], "errors", 1, body, "application/x-ndjson")


def test_parts_out_of_order_and_attempts_not_open(client, dag_id):
    opened = client.open_attempt(dag_id, DATE, RUN, "extract")
    with pytest.raises(dagtrail.ConflictError, match="out of order"):
        client.upload_part(dag_id, DATE, RUN, "extract", opened["attempt"], "data", 2, b'{"n": 1}\n', "application/x-ndjson")
    with pytest.raises(dagtrail.NotFoundError):
        client.staged_attempt(dag_id, DATE, RUN, "extract", opened["attempt"] + 1)
    with pytest.raises(dagtrail.NotFoundError):
        client.get_run(uuid.uuid4(), DATE, RUN)


@pytest.mark.strict
def test_a_part_over_the_servers_limit(own_server, dag_id):
    own_server.extra_env["DAGTRAIL_MAX_PART_BYTES"] = "4096"
    own_server.start()
    with own_server.client() as client:
        with pytest.raises(dagtrail.PayloadTooLargeError) as caught:
            with client.phase(dag_id, DATE, RUN, "extract", part_bytes=1 << 20) as ph:
                ph.write(pa.table({"s": ["x" * 100] * 1000}))
        assert caught.value.status == 413
        # The same rows in parts under the limit go through.
        with client.phase(dag_id, DATE, RUN, "extract", part_bytes=2048) as ph:
            ph.write(pa.table({"s": ["x" * 100] * 1000}))
        assert ph.committed["data_rows"] == 1000
        assert ph.attempt == 2


def test_a_server_that_is_down_for_a_while(own_server, dag_id):
    """The server stops between two parts and comes back (same port, same
    stores): the upload waits for it, with backoff, and the attempt commits
    every row once."""
    own_server.start()
    statuses = []
    with own_server.client(retries=30, backoff=0.1, max_backoff=0.5) as client:
        with client.phase(dag_id, DATE, RUN, "extract", part_rows=2) as ph:
            ph.write([{"n": i} for i in range(4)])
            own_server.stop()
            # The server process is gone: the next call cannot connect.
            with pytest.raises(httpx.ConnectError):
                httpx.get(own_server.url + "/api/v1/dags", timeout=2)
            restart = threading.Timer(1.5, own_server.start)
            restart.start()
            began = time.monotonic()
            try:
                ph.write([{"n": i} for i in range(4, 8)], progress=statuses.append)
            finally:
                restart.join()
            waited = time.monotonic() - began
        assert waited >= 1.0
        assert statuses == [2, 4]
        assert ph.committed["data_rows"] == 8
        rows = list(client.read_rows(dag_id, DATE, RUN, "extract"))
    assert [r["n"] for r in rows] == list(range(8))


@pytest.mark.strict
def test_a_server_that_stays_down(own_server, dag_id):
    """The server answered once, then goes away for good: the retries run
    out. (One that never answered is not retried: see
    test_a_wrong_url_fails_at_once.)"""
    own_server.start()
    with own_server.client(retries=2, backoff=0.01) as client:
        client.list_dags()
        own_server.stop()
        with pytest.raises(dagtrail.TransportError, match="3 tries") as caught:
            client.describe_dag(dag_id, "x")
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


def test_a_busy_server_answers_503_and_the_upload_waits_its_retry_after(own_server, dag_id):
    """With one write slot, a slow upload holds it: the client's upload is
    answered 503 with Retry-After, waits, and goes through."""
    own_server.extra_env.update(DAGTRAIL_MAX_WRITES="1", DAGTRAIL_MAX_WRITES_PER_COMPANY="1")
    own_server.start()
    token = own_server.token()
    other_run = "manual__slow"
    answers = []
    with own_server.client(token) as setup:
        setup.open_attempt(dag_id, DATE, other_run, "extract")

    slot_taken = threading.Event()

    def slow_body():
        yield b'{"n": 1}\n'
        # The chunk is handed to the socket, not yet read by the server:
        # give its handler the time to start (and take the slot).
        time.sleep(1.0)
        slot_taken.set()
        time.sleep(2.5)
        yield b'{"n": 2}\n'

    def slow_upload():
        path = dagtrail.Client.run_path(dag_id, DATE, other_run) + "/phases/extract/attempts/1/data/1"
        answers.append(
            httpx.put(
                own_server.url + "/api/v1" + path,
                content=slow_body(),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"},
                timeout=30,
            ).status_code
        )

    statuses = []
    http = httpx.Client(event_hooks={"response": [lambda r: statuses.append((r.request.method, r.status_code, r.headers.get("retry-after")))]})
    with dagtrail.Client(own_server.url, token=token, http_client=http, backoff=0.1, max_backoff=5) as client:
        with client.phase(dag_id, DATE, RUN, "extract") as ph:
            holder = threading.Thread(target=slow_upload)
            holder.start()
            assert slot_taken.wait(10)
            ph.write([{"n": 1}])
            holder.join()
    http.close()
    assert answers == [200]
    assert ("PUT", 503, "1") in statuses
    assert statuses[-2:] == [("PUT", 200, None), ("POST", 200, None)]
    assert ph.committed["data_rows"] == 1


def test_the_tasks_exception_outranks_a_failure_to_record_it(own_server, dag_id):
    own_server.start()
    with own_server.client(retries=1, backoff=0.05) as client:
        with pytest.warns(RuntimeWarning, match="could not record the failed attempt"):
            with pytest.raises(KeyError) as caught:
                with client.phase(dag_id, DATE, RUN, "extract"):
                    own_server.stop()
                    raise KeyError("order 7")
    if hasattr(caught.value, "__notes__"):
        assert any("no answer after 2 tries" in note for note in caught.value.__notes__)


@pytest.mark.strict
def test_every_error_carries_the_servers_request_id(server, client, read_token, dag_id):
    """The server's X-Request-Id of the answer, on the exception and in its
    message: what a user quotes to the operator."""
    failures = []
    with pytest.raises(dagtrail.NotFoundError) as caught:
        client.get_run(uuid.uuid4(), DATE, RUN)
    failures.append(caught.value)
    with pytest.raises(dagtrail.ValidationError) as caught:
        client.describe_dag(dag_id, "too many tags", tags=[f"t{i}" for i in range(51)])
    failures.append(caught.value)
    with server.client(read_token) as reader:
        with pytest.raises(dagtrail.AuthError) as caught:
            reader.describe_dag(dag_id, "x")
    failures.append(caught.value)
    for error in failures:
        assert error.request_id
        assert error.request_id == error.headers["x-request-id"]
        assert str(error).endswith(f" (request id {error.request_id})")
    assert len({error.request_id for error in failures}) == 3


def mock_client(answers, **options):
    """A client of a fake server answering `answers` in turn (an exception
    class is raised as the request's failure), and the requests it got."""
    answers = iter(answers)
    requests = []

    def answer(request):
        requests.append(request)
        a = next(answers)
        if isinstance(a, type) and issubclass(a, Exception):
            raise a("refused", request=request)
        return a

    http = httpx.Client(transport=httpx.MockTransport(answer))
    options.setdefault("backoff", 0.01)
    return dagtrail.Client("http://dagtrail.invalid", token="t", http_client=http, **options), requests


def test_an_answer_without_a_request_id():
    problem = {"type": "about:blank", "title": "Conflict", "status": 409, "detail": "committed already", "instance": "/x"}
    client, _ = mock_client([httpx.Response(409, json=problem)])
    with pytest.raises(dagtrail.ConflictError) as caught:
        client.list_dags()
    assert caught.value.request_id is None
    assert str(caught.value) == "GET /api/v1/dags: 409 Conflict: committed already"


@pytest.mark.strict
def test_a_wrong_url_fails_at_once(dag_id):
    """Nothing ever answered on that port: most likely a wrong URL, which
    retrying would not mend (the retries would wait 0.5 + 1 + 2 + 4 + 8 s
    here, less the jitter)."""
    from conftest import free_port

    url = f"http://127.0.0.1:{free_port()}"
    with dagtrail.Client(url, token="t", retries=5, backoff=0.5) as client:
        began = time.monotonic()
        with pytest.raises(dagtrail.TransportError, match="not retried") as caught:
            with client.phase(dag_id, DATE, RUN, "extract"):
                pytest.fail("the block must not run")
        took = time.monotonic() - began
    assert took < 1.0
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert caught.value.request_id is None and caught.value.status is None


def test_connection_errors_after_a_first_answer_are_retried_and_logged(own_server, dag_id, caplog):
    """Once the server has answered, it going away is a restart under a
    running pipeline: the client waits for it, logging each retry at DEBUG
    (what failed, the try, the wait)."""
    caplog.set_level(logging.DEBUG, logger="dagtrail")
    own_server.start()
    with own_server.client(retries=30, backoff=0.1, max_backoff=0.5) as client:
        client.list_dags()
        own_server.stop()
        restart = threading.Timer(1.0, own_server.start)
        restart.start()
        try:
            entry = client.describe_dag(dag_id, "back again")
        finally:
            restart.join()
    assert entry["name"] == "back again"
    retries = [r for r in caplog.records if r.name == "dagtrail"]
    assert len(retries) >= 2
    assert all(r.levelno == logging.DEBUG for r in retries)
    messages = [r.getMessage() for r in retries]
    for n, message in enumerate(messages, start=1):
        assert re.fullmatch(rf"PATCH /dags/{dag_id}: try {n} of 31 failed \(.+\), retrying in \d+\.\d\d s", message)
    assert any("ConnectError" in m for m in messages)


def test_every_retry_is_logged_and_the_last_answer_is_the_errors(caplog):
    caplog.set_level(logging.DEBUG, logger="dagtrail")
    fleet = {"items": [], "total": 0, "since": "2026-11-01"}
    busy = [httpx.Response(503, headers={"Retry-After": "0", "X-Request-Id": f"req-{n}"}) for n in (1, 2)]
    client, requests = mock_client(
        [httpx.Response(200, json=fleet), busy[0], httpx.ConnectError, busy[1]], retries=2
    )
    assert client.list_dags() == fleet
    with pytest.raises(dagtrail.ServerError) as caught:
        client.list_dags()
    assert len(requests) == 4
    # The last answer's id: the one the operator's log shows last.
    assert caught.value.request_id == "req-2"
    assert str(caught.value).endswith("(request id req-2)")
    messages = [r.getMessage() for r in caplog.records if r.name == "dagtrail"]
    assert len(messages) == 2
    assert re.fullmatch(
        r"GET /dags: try 1 of 3 failed \(503 Service Unavailable, request id req-1\), retrying in 0\.\d\d s", messages[0]
    )
    assert re.fullmatch(r"GET /dags: try 2 of 3 failed \(ConnectError\('refused'\)\), retrying in 0\.\d\d s", messages[1])
