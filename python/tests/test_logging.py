"""`dagtrail.LogHandler`: `logging` records into a phase's logs."""

from __future__ import annotations

import logging
import threading
import time
import uuid

import pytest

import dagtrail

DATE = "2026-11-27"
RUN = "manual__logging"


@pytest.fixture()
def orders_logger():
    logger = logging.getLogger("orders.test")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger
    for handler in list(logger.handlers):
        logger.removeHandler(handler)


def logs(reader, dag_id, phase="extract"):
    return list(reader.read_rows(dag_id, DATE, RUN, phase, "logs"))


def test_the_handler_records_into_the_current_phase_only(client, reader, dag_id, orders_logger):
    orders_logger.addHandler(dagtrail.LogHandler())
    orders_logger.info("before any phase")
    with client.phase(dag_id, DATE, RUN, "extract") as ph:
        assert dagtrail.current_phase() is ph
        orders_logger.info("fetched %d orders", 2)
        orders_logger.debug("details")
        logging.addLevelName(25, "NOTICE")
        orders_logger.log(25, "a custom level")
        orders_logger.warning("slow page")
        try:
            {}["missing"]
        except KeyError:
            orders_logger.exception("lookup failed")
    assert dagtrail.current_phase() is None
    orders_logger.info("after the phase")

    rows = logs(reader, dag_id)
    assert [(r["level"], r["logger"]) for r in rows] == [
        ("INFO", "orders.test"),
        ("DEBUG", "orders.test"),
        ("INFO", "orders.test"),
        ("WARNING", "orders.test"),
        ("ERROR", "orders.test"),
    ]
    assert rows[0]["message"] == "fetched 2 orders"
    # The default format carries the exception's traceback.
    assert "lookup failed" in rows[4]["message"]
    assert "Traceback (most recent call last)" in rows[4]["message"]
    assert "KeyError: 'missing'" in rows[4]["message"]


def test_a_handler_bound_to_a_phase_takes_other_threads_records(client, reader, dag_id, orders_logger):
    with client.phase(dag_id, DATE, RUN, "transform", log_batch=5) as ph:
        orders_logger.addHandler(dagtrail.LogHandler(ph))

        def work(n):
            for i in range(10):
                orders_logger.info("worker %d line %d", n, i)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert ph.committed["log_count"] == 40
    messages = {r["message"] for r in logs(reader, dag_id, "transform")}
    assert messages == {f"worker {n} line {i}" for n in range(4) for i in range(10)}


def test_capture_logs_records_the_root_loggers_records_in_the_block(client, reader, dag_id):
    root = logging.getLogger()
    before = list(root.handlers)
    with client.phase(dag_id, DATE, RUN, "load", capture_logs=True, capture_level="WARNING"):
        logging.getLogger("warehouse").warning("retrying the copy")
        logging.getLogger("warehouse").info("below the level")
    assert root.handlers == before
    rows = logs(reader, dag_id, "load")
    assert [(r["logger"], r["message"]) for r in rows] == [("warehouse", "retrying the copy")]


def test_the_handler_leaves_out_its_own_requests(client, reader, dag_id):
    # httpx logs every request at INFO: recording those would upload again.
    httpx_logger = logging.getLogger("httpx")
    seen = []

    class Seen(logging.Handler):
        def emit(self, record):
            seen.append(record.getMessage())

    level = httpx_logger.level
    httpx_logger.setLevel(logging.INFO)
    httpx_logger.addHandler(Seen())
    try:
        with client.phase(dag_id, DATE, RUN, "extract", capture_logs=True, log_batch=1) as ph:
            logging.getLogger("orders").warning("one")
            ph.write([{"n": 1}])
            logging.getLogger("orders").warning("two")
    finally:
        httpx_logger.setLevel(level)
        httpx_logger.handlers.clear()
    assert any("HTTP Request: PUT" in m for m in seen)
    assert [r["message"] for r in logs(reader, dag_id)] == ["one", "two"]


@pytest.mark.strict
def test_the_handler_never_raises_into_the_code_that_logs(client, dag_id, orders_logger, capsys):
    with pytest.raises(dagtrail.NotFoundError):
        with client.phase(dag_id, DATE, RUN, "extract", log_batch=1) as ph:
            orders_logger.addHandler(dagtrail.LogHandler(ph))
            # The attempt goes away under the phase: its uploads are refused.
            client.abort_attempt(dag_id, DATE, RUN, "extract", ph.attempt)
            orders_logger.warning("this upload is refused")
            orders_logger.warning("and so is this one")
        # ...but the block's own end says so.
    assert "--- Logging error ---" in capsys.readouterr().err


@pytest.mark.strict
def test_logging_does_not_wait_on_a_server_that_is_away(own_server, orders_logger, capsys):
    """While the server is stopped, the first record that fills a batch
    waits out the retries; the next ones are only buffered. The block's end,
    with the server back, sends them all."""
    own_server.start()
    dag_id = uuid.uuid4()
    with own_server.client(retries=3, backoff=0.2, max_backoff=0.4) as client:
        with client.phase(dag_id, DATE, RUN, "extract", log_batch=1) as ph:
            orders_logger.addHandler(dagtrail.LogHandler(ph))
            own_server.stop()
            began = time.monotonic()
            orders_logger.warning("first, while away")
            first = time.monotonic() - began
            began = time.monotonic()
            for i in range(5):
                orders_logger.warning("more, while away %d", i)
            more = time.monotonic() - began
            own_server.start()
        rows = list(client.read_rows(dag_id, DATE, RUN, "extract", "logs"))
    assert first >= 0.2
    assert more < 0.1
    assert [r["message"] for r in rows] == ["first, while away"] + [f"more, while away {i}" for i in range(5)]
    assert "--- Logging error ---" in capsys.readouterr().err
