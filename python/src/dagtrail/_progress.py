"""What a progress callback is told, and a way to keep telling it while a
call that says nothing (a commit) runs.

This module imports nothing of the package, so that every other module may
import it.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, List, TypeVar

__all__ = ["Progress", "WRITING", "COMMITTING", "run_reporting"]

#: ``Progress.stage`` while a ``write`` sends parts.
WRITING = "writing"
#: ``Progress.stage`` while the server commits the attempt.
COMMITTING = "committing"

T = TypeVar("T")


class Progress(int):
    """What a progress callback is called with: an ``int``, the rows, with
    what is going on as attributes.

    An ``int`` so that callbacks written for ``progress(rows_sent)`` keep
    working unchanged (``f"{rows:,}"``, ``bar.update(rows - bar.n)``); a
    callback that wants more reads ``stage`` and ``elapsed``.

    Attributes:
        stage: ``"writing"`` after each data part a ``write`` call staged
            (the value: the rows that call has sent so far), or
            ``"committing"`` every few seconds while the server commits the
            attempt (the value: the rows staged by the phase), which it
            says nothing about until it answers.
        elapsed: Seconds since the ``write`` call, or the commit, began.
    """

    stage: str
    elapsed: float

    def __new__(cls, rows: int, stage: str = WRITING, elapsed: float = 0.0) -> "Progress":
        value = super().__new__(cls, rows)
        value.stage = stage
        value.elapsed = float(elapsed)
        return value

    @property
    def rows(self) -> int:
        """The rows, as a plain ``int``."""
        return int(self)

    def __repr__(self) -> str:
        return f"Progress({int(self)}, stage={self.stage!r}, elapsed={self.elapsed:.1f})"


def run_reporting(call: Callable[[], T], tick: Callable[[float], None], every: float) -> T:
    """Runs ``call`` and answers what it returns (or raises what it
    raises), calling ``tick(seconds_elapsed)`` every ``every`` seconds
    until it is done.

    ``call`` runs in a helper thread and ``tick`` in this one, so that the
    callbacks a tick calls run in the thread that called, as those of
    ``write`` do, and nothing the reporting does can cut the call short:
    the call is never interrupted, only watched. (A tick that raises stops
    the watching, and the exception propagates while the call goes on in
    its daemon thread: ticks should not raise.)
    """
    result: List[T] = []
    failure: List[BaseException] = []
    done = threading.Event()

    def run() -> None:
        try:
            result.append(call())
        except BaseException as e:  # handed to the caller's thread as it is
            failure.append(e)
        finally:
            done.set()

    began = time.monotonic()
    thread = threading.Thread(target=run, name="dagtrail-commit", daemon=True)
    thread.start()
    ticks = 0
    while True:
        ticks += 1
        # On a schedule, not `every` after each tick: a slow tick does not
        # make the reports drift.
        if done.wait(max(0.0, began + ticks * every - time.monotonic())):
            break
        tick(time.monotonic() - began)
    thread.join()
    if failure:
        raise failure[0]
    return result[0]
