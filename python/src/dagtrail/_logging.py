"""A ``logging`` handler that records log records as a phase's logs."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Optional, Union

from ._client import sending
from ._phase import current_phase

if TYPE_CHECKING:
    from ._phase import Phase

__all__ = ["LogHandler"]


class LogHandler(logging.Handler):
    """Sends ``logging`` records into a phase's logs (``ts``, ``level``,
    ``logger``, ``message``), batched with the phase's other log rows.

    Bound to ``phase`` when given; otherwise to the phase whose ``with``
    block the logging code runs in (``dagtrail.current_phase()``: the
    context of the thread or asyncio task that entered it), and records
    logged outside any phase are left out. It never raises into the code
    that logs: a failure goes to ``handleError`` (a message on stderr).
    Records that httpx logs about dagtrail's own requests are left out.

    Args:
        phase: The phase to record into (default: the current one).
        level: The least level handled.

    Example::

        handler = dagtrail.LogHandler()
        logging.getLogger().addHandler(handler)
        with client.phase(...) as ph:
            logging.getLogger("orders").info("fetched %d orders", n)
    """

    def __init__(self, phase: Optional["Phase"] = None, level: Union[int, str] = logging.NOTSET) -> None:
        super().__init__(level)
        self.phase = phase

    def emit(self, record: logging.LogRecord) -> None:
        if sending():
            # Our own upload's records: recording them would upload again.
            return
        phase = self.phase if self.phase is not None else current_phase()
        if phase is None:
            return
        try:
            phase._add_log_record(record, self.format(record))
        except Exception:
            self.handleError(record)
