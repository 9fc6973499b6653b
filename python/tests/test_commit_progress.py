"""A long commit says how long it has waited: the phase's progress callback
hears a "committing" stage every few seconds and the `dagtrail` logger an
INFO line every ~10 s, while the commit itself waits for its answer.

The commit is made slow by a stub proxy in front of the real `dagtrail
serve` (tests/stub_server.py) that holds each commit request for a few
seconds before forwarding it: the answer is the real server's, and the
test takes seconds, not the minutes millions of rows would."""

from __future__ import annotations

import logging
import re
import time

import pytest

import dagtrail
from stub_server import Forward, Stub

DATE = "2026-11-27"
RUN = "manual__commit_progress"
HOLD = 2.5


def holding_commits(server, hold: float) -> Stub:
    """A proxy to the real server that holds each commit `hold` seconds."""

    def rule(method: str, path: str) -> Forward:
        return Forward(delay=hold if path.endswith("/commit") else 0.0)

    return Stub(rule, upstream=server.url)


@pytest.fixture()
def slow_commits(server):
    with holding_commits(server, HOLD) as stub:
        yield stub


def test_a_slow_commit_reports_its_progress(slow_commits, write_token, reader, dag_id, caplog):
    caplog.set_level(logging.INFO, logger="dagtrail")
    heard = []
    # A callback written for `progress(rows_sent)` before there were
    # stages: it is still given ints.
    printed = []
    with dagtrail.Client(slow_commits.url, token=write_token) as client:
        ph = client.phase(dag_id, DATE, RUN, "extract", part_rows=600, progress=heard.append)
        ph.commit_progress_every = 0.2
        ph.commit_log_every = 1.0
        with ph:
            ph.write([{"n": i} for i in range(1_000)], progress=lambda rows: printed.append(f"{rows:,} rows sent"))
            ph.write([{"n": i} for i in range(1_000, 1_500)])
            began = time.monotonic()
        took = time.monotonic() - began

    # The commit was not cut short: its answer is the server's.
    assert took >= HOLD
    assert ph.committed["data_rows"] == 1_500
    assert len(list(reader.read_rows(dag_id, DATE, RUN, "extract"))) == 1_500

    assert printed == ["600 rows sent", "1,000 rows sent"]
    writing = [p for p in heard if p.stage == "writing"]
    committing = [p for p in heard if p.stage == "committing"]
    assert writing == [500]
    assert heard[: len(writing)] == writing
    # Every 0.2 s of the 2.5 s hold (give or take the machine's load).
    assert len(committing) >= 6
    assert all(p == 1_500 and p.rows == 1_500 for p in committing)
    elapsed = [p.elapsed for p in committing]
    assert elapsed == sorted(elapsed)
    assert 0.15 <= elapsed[0] < 1.0
    assert repr(committing[0]).startswith("Progress(1500, stage='committing', elapsed=0.")

    lines = [r.getMessage() for r in caplog.records if r.name == "dagtrail" and r.levelno == logging.INFO]
    *waiting, done = lines
    # One a second here (commit_log_every), the first after a second.
    assert waiting[0] == "dagtrail: committing extract: 1 s so far (1,500 rows staged)"
    assert len(waiting) >= 2
    for line in waiting:
        assert re.fullmatch(r"dagtrail: committing extract: \d s so far \(1,500 rows staged\)", line)
    assert re.fullmatch(r"dagtrail: committed extract in \d s", done)


def test_a_quick_commit_says_nothing(server, write_token, dag_id, caplog):
    caplog.set_level(logging.INFO, logger="dagtrail")
    heard = []
    with server.client(write_token) as client:
        with client.phase(dag_id, DATE, RUN, "load", progress=heard.append) as ph:
            ph.write([{"n": 1}])
    assert heard == [1] and heard[0].stage == "writing"
    assert not [r for r in caplog.records if r.name == "dagtrail"]


def test_a_progress_callback_that_raises_does_not_cut_the_commit(server, write_token, dag_id, caplog):
    caplog.set_level(logging.INFO, logger="dagtrail")
    calls = []

    def broken(progress):
        calls.append(progress)
        if progress.stage == "committing":
            raise ZeroDivisionError("the task's own bug")

    with holding_commits(server, 0.8) as stub, dagtrail.Client(stub.url, token=write_token) as client:
        ph = client.phase(dag_id, DATE, RUN, "transform", progress=broken)
        ph.commit_progress_every = 0.2
        with ph:
            ph.write([{"n": 1}])
    assert ph.committed["data_rows"] == 1
    assert [p.stage for p in calls] == ["writing", "committing"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["dagtrail: the progress callback raised, no longer called: ZeroDivisionError(\"the task's own bug\")"]
