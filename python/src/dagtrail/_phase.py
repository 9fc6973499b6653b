"""One attempt of one phase of a run, written in parts and committed once."""

from __future__ import annotations

import contextvars
import datetime as _dt
import logging
import sys
import threading
import time
import traceback as _traceback
import warnings
from typing import Any, Callable, Dict, List, Optional, Protocol, Sequence, Tuple, Union

import pyarrow as pa

from ._arrow import (
    ARROW_STREAM,
    ERRORS_SCHEMA,
    LOGS_SCHEMA,
    conform,
    dumps,
    ipc_stream,
    iter_batches,
    plain_schema,
    table_body,
    utc,
)
from ._errors import DagtrailError
from ._logging import LogHandler, LogSink, current_sink
from ._types import PHASES, AttemptCommitted, Body, DagId, RunDate, StagedAttempt, check_choice

__all__ = ["Phase", "PhaseClient", "current_phase", "LEVELS"]

#: The log levels the server takes.
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

#: Seconds a ``LogHandler`` only buffers after an upload of its records
#: failed (the block's end still sends them).
HANDLER_PAUSE = 30.0


def current_phase() -> Optional["Phase"]:
    """The phase whose ``with`` block this code runs in (in this thread or
    asyncio task), or ``None``."""
    # Kept where the log handler reads it (_logging imports nothing of
    # this module); only a Phase sets it.
    phase = current_sink.get()
    return phase if isinstance(phase, Phase) else None


def level_name(level: Union[int, str]) -> str:
    """A ``logging`` level (number or name) as one of ``LEVELS``: a custom
    level takes the standard level at or below it (``TRACE`` (5) is
    ``DEBUG``, 25 is ``INFO``); ``WARN`` and ``FATAL`` are Python's
    aliases."""
    if isinstance(level, str):
        name = level.strip().upper()
        name = {"WARN": "WARNING", "FATAL": "CRITICAL"}.get(name, name)
        if name in LEVELS:
            return name
        number = logging.getLevelName(name)
        if not isinstance(number, int):
            raise ValueError(f"unknown log level {level!r}: use one of {', '.join(LEVELS)}")
        level = number
    if level >= logging.CRITICAL:
        return "CRITICAL"
    if level >= logging.ERROR:
        return "ERROR"
    if level >= logging.WARNING:
        return "WARNING"
    if level >= logging.INFO:
        return "INFO"
    return "DEBUG"


def _exception_type(exc: BaseException) -> str:
    cls = type(exc)
    module = cls.__module__
    return cls.__qualname__ if module in ("builtins", "__main__") else f"{module}.{cls.__qualname__}"


def _staged_parts(staged: StagedAttempt) -> Dict[str, List[int]]:
    """The part numbers an open attempt has staged, by kind."""
    return {"data": staged["data"], "errors": staged["errors"], "logs": staged["logs"]}


#: Bytes of rows sent as one Arrow IPC message at most: well under the
#: server's DAGTRAIL_MAX_BATCH_BYTES (64 MiB by default), which bounds what
#: one message may make it hold.
_MESSAGE_BYTES = 16 * 1024 * 1024


class PhaseClient(Protocol):
    """The calls of a ``Client`` that a phase makes (a ``Client`` is one):
    a protocol, so that this module needs nothing of the client's, which
    makes phases."""

    part_bytes: int
    part_rows: Optional[int]

    def describe_dag(
        self,
        dag_id: DagId,
        name: Optional[str] = ...,
        *,
        description: Optional[str] = ...,
        tags: Optional[Sequence[str]] = ...,
        owner: Optional[str] = ...,
    ) -> Any: ...

    def open_attempt(
        self, dag_id: DagId, date: RunDate, run_id: str, phase: str, attempt: Optional[int] = ...
    ) -> StagedAttempt: ...

    def abort_attempt(self, dag_id: DagId, date: RunDate, run_id: str, phase: str, attempt: int) -> None: ...

    def upload_part(
        self,
        dag_id: DagId,
        date: RunDate,
        run_id: str,
        phase: str,
        attempt: int,
        kind: str,
        part: int,
        body: Body,
        content_type: str,
    ) -> Any: ...

    def commit_attempt(
        self,
        dag_id: DagId,
        date: RunDate,
        run_id: str,
        phase: str,
        attempt: int,
        *,
        status: str = ...,
        message: Optional[str] = ...,
        total: Optional[int] = ...,
        started_at: Union[None, str, _dt.datetime] = ...,
        finished_at: Union[None, str, _dt.datetime] = ...,
    ) -> AttemptCommitted: ...

    def close(self) -> None: ...


class Phase:
    """An attempt of one phase (extract, transform or load) of a run.

    Made by ``Client.phase``; used as a context manager. Entering opens
    the attempt; ``write``, ``log`` and ``error`` send its rows in parts;
    leaving commits it (``success``, or ``failed`` with the exception and
    its traceback as an error row, then re-raised).

    Args:
        client: The client.
        dag_id: The DAG's UUID.
        date: The run's partition date.
        run_id: The run id (Airflow's ``run_id``).
        phase: ``"extract"``, ``"transform"`` or ``"load"``.
        dag_name, dag_tags, dag_description, dag_owner: The DAG's catalog
            entry, recorded on entering when any is given.
        attempt: A named attempt to open (default: the next one).
        resume: When the attempt is open already (a previous process died
            before committing it): ``False`` (default) aborts it and opens
            it afresh, so that no part of the dead process is committed;
            ``True`` keeps its staged parts and writes after them.
        schema: The attempt's data columns (a ``pyarrow.Schema``);
            default: those of the first data written. Rows are cast to it.
        part_bytes: Largest data part, in bytes of Arrow data (default the
            client's, 64 MiB).
        part_rows: Most rows of one data part (default the client's: no
            limit but ``part_bytes``).
        batch_rows: Rows converted to Arrow at a time (of a DataFrame, of
            an iterable of dicts): the unit of the client's memory.
        log_batch: Log rows buffered before they are sent as a part.
        error_batch: Error rows buffered before they are sent as a part.
        progress: Called as ``progress(rows_sent)`` after each data part
            staged, with the rows the current ``write`` call sent so far.
        capture_logs: Also record ``logging`` records as the attempt's
            logs while the block runs: ``True`` for the root logger, or a
            logger (or its name). The loggers' own levels still apply.
        capture_level: The least level captured.

    Attributes:
        attempt: The attempt number, once open.
        message: The status message committed (default: none, or the
            exception when the block raised).
        total: The row count committed (default: the data rows staged).
        status: The outcome committed when the block ends normally
            (default ``"success"``; ``"pending"`` for a phase that goes on
            elsewhere).
        rows_written: Data rows staged by this object.
        committed: The server's answer to the commit, once committed.
    """

    def __init__(
        self,
        client: PhaseClient,
        dag_id: DagId,
        date: RunDate,
        run_id: str,
        phase: str,
        *,
        dag_name: Optional[str] = None,
        dag_tags: Optional[Sequence[str]] = None,
        dag_description: Optional[str] = None,
        dag_owner: Optional[str] = None,
        attempt: Optional[int] = None,
        resume: bool = False,
        schema: Optional[pa.Schema] = None,
        part_bytes: Optional[int] = None,
        part_rows: Optional[int] = None,
        batch_rows: int = 65536,
        log_batch: int = 1000,
        error_batch: int = 1000,
        progress: Optional[Callable[[int], Any]] = None,
        capture_logs: Union[None, bool, str, logging.Logger] = None,
        capture_level: Union[int, str] = "INFO",
        close_client: bool = False,
    ) -> None:
        self.client = client
        self.dag_id = dag_id
        self.date = date
        self.run_id = run_id
        self.phase = check_choice(phase, PHASES, "phase")
        self.dag_name = dag_name
        self.dag_tags = dag_tags
        self.dag_description = dag_description
        self.dag_owner = dag_owner
        self.attempt: Optional[int] = attempt
        self.resume = resume
        self.part_bytes = int(part_bytes or client.part_bytes)
        self.part_rows = part_rows if part_rows is not None else client.part_rows
        self.batch_rows = max(1, int(batch_rows))
        if self.part_rows:
            self.batch_rows = min(self.batch_rows, int(self.part_rows))
        self.log_batch = max(1, int(log_batch))
        self.error_batch = max(1, int(error_batch))
        self.progress = progress
        self.capture_logs = capture_logs
        self.capture_level = capture_level
        self.message: Optional[str] = None
        self.total: Optional[int] = None
        self.status: str = "success"
        self.rows_written = 0
        self.committed: Optional[AttemptCommitted] = None
        self.started_at: Optional[_dt.datetime] = None
        self.dropped_logs = 0
        self._handler_flush_after = 0.0
        self._schema: Optional[pa.Schema] = plain_schema(schema) if schema is not None else None
        self._close_client = close_client
        self._open = False
        self._closed = False
        self._next_part = {"data": 1, "errors": 1, "logs": 1}
        self._buffers: Dict[str, List[Dict[str, Any]]] = {"errors": [], "logs": []}
        self._buffer_lock = threading.Lock()
        self._send_locks = {kind: threading.Lock() for kind in ("data", "errors", "logs")}
        self._token: Optional[contextvars.Token[Optional[LogSink]]] = None
        self._handler: Optional[logging.Handler] = None
        self._captured: Optional[logging.Logger] = None

    def __repr__(self) -> str:
        return (
            f"dagtrail.Phase({self.phase!r}, dag_id={str(self.dag_id)!r}, date={str(self.date)!r}, "
            f"run_id={self.run_id!r}, attempt={self.attempt!r})"
        )

    @property
    def is_open(self) -> bool:
        """Whether the attempt is open (entered, not committed or aborted)."""
        return self._open and not self._closed

    # -- opening ----------------------------------------------------------

    def open(self) -> "Phase":
        """Opens the attempt (what entering the ``with`` block does)."""
        if self._open:
            return self
        self.started_at = utc()
        if any(v is not None for v in (self.dag_name, self.dag_tags, self.dag_description, self.dag_owner)):
            self.client.describe_dag(
                self.dag_id,
                self.dag_name,
                description=self.dag_description,
                tags=self.dag_tags,
                owner=self.dag_owner,
            )
        where = (self.dag_id, self.date, self.run_id, self.phase)
        staged = self.client.open_attempt(*where, attempt=self.attempt)
        if staged["resumed"] and not self.resume and any(_staged_parts(staged).values()):
            # A process that died before committing left these parts; this
            # one starts the phase over, so none of them may be committed.
            self.client.abort_attempt(*where, staged["attempt"])
            staged = self.client.open_attempt(*where, attempt=staged["attempt"])
        self.attempt = int(staged["attempt"])
        for kind, parts in _staged_parts(staged).items():
            self._next_part[kind] = max(parts, default=0) + 1
        self._open = True
        return self

    def __enter__(self) -> "Phase":
        try:
            self.open()
        except BaseException:
            if self._close_client:
                self.client.close()
            raise
        self._token = current_sink.set(self)
        if self.capture_logs:
            target = self.capture_logs
            if target is True:
                logger = logging.getLogger()
            elif isinstance(target, logging.Logger):
                logger = target
            else:
                logger = logging.getLogger(str(target))
            self._handler = LogHandler(self, level=self.capture_level)
            logger.addHandler(self._handler)
            self._captured = logger
        return self

    def __exit__(self, exc_type: Any, exc: Optional[BaseException], tb: Any) -> None:
        if self._handler is not None and self._captured is not None:
            self._captured.removeHandler(self._handler)
            self._handler = None
        if self._token is not None:
            current_sink.reset(self._token)
            self._token = None
        try:
            self._finish(exc)
        finally:
            if self._close_client:
                self.client.close()

    def _finish(self, exc: Optional[BaseException]) -> None:
        if self._closed:
            return
        if exc is None:
            self.flush()
            self.commit(self.status, self.message, self.total)
            return
        try:
            self.error(
                title=type(exc).__name__,
                detail=str(exc) or repr(exc),
                status=500,
                error_type=_exception_type(exc),
                traceback="".join(_traceback.format_exception(type(exc), exc, exc.__traceback__)),
            )
            self.flush()
            message = self.message if self.message is not None else f"{type(exc).__name__}: {exc}"
            self.commit("failed", message, self.total)
        except DagtrailError as failure:
            # The task's own exception is the one to see; the failure to
            # record it goes with it rather than in its place.
            note = f"dagtrail could not record the failed attempt: {failure}"
            if sys.version_info >= (3, 11):
                exc.add_note(note)
            warnings.warn(note, RuntimeWarning, stacklevel=3)

    # -- data ---------------------------------------------------------------

    def _where(self) -> Tuple[PhaseClient, Tuple[DagId, RunDate, str, str, int]]:
        if not self._open or self.attempt is None:
            raise RuntimeError("the phase is not open: use it in a `with` block (or call open())")
        if self._closed:
            raise RuntimeError("the phase is committed (or aborted) already")
        return (self.client, (self.dag_id, self.date, self.run_id, self.phase, self.attempt))

    def write(
        self,
        data: Any,
        *,
        progress: Optional[Callable[[int], Any]] = None,
    ) -> int:
        """Sends rows as the attempt's data, in parts of at most
        ``part_bytes`` (and ``part_rows``), each an Arrow IPC stream. The
        rows are staged when it returns.

        Args:
            data: A list of dicts (a dict a row), a ``pyarrow.Table``,
                ``RecordBatch`` or ``RecordBatchReader``, a pandas or
                polars ``DataFrame``, any object with
                ``__arrow_c_stream__``, or an iterable of these (a
                generator of rows or of DataFrames), consumed lazily.
            progress: Called as ``progress(rows_sent)`` after each part
                (default the phase's ``progress``).

        Returns:
            The rows sent.

        Raises:
            SchemaError: rows that do not fit the attempt's data columns
                (those of the first data written, or ``schema``).
            ValidationError: a part the server refused.
            TypeError: ``data`` of a kind not taken.
        """
        client, where = self._where()
        report = progress or self.progress
        sent = 0
        with self._send_locks["data"]:
            pending: List[pa.RecordBatch] = []
            pending_rows = 0
            pending_bytes = 0
            row_limit = self.part_rows or float("inf")

            def send() -> None:
                nonlocal pending, pending_rows, pending_bytes, sent
                if not pending:
                    return
                assert self._schema is not None
                part = self._next_part["data"]
                client.upload_part(*where, "data", part, ipc_stream(self._schema, pending), ARROW_STREAM)
                self._next_part["data"] = part + 1
                sent += pending_rows
                self.rows_written += pending_rows
                pending, pending_rows, pending_bytes = [], 0, 0
                if report is not None:
                    report(sent)

            for batch in iter_batches(data, self.batch_rows):
                if batch.num_rows == 0:
                    continue
                if self._schema is None:
                    self._schema = plain_schema(batch.schema)
                batch = conform(batch, self._schema)
                while batch.num_rows:
                    per_row = max(1.0, batch.nbytes / batch.num_rows)
                    room_bytes = self.part_bytes - pending_bytes
                    if pending and room_bytes < per_row:
                        send()
                        continue
                    take = int(
                        min(
                            batch.num_rows,
                            row_limit - pending_rows,
                            max(1, room_bytes // per_row),
                            # One IPC message each: the server refuses a
                            # message over DAGTRAIL_MAX_BATCH_BYTES (64 MiB).
                            max(1, _MESSAGE_BYTES // per_row),
                        )
                    )
                    piece = batch.slice(0, take)
                    # Rows of uneven widths: an average can put the wide
                    # ones in one message past the server's bound.
                    while take > 1 and piece.nbytes > _MESSAGE_BYTES:
                        take //= 2
                        piece = batch.slice(0, take)
                    batch = batch.slice(take)
                    pending.append(piece)
                    pending_rows += take
                    pending_bytes += piece.nbytes
                    if pending_rows >= row_limit or pending_bytes >= self.part_bytes:
                        send()
            send()
        return sent

    # -- logs and errors ------------------------------------------------

    def log(
        self,
        level: Union[int, str],
        message: str,
        *,
        logger: str = "dagtrail",
        ts: Optional[_dt.datetime] = None,
    ) -> None:
        """Adds a log row (sent with others every ``log_batch`` rows, and
        at the end).

        Args:
            level: ``DEBUG``, ``INFO``, ``WARNING``, ``ERROR`` or
                ``CRITICAL`` (any case), or a ``logging`` level number.
            message: The message.
            logger: The logger's name.
            ts: When (default now).
        """
        self._add("logs", {"ts": utc(ts), "level": level_name(level), "logger": logger, "message": str(message)})

    def error(
        self,
        title: str,
        detail: str = "",
        *,
        status: int = 422,
        record: Optional[Any] = None,
        row: Optional[int] = None,
        file: Optional[int] = None,
        traceback: Optional[str] = None,
        error_type: Optional[str] = None,
        occurred_at: Optional[_dt.datetime] = None,
    ) -> None:
        """Adds an error row, RFC 7807-aligned (sent with others every
        ``error_batch`` rows, and at the end).

        Args:
            title: A short summary (``error_title``).
            detail: What happened, for this row (``error_detail``).
            status: An HTTP-like status (``error_status``; 422 for a row
                that does not validate, 500 for a failure).
            record: The offending input (a dict, or JSON text), kept as
                JSON text.
            row: The data row it concerns (``_row``, 0-based in its file).
            file: The data file it concerns (``_file``).
            traceback: A formatted traceback.
            error_type: A URI reference or an exception class
                (``error_type``; the server's default is
                ``about:blank``).
            occurred_at: When (default now).
        """
        if record is not None and not isinstance(record, str):
            record = dumps(record)
        self._add(
            "errors",
            {
                "error_type": error_type,
                "error_title": str(title),
                "error_status": int(status),
                "error_detail": str(detail),
                "traceback": traceback,
                "occurred_at": utc(occurred_at),
                "_file": file,
                "_row": row,
                "record": record,
            },
        )

    def _add(self, kind: str, row: Dict[str, Any]) -> None:
        if self._closed:
            raise RuntimeError("the phase is committed (or aborted) already")
        limit = self.error_batch if kind == "errors" else self.log_batch
        with self._buffer_lock:
            self._buffers[kind].append(row)
            full = len(self._buffers[kind]) >= limit
        if full and self._open:
            self._flush(kind, wait=True)

    def _add_log_record(self, record: logging.LogRecord, message: str) -> None:
        """A ``LogHandler``'s way in: never waits on another thread's
        upload (it buffers instead), and past 100 batches drops and
        counts, so that logging never stalls on the server for long."""
        if self._closed:
            return
        row = {
            "ts": _dt.datetime.fromtimestamp(record.created, _dt.timezone.utc),
            "level": level_name(record.levelno),
            "logger": record.name,
            "message": message,
        }
        with self._buffer_lock:
            if len(self._buffers["logs"]) >= 100 * self.log_batch:
                self.dropped_logs += 1
                return
            self._buffers["logs"].append(row)
            full = len(self._buffers["logs"]) >= self.log_batch
        if full and self._open and time.monotonic() >= self._handler_flush_after:
            try:
                self._flush("logs", wait=False)
            except Exception:
                # The server is away: every record would wait out the
                # retries again. Buffer for a while; the end flushes all.
                self._handler_flush_after = time.monotonic() + HANDLER_PAUSE
                raise

    def _flush(self, kind: str, *, wait: bool) -> None:
        lock = self._send_locks[kind]
        if not lock.acquire(blocking=wait):
            return
        try:
            with self._buffer_lock:
                rows, self._buffers[kind] = self._buffers[kind], []
            if not rows:
                return
            schema = ERRORS_SCHEMA if kind == "errors" else LOGS_SCHEMA
            try:
                table = pa.Table.from_pylist(rows, schema=schema)
                client, where = self._where()
                part = self._next_part[kind]
                client.upload_part(*where, kind, part, table_body(table), ARROW_STREAM)
            except BaseException:
                # Kept for the next flush (the one at the end, at least).
                with self._buffer_lock:
                    self._buffers[kind][:0] = rows
                raise
            self._next_part[kind] = part + 1
        finally:
            lock.release()

    def flush(self) -> None:
        """Sends the buffered error and log rows now."""
        if self.dropped_logs:
            count, self.dropped_logs = self.dropped_logs, 0
            self.log("WARNING", f"{count} log records were dropped: the server took too long", logger="dagtrail")
        self._flush("errors", wait=True)
        self._flush("logs", wait=True)

    # -- ending -------------------------------------------------------------

    def commit(
        self,
        status: str = "success",
        message: Optional[str] = None,
        total: Optional[int] = None,
    ) -> AttemptCommitted:
        """Sends the buffered rows and commits the attempt (what leaving the
        ``with`` block does); the block then commits nothing more.

        Returns:
            The server's answer: ``{"phase", "attempt", "success",
            "message", "total", "started_at", "finished_at", "data_rows",
            "data_files", "error_count", "log_count"}``.
        """
        self.flush()
        client, where = self._where()
        self.committed = client.commit_attempt(
            *where,
            status=status,
            message=message,
            total=total,
            started_at=self.started_at,
            finished_at=utc(),
        )
        self._closed = True
        return self.committed

    def abort(self) -> None:
        """Aborts the attempt: its staged parts are dropped, nothing is
        committed (the block then commits nothing)."""
        client, where = self._where()
        client.abort_attempt(*where)
        self._closed = True
