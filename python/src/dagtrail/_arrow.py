"""Turning what a task writes into Arrow record batches, and batches into
Arrow IPC stream bodies.

Inputs are walked in slices of ``batch_rows`` rows, so that a large pandas
or polars DataFrame is converted a slice at a time instead of whole: the
client's memory then grows with the part size, not with the input.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import json
import sys
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, Callable, Dict, Iterator, List, Optional

import pyarrow as pa

from ._errors import SchemaError

#: The media type of an Arrow IPC stream, as the server takes parts.
ARROW_STREAM = "application/vnd.apache.arrow.stream"

#: The contract's columns of an errors part (``errors_NNN.parquet``).
ERRORS_SCHEMA = pa.schema(
    [
        pa.field("error_type", pa.string()),
        pa.field("error_title", pa.string(), nullable=False),
        pa.field("error_status", pa.int32(), nullable=False),
        pa.field("error_detail", pa.string(), nullable=False),
        pa.field("traceback", pa.string()),
        pa.field("occurred_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("_file", pa.int32()),
        pa.field("_row", pa.int64()),
        pa.field("record", pa.string()),
    ]
)

#: The contract's columns of a logs part (``logs_NNN.parquet``).
LOGS_SCHEMA = pa.schema(
    [
        pa.field("ts", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("level", pa.string(), nullable=False),
        pa.field("logger", pa.string(), nullable=False),
        pa.field("message", pa.string(), nullable=False),
    ]
)


def json_default(value: Any) -> Any:
    """``json.dumps``'s ``default`` for what task rows commonly hold:
    datetimes as RFC 3339, decimals as text (no precision lost), UUIDs,
    sets, bytes (as UTF-8 where they are)."""
    if isinstance(value, _dt.datetime):
        return rfc3339(value)
    if isinstance(value, (_dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return list(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    # numpy scalars and arrays, pandas timestamps, without importing them
    for method in ("isoformat", "tolist", "item"):
        if hasattr(value, method):
            return getattr(value, method)()
    return str(value)


def dumps(value: Any) -> str:
    """JSON text of ``value`` (non-ASCII kept as is)."""
    return json.dumps(value, default=json_default, ensure_ascii=False)


def rfc3339(value: _dt.datetime, timespec: str = "auto") -> str:
    """``value`` as RFC 3339 in UTC. A naive datetime is taken as UTC, as
    the server takes a timestamp without an offset."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.timezone.utc)
    text = value.astimezone(_dt.timezone.utc).isoformat(timespec=timespec)
    return text.replace("+00:00", "Z")


def _plain_type(t: pa.DataType) -> pa.DataType:
    """The type a column is sent as: dictionary columns (pandas
    categoricals) decoded, view types (polars' strings) as large ones, so
    that later slices, whose dictionaries or views differ, cast to it."""
    if pa.types.is_dictionary(t):
        return _plain_type(t.value_type)
    if hasattr(pa.types, "is_string_view") and pa.types.is_string_view(t):
        return pa.large_string()
    if hasattr(pa.types, "is_binary_view") and pa.types.is_binary_view(t):
        return pa.large_binary()
    return t


def plain_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` as the attempt's data columns: without schema metadata
    (pandas' carries per-slice index ranges) and with plain types."""
    fields = [pa.field(f.name, _plain_type(f.type), f.nullable, f.metadata) for f in schema]
    return pa.schema(fields)


def conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """``batch`` with the columns of ``schema``, in its order: a missing
    column is null, another type is cast (safely: a value that does not fit
    is an error). The server conforms later parts to the first part's
    columns the same way; doing it here keeps one IPC stream per part and
    refuses a bad slice before anything is sent.

    Raises:
        SchemaError: a column ``schema`` lacks, or a value that does not
            cast.
    """
    if batch.schema.equals(schema, check_metadata=False):
        return batch
    names = set(schema.names)
    extra = [n for n in batch.schema.names if n not in names]
    if extra:
        raise SchemaError(
            f"column(s) {', '.join(map(repr, extra))} are not among the attempt's data "
            f"columns ({', '.join(schema.names)}): the first data written sets them"
        )
    columns = []
    for field in schema:
        index = batch.schema.get_field_index(field.name)
        if index < 0:
            columns.append(pa.nulls(batch.num_rows, field.type))
            continue
        column = batch.column(index)
        if column.type != field.type:
            if pa.types.is_null(field.type) and column.null_count < len(column):
                raise SchemaError(
                    f"column {field.name!r} was all nulls in the first data written, so its "
                    f"type is null and cannot take {column.type} values: give the phase a "
                    "schema (schema=pyarrow.schema([...])) or write typed data first"
                )
            try:
                column = column.cast(field.type, safe=True)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as e:
                raise SchemaError(
                    f"column {field.name!r} holds {column.type} where the attempt's data has "
                    f"{field.type}: {e}"
                ) from e
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _module_of(value: Any) -> str:
    return type(value).__module__.split(".", 1)[0]


def _is_pandas_frame(value: Any) -> bool:
    if _module_of(value) != "pandas" or "pandas" not in sys.modules:
        return False
    return isinstance(value, sys.modules["pandas"].DataFrame)


def _is_polars_frame(value: Any) -> bool:
    if _module_of(value) != "polars" or "polars" not in sys.modules:
        return False
    return isinstance(value, sys.modules["polars"].DataFrame)


def _is_polars_lazy(value: Any) -> bool:
    if _module_of(value) != "polars" or "polars" not in sys.modules:
        return False
    return isinstance(value, sys.modules["polars"].LazyFrame)


def _slices(batch: pa.RecordBatch, rows: int) -> Iterator[pa.RecordBatch]:
    for start in range(0, batch.num_rows, rows):
        yield batch.slice(start, rows)


def _pandas_batches(frame: Any, rows: int) -> Iterator[pa.RecordBatch]:
    import pandas as pd

    # A RangeIndex is only row numbers; any other index is data.
    keep_index = not isinstance(frame.index, pd.RangeIndex)
    if len(frame) == 0:
        return
    # The slices share one schema, inferred from the first slice, so a
    # slice whose object column happens to be all None still gets the
    # column's type. Only a column all null in the first slice is looked
    # at further, around its first value (never the whole column: that
    # would convert it whole).
    first = pa.RecordBatch.from_pandas(frame.iloc[:rows], preserve_index=keep_index)
    schema = first.schema
    for i, field in enumerate(schema):
        if pa.types.is_null(field.type) and field.name in frame.columns:
            series = frame[field.name]
            start = series.first_valid_index()
            if start is None:
                continue
            at = frame.index.get_loc(start)
            if not isinstance(at, int):
                continue
            sample = pa.array(series.iloc[at : at + rows], from_pandas=True)
            schema = schema.set(i, pa.field(field.name, sample.type))
    schema = plain_schema(schema)
    for start in range(0, len(frame), rows):
        chunk = frame.iloc[start : start + rows]
        try:
            yield pa.RecordBatch.from_pandas(chunk, schema=schema, preserve_index=keep_index)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
            raise SchemaError(f"rows {start} to {start + len(chunk) - 1}: {e}") from e


def _polars_batches(frame: Any, rows: int) -> Iterator[pa.RecordBatch]:
    # Slices are zero-copy in polars; each is converted to Arrow on its own
    # (to_arrow copies strings out of polars' views).
    if hasattr(frame, "iter_slices"):
        slices: Iterable[Any] = frame.iter_slices(n_rows=rows)
    else:
        slices = (frame.slice(o, rows) for o in range(0, frame.height, rows))
    for piece in slices:
        for batch in piece.to_arrow().to_batches(max_chunksize=rows):
            yield batch


def _rows_batch(rows: List[Mapping[str, Any]]) -> pa.RecordBatch:
    # pyarrow's from_pylist takes its columns from the first row only and
    # drops keys that first appear later: gather every row's keys instead.
    names: Dict[Any, None] = {}
    for row in rows:
        for key in row:
            names.setdefault(key, None)
    arrays = []
    for name in names:
        try:
            arrays.append(pa.array([row.get(name) for row in rows]))
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError) as e:
            raise SchemaError(f"column {name!r} does not convert to one Arrow type: {e}") from e
    return pa.RecordBatch.from_arrays(arrays, names=[str(n) for n in names])


def iter_batches(data: Any, rows: int) -> Iterator[pa.RecordBatch]:
    """The record batches of ``data``, each at most ``rows`` rows.

    ``data`` is a list of dicts (one dict a row), a ``pyarrow.Table``,
    ``RecordBatch`` or ``RecordBatchReader``, a pandas or polars
    ``DataFrame``, any object with ``__arrow_c_stream__`` (the Arrow
    PyCapsule interface), or an iterable of any of these (a generator
    yielding dicts or DataFrames, say), consumed lazily.
    """
    if isinstance(data, pa.Table):
        yield from data.to_batches(max_chunksize=rows)
    elif isinstance(data, pa.RecordBatch):
        yield from _slices(data, rows)
    elif isinstance(data, pa.RecordBatchReader):
        for batch in data:
            yield from _slices(batch, rows)
    elif _is_pandas_frame(data):
        yield from _pandas_batches(data, rows)
    elif _is_polars_frame(data):
        yield from _polars_batches(data, rows)
    elif _is_polars_lazy(data):
        raise TypeError("a polars LazyFrame: collect it first (or write an iterable of DataFrames)")
    elif isinstance(data, Mapping):
        raise TypeError("a dict is one row: write a list of rows ([row])")
    elif isinstance(data, (str, bytes, bytearray)):
        raise TypeError(f"cannot write {type(data).__name__}: write rows (dicts) or tables")
    elif isinstance(data, (list, tuple)) and all(isinstance(r, Mapping) for r in data):
        # A list is in memory already: its types are inferred over all of
        # it, so a column null in the first rows still gets its type.
        if data:
            batch = _rows_batch(data)  # type: ignore[arg-type]
            yield from _slices(batch, rows)
    elif hasattr(data, "__arrow_c_stream__"):
        reader = pa.RecordBatchReader.from_stream(data)
        for batch in reader:
            yield from _slices(batch, rows)
    elif isinstance(data, Iterable):
        pending: List[Mapping[str, Any]] = []
        for item in data:
            if isinstance(item, Mapping):
                pending.append(item)
                if len(pending) >= rows:
                    yield _rows_batch(pending)
                    pending = []
                continue
            if pending:
                yield _rows_batch(pending)
                pending = []
            yield from iter_batches(item, rows)
        if pending:
            yield _rows_batch(pending)
    else:
        raise TypeError(f"cannot write {type(data).__name__}: write rows (dicts) or tables")


class _Chunks:
    """A write-only file that hands back what was written since last
    asked: lets an IPC stream be produced a batch at a time."""

    def __init__(self) -> None:
        self._chunks: List[bytes] = []
        self.closed = False

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._chunks.append(chunk)
        return len(chunk)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        out = b"".join(self._chunks)
        self._chunks = []
        return out


def ipc_stream(schema: pa.Schema, batches: List[pa.RecordBatch]) -> Callable[[], Iterator[bytes]]:
    """A factory of Arrow IPC stream bodies holding ``batches``: each call
    serializes anew (a retried upload sends the body again), a batch at a
    time, so that no part is ever held serialized whole."""

    def body() -> Iterator[bytes]:
        sink = _Chunks()
        writer = pa.ipc.new_stream(sink, schema)
        yield sink.take()
        for batch in batches:
            writer.write_batch(batch)
            chunk = sink.take()
            if chunk:
                yield chunk
        writer.close()
        yield sink.take()

    return body


def table_body(table: pa.Table) -> Callable[[], Iterator[bytes]]:
    """``ipc_stream`` of a whole (small) table."""
    return ipc_stream(table.schema, table.to_batches())


def utc(value: Optional[_dt.datetime] = None) -> _dt.datetime:
    """``value`` in UTC (naive taken as UTC), or now."""
    if value is None:
        return _dt.datetime.now(_dt.timezone.utc)
    if value.tzinfo is None:
        return value.replace(tzinfo=_dt.timezone.utc)
    return value.astimezone(_dt.timezone.utc)
