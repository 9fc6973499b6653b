"""One attempt of one phase of a run, written in parts and committed once.

Best-effort (the client's default), a phase must never fail the task it
watches: the first failure of dagtrail's (no answer, or the server's
refusal) "detaches" it. It logs that once as a WARNING, makes no network
call after, and counts what the task goes on writing instead of sending;
when it ends, a second WARNING says what was dropped. Nothing is kept to
send later: see the README's "When dagtrail is down" for why. The caller's
mistakes (a bad argument, rows that do not fit) raise in both modes, and
the task's own exception always propagates unchanged.
"""

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
from ._errors import DagtrailError, failure_text, is_dagtrail_failure
from ._logging import LogHandler, LogSink, current_sink, marked_as_sending
from ._progress import COMMITTING, WRITING, Progress, run_reporting
from ._types import PHASES, STATUSES, AttemptCommitted, Body, DagId, RunDate, StagedAttempt, check_choice

__all__ = ["Phase", "PhaseClient", "current_phase", "LEVELS"]

log = logging.getLogger("dagtrail")

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


def _say(level: int, message: str, *args: Any) -> None:
    """Logs on the ``dagtrail`` logger, marked as the client's own, so that
    a ``LogHandler`` (which may be capturing the root logger into this very
    phase) leaves it out."""
    with marked_as_sending():
        log.log(level, message, *args)


def _count(n: int, thing: str) -> str:
    return f"{n:,} {thing}" + ("" if n == 1 else "s")


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
    #: Whether a failure of dagtrail's raises (else the phase detaches).
    strict: bool

    def describe_dag(
        self,
        dag_id: DagId,
        name: Optional[str] = ...,
        *,
        description: Optional[str] = ...,
        tags: Optional[Sequence[str]] = ...,
        owner: Optional[str] = ...,
        strict: Optional[bool] = ...,
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

    With a best-effort client (the default), a failure of dagtrail's at any
    of these steps detaches the phase rather than raising: a WARNING says
    why, the block runs on, later rows are counted in ``dropped`` and not
    sent, no further request is made, and the end logs a WARNING of what
    was dropped. With a strict client, the failure raises.

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
            staged, with the rows the current ``write`` call sent so far;
            and, while the server commits, every ``commit_progress_every``
            seconds with the rows the phase staged. The value is a
            ``dagtrail.Progress``: an ``int`` whose ``stage`` says which
            (``"writing"``, ``"committing"``) and ``elapsed`` since when.
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
        committed: The server's answer to the commit, once committed
            (``None`` when the phase was detached: nothing was committed).
        failure: The failure of dagtrail's that detached the phase, or
            ``None``.
        dropped: What was not sent once detached: ``{"rows": n, "errors":
            n, "logs": n}``.
        commit_progress_every: Seconds between the ``progress`` calls of a
            commit (5).
        commit_log_every: Seconds between the INFO lines a commit logs on
            the ``dagtrail`` logger (10): ``dagtrail: committing extract:
            30 s so far (5,000,000 rows staged)``.
    """

    commit_progress_every = 5.0
    commit_log_every = 10.0

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
        progress: Optional[Callable[[Progress], Any]] = None,
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
        self.failure: Optional[BaseException] = None
        self.dropped: Dict[str, int] = {"rows": 0, "errors": 0, "logs": 0}
        # Set once the phase is ending (committing, aborting): a failure
        # then is told by the summary alone, not by a warning of its own.
        self._ending = False
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
        """Whether the attempt is open (entered, not committed or aborted);
        a detached phase is open until its block ends, taking rows to
        count."""
        return self._open and not self._closed

    @property
    def detached(self) -> bool:
        """Whether a failure of dagtrail's stopped the recording
        (best-effort): see ``failure`` and ``dropped``."""
        return self.failure is not None

    # -- going on without dagtrail ---------------------------------------------

    def _label(self) -> str:
        dag = self.dag_name or str(self.dag_id)
        return f"{self.phase} of {dag}/{self.run_id}"

    def _tolerated(self, error: BaseException) -> bool:
        """Whether ``error`` detaches the phase rather than raising."""
        return not self.client.strict and is_dagtrail_failure(error)

    def _detach(self, error: BaseException) -> None:
        """Stops the recording: drops what is buffered, counting it, and
        warns once (unless the phase is ending: its summary says it)."""
        with self._buffer_lock:
            if self.failure is not None:
                return
            self.failure = error
        self._drop_buffered()
        if not self._ending:
            _say(
                logging.WARNING,
                "dagtrail: %s: recording stopped, the task goes on without dagtrail: %s",
                self._label(),
                failure_text(error),
            )

    def _drop(self, kind: str, count: int) -> None:
        with self._buffer_lock:
            self.dropped[kind] += count

    def _drop_buffered(self) -> None:
        with self._buffer_lock:
            for kind in ("errors", "logs"):
                self.dropped[kind] += len(self._buffers[kind])
                self._buffers[kind] = []
            self.dropped["logs"] += self.dropped_logs
            self.dropped_logs = 0

    def _end(self) -> None:
        """Marks the phase ended; a detached one says what it dropped."""
        self._closed = True
        if self.failure is None:
            return
        left = ""
        if self.attempt is not None:
            left = f"; attempt {self.attempt} is left uncommitted"
            if self.rows_written:
                left += f" with {_count(self.rows_written, 'row')} staged"
        _say(
            logging.WARNING,
            "dagtrail: %s: dropped %s, %s, %s%s: %s",
            self._label(),
            _count(self.dropped["rows"], "row"),
            _count(self.dropped["errors"], "error"),
            _count(self.dropped["logs"], "log line"),
            left,
            failure_text(self.failure),
        )

    # -- opening ----------------------------------------------------------

    def open(self) -> "Phase":
        """Opens the attempt (what entering the ``with`` block does).
        Best-effort, a failure of dagtrail's leaves the phase open but
        detached."""
        if self._open:
            return self
        self.started_at = utc()
        try:
            self._open_attempt()
        except Exception as e:
            if not self._tolerated(e):
                raise
            self._detach(e)
        self._open = True
        return self

    def _open_attempt(self) -> None:
        if any(v is not None for v in (self.dag_name, self.dag_tags, self.dag_description, self.dag_owner)):
            # Strict: a failure here detaches the phase (one warning), not
            # the catalog call on its own (a second one).
            self.client.describe_dag(
                self.dag_id,
                self.dag_name,
                description=self.dag_description,
                tags=self.dag_tags,
                owner=self.dag_owner,
                strict=True,
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
        self._ending = True
        if exc is None:
            self.flush()
            self.commit(self.status, self.message, self.total)
            return
        # Detached already: the summary says so, and nothing is attempted.
        detached_before = self.failure is not None
        failure: Optional[BaseException] = None
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
        except DagtrailError as e:
            # Strict: the failure to record would replace the task's own.
            failure = e
        if failure is None and not detached_before:
            # Best-effort: it detached the phase while recording this one.
            failure = self.failure
        if failure is not None:
            # The task's own exception is the one to see; the failure to
            # record it goes with it rather than in its place.
            note = f"dagtrail could not record the failed attempt: {failure_text(failure)}"
            if sys.version_info >= (3, 11):
                exc.add_note(note)
            warnings.warn(note, RuntimeWarning, stacklevel=3)

    # -- data ---------------------------------------------------------------

    def _check_taking(self) -> None:
        if not self._open:
            raise RuntimeError("the phase is not open: use it in a `with` block (or call open())")
        if self._closed:
            raise RuntimeError("the phase is committed (or aborted) already")

    def _where(self) -> Tuple[PhaseClient, Tuple[DagId, RunDate, str, str, int]]:
        self._check_taking()
        if self.attempt is None:
            raise RuntimeError("the phase is not open: use it in a `with` block (or call open())")
        return (self.client, (self.dag_id, self.date, self.run_id, self.phase, self.attempt))

    def write(
        self,
        data: Any,
        *,
        progress: Optional[Callable[[Progress], Any]] = None,
    ) -> int:
        """Sends rows as the attempt's data, in parts of at most
        ``part_bytes`` (and ``part_rows``), each an Arrow IPC stream. The
        rows are staged when it returns.

        Once the phase is detached (best-effort), the rows are still taken
        from ``data`` (a generator runs to its end, as the task expects),
        but counted in ``dropped["rows"]`` rather than sent.

        Args:
            data: A list of dicts (a dict a row), a ``pyarrow.Table``,
                ``RecordBatch`` or ``RecordBatchReader``, a pandas or
                polars ``DataFrame``, any object with
                ``__arrow_c_stream__``, or an iterable of these (a
                generator of rows or of DataFrames), consumed lazily.
            progress: Called as ``progress(rows_sent)`` after each part
                staged (default the phase's ``progress``), with a
                ``dagtrail.Progress`` (an ``int``).

        Returns:
            The rows taken: all sent, unless the phase is (or became)
            detached, when those not sent are counted as dropped. So the
            task's own logic sees the same count whether dagtrail is up or
            not.

        Raises:
            SchemaError: rows that do not fit the attempt's data columns
                (those of the first data written, or ``schema``).
            ValidationError: a part the server refused (strict mode).
            TypeError: ``data`` of a kind not taken.
        """
        self._check_taking()
        report = progress or self.progress
        began = time.monotonic()
        taken = 0
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
                batches, rows = pending, pending_rows
                pending, pending_rows, pending_bytes = [], 0, 0
                if not self._upload_data(batches, rows):
                    self._drop("rows", rows)
                    return
                sent += rows
                if report is not None:
                    report(Progress(sent, WRITING, time.monotonic() - began))

            for batch in iter_batches(data, self.batch_rows):
                if batch.num_rows == 0:
                    continue
                taken += batch.num_rows
                if self.failure is not None:
                    # Counted, not converted further nor sent.
                    self._drop("rows", batch.num_rows)
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
        return taken

    def _upload_data(self, batches: List[pa.RecordBatch], rows: int) -> bool:
        """Stages one data part; ``False`` when the phase is, or on this
        failure becomes, detached (the rows are not sent)."""
        if self.failure is not None:
            return False
        client, where = self._where()
        assert self._schema is not None
        part = self._next_part["data"]
        try:
            client.upload_part(*where, "data", part, ipc_stream(self._schema, batches), ARROW_STREAM)
        except Exception as e:
            if not self._tolerated(e):
                raise
            self._detach(e)
            return False
        self._next_part["data"] = part + 1
        self.rows_written += rows
        return True

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
        at the end; counted in ``dropped["logs"]`` once detached).

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
        ``error_batch`` rows, and at the end; counted in
        ``dropped["errors"]`` once detached).

        Args:
            title: A short summary (``error_title``).
            detail: What happened, for this row (``error_detail``).
            status: An HTTP-like status (``error_status``; 422 for a row
                that does not validate, 500 for a failure).
            record: The offending input (a dict, or JSON text), kept as
                JSON text.
            row: The data row it concerns: its 0-based place among every
                row written through this phase (across ``write`` calls and
                the parts they are split into); the server stores the file
                and row it landed in, so the explorer links the error to
                it. With ``file``, the row within that data file instead.
            file: The data file it concerns (``_file``), for a ``row``
                counted within it.
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
        if self.failure is not None:
            self._drop(kind, 1)
            return
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
        if self.failure is not None:
            self._drop("logs", 1)
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
                # (Strict mode: best-effort detaches the phase instead.)
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
            if self.failure is not None:
                self._drop(kind, len(rows))
                return
            schema = ERRORS_SCHEMA if kind == "errors" else LOGS_SCHEMA
            try:
                table = pa.Table.from_pylist(rows, schema=schema)
                client, where = self._where()
                part = self._next_part[kind]
                client.upload_part(*where, kind, part, table_body(table), ARROW_STREAM)
            except BaseException as e:
                if isinstance(e, Exception) and self._tolerated(e):
                    self._drop(kind, len(rows))
                    self._detach(e)
                    return
                # Kept for the next flush (the one at the end, at least).
                with self._buffer_lock:
                    self._buffers[kind][:0] = rows
                raise
            self._next_part[kind] = part + 1
        finally:
            lock.release()

    def flush(self) -> None:
        """Sends the buffered error and log rows now (once detached: counts
        them as dropped)."""
        if self.failure is not None:
            self._drop_buffered()
            return
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

        While the server commits (minutes for millions of rows: it
        re-encodes every staged part, and says nothing until done), the
        phase's ``progress`` is called every ``commit_progress_every``
        seconds with a ``Progress`` whose ``stage`` is ``"committing"``, and
        an INFO line is logged every ``commit_log_every`` seconds. The
        commit itself waits its full ``commit_timeout``.

        Returns:
            The server's answer: ``{"phase", "attempt", "success",
            "message", "total", "started_at", "finished_at", "data_rows",
            "data_files", "error_count", "log_count"}``. When the phase is
            (or on this commit becomes) detached, nothing is committed: it
            answers every count 0, without ``success`` or times, and
            ``committed`` stays ``None``.

        Raises:
            ValueError: an unknown ``status`` (in both modes).
        """
        check_choice(status, STATUSES, "status")
        self._check_taking()
        self._ending = True
        self.flush()
        if self.failure is None:
            client, where = self._where()
            outcome: Dict[str, Any] = {
                "status": status,
                "message": message,
                "total": total,
                "started_at": self.started_at,
                "finished_at": utc(),
            }
            try:
                committed = self._commit_reporting(lambda: client.commit_attempt(*where, **outcome))
            except Exception as e:
                if not self._tolerated(e):
                    raise
                self._detach(e)
            else:
                self.committed = committed
                self._end()
                return committed
        self._end()
        return {
            "phase": self.phase,
            "attempt": self.attempt or 0,
            "message": "",
            "total": 0,
            "data_rows": 0,
            "data_files": 0,
            "error_count": 0,
            "log_count": 0,
        }

    def _commit_reporting(self, commit: Callable[[], AttemptCommitted]) -> AttemptCommitted:
        """Makes the commit, telling the phase's ``progress`` and the log
        how long it has waited: the server gives no progress of a commit,
        and a task silent for minutes looks hung."""
        report = self.progress
        log_every = self.commit_log_every
        next_log = log_every
        logged = False

        def tick(elapsed: float) -> None:
            nonlocal report, next_log, logged
            if report is not None:
                try:
                    report(Progress(self.rows_written, COMMITTING, elapsed))
                except Exception as e:
                    # A callback is the task's code; raising out of the
                    # wait would leave the commit running unwatched and
                    # the phase not knowing its outcome. Say so, stop
                    # calling it, and wait on.
                    report = None
                    _say(logging.WARNING, "dagtrail: the progress callback raised, no longer called: %r", e)
            if elapsed >= next_log:
                next_log += log_every
                logged = True
                _say(
                    logging.INFO,
                    "dagtrail: committing %s: %.0f s so far (%s rows staged)",
                    self.phase,
                    elapsed,
                    f"{self.rows_written:,}",
                )

        every = min(self.commit_progress_every, log_every) if report is not None else log_every
        began = time.monotonic()
        committed = run_reporting(commit, tick, every)
        if logged:
            _say(logging.INFO, "dagtrail: committed %s in %.0f s", self.phase, time.monotonic() - began)
        return committed

    def abort(self) -> None:
        """Aborts the attempt: its staged parts are dropped, nothing is
        committed (the block then commits nothing)."""
        self._check_taking()
        self._ending = True
        if self.failure is None:
            client, where = self._where()
            try:
                client.abort_attempt(*where)
            except Exception as e:
                if not self._tolerated(e):
                    raise
                self._detach(e)
        self._end()
