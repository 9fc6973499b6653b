"""An error names its data row the way the pipeline knows it: ``row=i`` is
the row's 0-based place among every row written through the phase, across
``ph.write`` calls and the parts they are split into. The server resolves
it to the file and row the row landed in, so the explorer links the error
to it."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from conftest import Server, free_port

DATE = "2026-11-27"
RUN = "scheduled__2026-11-27T00:00:00+00:00"


@pytest.fixture()
def small_files_server(tmp_path: Path):
    """A server whose data files hold 100 rows, so that a few hundred rows
    span several files and several parts (the default is 100,000)."""
    srv = Server(tmp_path, port=free_port(), env={"DAGTRAIL_ROWS_PER_FILE": "100"}).start()
    try:
        yield srv
    finally:
        srv.stop()


def test_errors_by_row_position_link_their_rows_across_parts_and_files(small_files_server):
    server = small_files_server
    dag_id = uuid.uuid4()
    # Three writes of 90 rows, each sent as parts of 40 rows at most: rows
    # land in files of 100, 100 and 70, whatever the parts were.
    with server.client() as client:
        with client.phase(dag_id, DATE, RUN, "extract", part_rows=40) as ph:
            for chunk in range(3):
                ph.write([{"order_id": chunk * 90 + i, "amount": float(i)} for i in range(90)])
            for position in (0, 99, 100, 150, 269):
                ph.error(title="bad amount", detail=f"order {position}", row=position)
            # The contract's own form: a file and its row.
            ph.error(title="bad amount", detail="order 201", row=1, file=2)
    assert ph.committed["data_rows"] == 270
    assert ph.committed["data_files"] == 3

    with server.client(server.token(scope=None)) as reader:
        errors = list(reader.read_rows(dag_id, DATE, RUN, "extract", "errors"))
        data = list(reader.read_rows(dag_id, DATE, RUN, "extract", "data"))
    assert [(e["_file"], e["_row"]) for e in errors] == [(0, 0), (0, 99), (1, 0), (1, 50), (2, 69), (2, 1)]
    # Each error's place holds the row it names.
    for error in errors:
        named = data[error["_file"] * 100 + error["_row"]]
        assert error["error_detail"] == f"order {named['order_id']}"


def test_a_position_past_the_rows_written_fails_the_commit_saying_why(small_files_server):
    server = small_files_server
    dag_id = uuid.uuid4()
    # Strict: the refusal raises (best effort would log it and go on).
    with server.client(strict=True) as client:
        with pytest.raises(Exception) as raised:
            with client.phase(dag_id, DATE, RUN, "load") as ph:
                ph.write([{"n": 1}])
                ph.error(title="bad", detail="no such row", row=5)
    assert "names data row 5" in str(raised.value)

