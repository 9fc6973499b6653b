"""A ``logging`` handler that records log records as a phase's logs.

It needs two things of the rest of the package, both kept here so that
this module imports none of it (the phases use this handler, and the
client marks its requests here): the current phase, which a ``Phase``
sets on entering its block, and whether this thread is inside a request of
a client.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
from typing import Iterator, Optional, Protocol, Union

__all__ = ["LogHandler"]


class LogSink(Protocol):
    """What a ``LogHandler`` needs of a phase (a ``Phase`` is one)."""

    def _add_log_record(self, record: logging.LogRecord, message: str) -> None: ...


#: The phase whose ``with`` block this code runs in. Only ``Phase`` sets
#: it (``dagtrail.current_phase()`` reads it as a ``Phase``).
current_sink: "contextvars.ContextVar[Optional[LogSink]]" = contextvars.ContextVar(
    "dagtrail_current_phase", default=None
)

_local = threading.local()


def sending() -> bool:
    """Whether this thread is inside a request of a dagtrail client (so
    that a ``LogHandler`` leaves httpx's own log records of it out)."""
    return getattr(_local, "depth", 0) > 0


@contextlib.contextmanager
def marked_as_sending() -> Iterator[None]:
    """Marks this thread as inside a request of a client while the block
    runs (see ``sending``)."""
    _local.depth = getattr(_local, "depth", 0) + 1
    try:
        yield
    finally:
        _local.depth -= 1


class LogHandler(logging.Handler):
    """Sends ``logging`` records into a phase's logs (``ts``, ``level``,
    ``logger``, ``message``), batched with the phase's other log rows.

    Bound to ``phase`` when given; otherwise to the phase whose ``with``
    block the logging code runs in (``dagtrail.current_phase()``: the
    context of the thread or asyncio task that entered it), and records
    logged outside any phase are left out. It never raises into the code
    that logs: a failure goes to ``handleError`` (a message on stderr).
    Records that httpx logs about dagtrail's own requests are left out, and
    so are the client's own records of its retries.

    Args:
        phase: The phase to record into (default: the current one).
        level: The least level handled.

    Example::

        handler = dagtrail.LogHandler()
        logging.getLogger().addHandler(handler)
        with client.phase(...) as ph:
            logging.getLogger("orders").info("fetched %d orders", n)
    """

    def __init__(self, phase: Optional[LogSink] = None, level: Union[int, str] = logging.NOTSET) -> None:
        super().__init__(level)
        self.phase = phase

    def emit(self, record: logging.LogRecord) -> None:
        if sending():
            # Our own upload's records: recording them would upload again.
            return
        phase = self.phase if self.phase is not None else current_sink.get()
        if phase is None:
            return
        try:
            phase._add_log_record(record, self.format(record))
        except Exception:
            self.handleError(record)
