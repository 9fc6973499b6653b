"""The API's vocabulary, shared by the client's modules: the phases, kinds
and statuses it takes, the types of its arguments, and its answers as
``TypedDict``s.

Each answer type mirrors the schema of the same name in the server's
OpenAPI document (``GET /api/v1/openapi.json``; tests/test_types.py checks
them against the running server's): a key the schema requires is a key of
the class, one it does not is a key of its ``total=False`` subclass (the
server may leave it out), and a nullable value is ``Optional``. Dates and
times are the strings the server sends (``YYYY-MM-DD``, RFC 3339).

This module imports nothing of the package, so that every other module may
import it.
"""

# No `from __future__ import annotations` here: the test reads the
# classes' annotations at run time, as real types.

import datetime as _dt
import uuid
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, TypedDict, Union

__all__ = [
    "PHASES",
    "KINDS",
    "STATUSES",
    "DagId",
    "RunDate",
    "Body",
    "check_choice",
    "StagedAttempt",
    "PartStaged",
    "AttemptCommitted",
    "EventRecorded",
    "EventResponse",
    "DagSummary",
    "DagsResponse",
    "LastRun",
    "LastFailure",
    "SearchRunResult",
    "SearchRunsResponse",
    "PhaseSummary",
    "PhaseStatus",
    "ParquetPageResponse",
    "ColumnInfo",
]

#: The phases of a run that the write API takes attempts of.
PHASES = ("extract", "transform", "load")
#: The kinds of parts of an attempt.
KINDS = ("data", "errors", "logs")
#: How a phase (or the event) ended.
STATUSES = ("success", "failed", "pending")

#: A DAG's UUID, as a ``uuid.UUID`` or its text.
DagId = Union[str, uuid.UUID]
#: A run's partition date, as a date (a datetime's date) or ``YYYY-MM-DD``.
RunDate = Union[str, _dt.date]
#: A request body: bytes, or a function returning an iterable of bytes (a
#: streamed body, called anew for each try).
Body = Union[bytes, Callable[[], Iterable[bytes]]]


def check_choice(value: str, allowed: Sequence[str], what: str) -> str:
    """``value`` when it is one of ``allowed``; else a ``ValueError``
    naming ``what`` and the choices (raised before anything is sent)."""
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}, not {value!r}")
    return value


# -- attempts -----------------------------------------------------------------


class StagedAttempt(TypedDict):
    """An open attempt and the parts staged so far, by kind (part numbers,
    ascending from 1): the answer of ``open_attempt`` and
    ``staged_attempt``."""

    attempt: int
    resumed: bool
    data: List[int]
    errors: List[int]
    logs: List[int]


class PartStaged(TypedDict):
    """A part as staged: the answer of ``upload_part``."""

    kind: str
    part: int
    rows: int


class _AttemptCommittedRequired(TypedDict):
    phase: str
    attempt: int
    message: str
    total: int
    data_rows: int
    data_files: int
    error_count: int
    log_count: int


class AttemptCommitted(_AttemptCommittedRequired, total=False):
    """A committed attempt: the answer of ``commit_attempt`` (and
    ``Phase.commit``, ``Phase.committed``). ``success`` is ``None`` for a
    pending phase."""

    success: Optional[bool]
    started_at: Optional[str]
    finished_at: Optional[str]


# -- reading pages ------------------------------------------------------------


class ColumnInfo(TypedDict):
    """A column of a page: its name and its Arrow type as text (``int64``,
    ``utf8``, ``timestamp[us, tz=UTC]``, ...)."""

    name: str
    type: str


class ParquetPageResponse(TypedDict):
    """A page of a committed attempt's rows (or of an event's): the answer
    of ``read_page``. ``rows`` are JSON objects keyed by column name."""

    columns: List[ColumnInfo]
    rows: List[Dict[str, Any]]
    page: int
    limit: int
    total: int
    has_more: bool


# -- events -------------------------------------------------------------------


class EventRecorded(TypedDict):
    """The event as recorded: the answer of ``event`` (0 rows: that file
    was not written)."""

    queue_data_rows: int
    event_rows: int


class EventResponse(TypedDict, total=False):
    """Both event files of a run, each a page of rows or ``None``: the
    answer of ``get_event``."""

    queue_data: Optional[ParquetPageResponse]
    event: Optional[ParquetPageResponse]


# -- runs ---------------------------------------------------------------------


class PhaseStatus(TypedDict, total=False):
    """A phase's outcome: ``success`` is ``None`` while it runs (or is
    pending)."""

    success: Optional[bool]
    message: Optional[str]
    total: Optional[int]


class _PhaseSummaryRequired(TypedDict):
    status: PhaseStatus


class PhaseSummary(_PhaseSummaryRequired, total=False):
    """One phase of a run, as the run index holds it."""

    attempt: Optional[int]
    started_at: Optional[str]
    finished_at: Optional[str]
    s3_data_path: Optional[str]


class _SearchRunResultRequired(TypedDict):
    dag_id: str
    date: str
    run_id: str
    created_at: str
    updated_at: str


class SearchRunResult(_SearchRunResultRequired, total=False):
    """One run and its phases (a phase not recorded is ``None``): the
    answer of ``get_run``, and the items of ``list_runs``."""

    extract: Optional[PhaseSummary]
    transform: Optional[PhaseSummary]
    load: Optional[PhaseSummary]
    event: Optional[PhaseSummary]


class _SearchRunsResponseRequired(TypedDict):
    items: List[SearchRunResult]
    page: int
    limit: int
    total: int
    total_exact: bool
    has_more: bool
    dag_known: bool


class SearchRunsResponse(_SearchRunsResponseRequired, total=False):
    """A page of runs, the newest first: the answer of ``list_runs``.
    ``next_cursor`` is the next page's cursor (``cursor=``), ``None`` on
    the last page."""

    next_cursor: Optional[str]


# -- the catalog --------------------------------------------------------------


class _LastRunRequired(TypedDict):
    date: str
    run_id: str
    created_at: str


class LastRun(_LastRunRequired, total=False):
    """A DAG's newest run; ``status`` is ``failed``, ``running`` or
    ``succeeded``."""

    status: Optional[str]
    extract: Optional[PhaseSummary]
    transform: Optional[PhaseSummary]
    load: Optional[PhaseSummary]
    event: Optional[PhaseSummary]


class _LastFailureRequired(TypedDict):
    date: str
    run_id: str
    phase: str


class LastFailure(_LastFailureRequired, total=False):
    """A DAG's newest failure: the phase that failed, and why."""

    message: Optional[str]


class _DagSummaryRequired(TypedDict):
    dag_id: str
    tags: List[str]
    runs: int
    runs_in_window: int
    failed_in_window: int


class DagSummary(_DagSummaryRequired, total=False):
    """One DAG of the fleet, with its catalog entry: the answer of
    ``describe_dag``, and the items of ``list_dags``."""

    name: Optional[str]
    description: Optional[str]
    owner: Optional[str]
    first_seen: Optional[str]
    last_seen: Optional[str]
    last_run: Optional[LastRun]
    last_failure: Optional[LastFailure]


class DagsResponse(TypedDict):
    """The fleet, every DAG of the token's company: the answer of
    ``list_dags``. ``since`` is the window's first run date."""

    items: List[DagSummary]
    total: int
    since: str
