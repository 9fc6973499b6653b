"""Client of dagtrail's HTTP write API: record a run's phases (their data
rows, errors and logs), its event, and a DAG's catalog entry.

Example::

    import dagtrail

    client = dagtrail.Client("http://127.0.0.1:8080", token=TOKEN)
    with client.phase(dag_id=DAG_UUID, date="2026-11-27",
                      run_id="manual__2026-11-27T10:31:02+00:00",
                      phase="extract", dag_name="orders_daily") as ph:
        ph.write([{"order_id": 1, "customer": "Zoë"}])
        ph.log("INFO", "fetched 1 order")

Airflow tasks use ``dagtrail.airflow.phase``, which takes the DAG, the run
and the server from the task's context and an Airflow connection.

By default a client is best-effort: dagtrail being down or refusing is a
WARNING on the ``dagtrail`` logger, and the task goes on without recording
(``Client(strict=True)`` or ``DAGTRAIL_STRICT=true``: it raises).

The server's answers are typed: ``StagedAttempt``, ``AttemptCommitted``,
``DagSummary``, ... (``TypedDict``s named after the schemas of the server's
OpenAPI document).
"""

from ._client import KINDS, PHASES, Client
from ._errors import (
    AuthError,
    ConflictError,
    DagtrailError,
    NotFoundError,
    PayloadTooLargeError,
    SchemaError,
    ServerError,
    TransportError,
    ValidationError,
)
from ._logging import LogHandler
from ._phase import LEVELS, Phase, current_phase
from ._progress import Progress
from ._types import (
    AttemptCommitted,
    ColumnInfo,
    DagsResponse,
    DagSummary,
    EventRecorded,
    EventResponse,
    LastFailure,
    LastRun,
    ParquetPageResponse,
    PartStaged,
    PhaseStatus,
    PhaseSummary,
    SearchRunResult,
    SearchRunsResponse,
    StagedAttempt,
)
from ._version import __version__

__all__ = [
    "Client",
    "Phase",
    "Progress",
    "LogHandler",
    "current_phase",
    "PHASES",
    "KINDS",
    "LEVELS",
    "DagtrailError",
    "AuthError",
    "NotFoundError",
    "ConflictError",
    "ValidationError",
    "PayloadTooLargeError",
    "ServerError",
    "TransportError",
    "SchemaError",
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
    "__version__",
]
