"""What `Phase.write` takes, and how rows keep the attempt's columns."""

from __future__ import annotations

import datetime as dt
import decimal

import pyarrow as pa
import pytest

import dagtrail

DATE = "2026-11-27"
RUN = "scheduled__2026-11-27T00:00:00+00:00"

pd = pytest.importorskip("pandas")
pl = pytest.importorskip("polars")


def read(reader, dag_id, phase="extract"):
    return list(reader.read_rows(dag_id, DATE, RUN, phase))


def test_a_pandas_dataframe(client, reader, dag_id):
    frame = pd.DataFrame(
        {
            "order_id": [1, 2, 3],
            "customer": ["Zoë", None, "Ana"],
            "amount": [10.5, 20.0, None],
            "at": pd.to_datetime(["2026-11-27T10:00:00Z", "2026-11-27T11:00:00Z", None]),
            "tier": pd.Categorical(["gold", "silver", "gold"]),
        }
    )
    with client.phase(dag_id, DATE, RUN, "extract", batch_rows=2) as ph:
        assert ph.write(frame) == 3
    rows = read(reader, dag_id)
    assert [r["order_id"] for r in rows] == [1, 2, 3]
    assert [r["customer"] for r in rows] == ["Zoë", None, "Ana"]
    assert [r["amount"] for r in rows] == [10.5, 20.0, None]
    assert [r["tier"] for r in rows] == ["gold", "silver", "gold"]
    assert rows[0]["at"].startswith("2026-11-27T10:00:00")
    assert rows[2]["at"] is None


def test_a_pandas_object_column_null_in_its_first_slice_keeps_its_type(client, reader, dag_id):
    frame = pd.DataFrame({"n": range(6), "note": [None, None, None, None, "late", "later"]}, dtype=object)
    frame["n"] = frame["n"].astype("int64")
    with client.phase(dag_id, DATE, RUN, "extract", batch_rows=2) as ph:
        ph.write(frame)
    assert [r["note"] for r in read(reader, dag_id)] == [None] * 4 + ["late", "later"]


def test_a_pandas_index_that_is_data_is_kept(client, reader, dag_id):
    frame = pd.DataFrame({"amount": [1.0, 2.0]}, index=pd.Index(["a", "b"], name="code"))
    with client.phase(dag_id, DATE, RUN, "extract") as ph:
        ph.write(frame)
    assert read(reader, dag_id) == [{"amount": 1.0, "code": "a"}, {"amount": 2.0, "code": "b"}]


def test_a_polars_dataframe(client, reader, dag_id):
    frame = pl.DataFrame({"order_id": [1, 2, 3], "customer": ["Zoë", "Ana", None], "ok": [True, False, True]})
    with client.phase(dag_id, DATE, RUN, "extract", batch_rows=2) as ph:
        assert ph.write(frame) == 3
    assert read(reader, dag_id) == [
        {"order_id": 1, "customer": "Zoë", "ok": True},
        {"order_id": 2, "customer": "Ana", "ok": False},
        {"order_id": 3, "customer": None, "ok": True},
    ]


def test_pyarrow_tables_batches_and_readers(client, reader, dag_id):
    table = pa.table({"n": pa.array([1, 2], pa.int32()), "s": ["a", "b"]})
    batch = pa.record_batch({"n": pa.array([3], pa.int32()), "s": ["c"]})
    stream = pa.RecordBatchReader.from_batches(table.schema, [pa.record_batch({"n": pa.array([4], pa.int32()), "s": ["d"]})])
    with client.phase(dag_id, DATE, RUN, "extract") as ph:
        ph.write(table)
        ph.write(batch)
        ph.write(stream)
    assert read(reader, dag_id) == [{"n": 1, "s": "a"}, {"n": 2, "s": "b"}, {"n": 3, "s": "c"}, {"n": 4, "s": "d"}]


def test_iterables_are_consumed_lazily(client, reader, dag_id):
    consumed = []

    def rows():
        for i in range(25):
            consumed.append(i)
            yield {"n": i}

    def frames():
        yield pd.DataFrame({"n": [100, 101]})
        yield pl.DataFrame({"n": [102]})
        yield pa.table({"n": [103]})
        yield {"n": 104}

    parts = []
    with client.phase(dag_id, DATE, RUN, "extract", part_rows=10) as ph:
        ph.write(rows(), progress=parts.append)
        ph.write(frames())
    assert parts == [10, 20, 25]
    assert consumed == list(range(25))
    assert [r["n"] for r in read(reader, dag_id)] == list(range(25)) + [100, 101, 102, 103, 104]


def test_rows_with_keys_appearing_late_and_python_values(client, reader, dag_id):
    rows = [
        {"id": 1},
        {"id": 2, "price": decimal.Decimal("9.99"), "day": dt.date(2026, 11, 27), "tags": ["a", "b"]},
        {"id": 3, "nested": {"k": "v"}},
    ]
    with client.phase(dag_id, DATE, RUN, "extract") as ph:
        ph.write(rows)
    got = read(reader, dag_id)
    assert [r["id"] for r in got] == [1, 2, 3]
    assert got[1]["day"] == "2026-11-27"
    assert got[1]["tags"] == ["a", "b"]
    assert got[2]["nested"] == {"k": "v"}
    assert got[0]["price"] is None


def test_later_rows_take_the_first_rows_columns(client, reader, dag_id):
    with client.phase(dag_id, DATE, RUN, "extract") as ph:
        ph.write(pa.table({"n": pa.array([1], pa.int64()), "s": ["a"]}))
        # Another integer width and a missing column: cast, and null.
        ph.write(pa.table({"n": pa.array([2], pa.int16())}))
        # Text that reads as the column's type is cast too.
        ph.write([{"n": "3", "s": "c"}])
        with pytest.raises(dagtrail.SchemaError, match="'extra'"):
            ph.write([{"n": 4, "extra": True}])
        with pytest.raises(dagtrail.SchemaError, match="column 'n'"):
            ph.write([{"n": "four"}])
        # A refused write sent nothing: the parts stay in order.
        ph.write([{"n": 5, "s": "e"}])
    assert read(reader, dag_id) == [
        {"n": 1, "s": "a"},
        {"n": 2, "s": None},
        {"n": 3, "s": "c"},
        {"n": 5, "s": "e"},
    ]


def test_a_schema_given_types_columns_the_first_rows_leave_null(client, reader, dag_id):
    schema = pa.schema([("n", pa.int64()), ("note", pa.string())])
    with client.phase(dag_id, DATE, RUN, "extract", schema=schema) as ph:
        ph.write(pa.table({"n": [1], "note": pa.nulls(1)}))
        ph.write([{"n": 2, "note": "typed"}])
    assert read(reader, dag_id) == [{"n": 1, "note": None}, {"n": 2, "note": "typed"}]


def test_without_a_schema_an_all_null_first_column_is_explained(client, dag_id):
    with client.phase(dag_id, DATE, RUN, "extract") as ph:
        ph.write(pa.table({"n": [1], "note": pa.nulls(1)}))
        with pytest.raises(dagtrail.SchemaError, match="schema="):
            ph.write([{"n": 2, "note": "typed"}])


def test_inputs_that_are_not_rows_are_refused(client, dag_id):
    with client.phase(dag_id, DATE, RUN, "extract") as ph:
        with pytest.raises(TypeError, match="one row"):
            ph.write({"n": 1})
        with pytest.raises(TypeError):
            ph.write("n,1")
        with pytest.raises(dagtrail.SchemaError, match="column 'n'"):
            ph.write([{"n": 1}, {"n": "x"}])
        assert ph.write([]) == 0
