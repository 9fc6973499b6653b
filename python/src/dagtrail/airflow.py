"""dagtrail for Airflow tasks: the DAG, the run and the server taken from
the task's context and an Airflow connection.

A task body::

    from dagtrail.airflow import phase

    @task
    def extract():
        with phase("extract") as ph:
            ph.write(fetch_orders())

What is derived, from the running task's context (Airflow's
``get_current_context()``):

- the DAG's UUID: ``uuid.uuid5(NAMESPACE, dag_id)``, so that every run of
  one Airflow DAG lands under one dagtrail DAG. ``NAMESPACE`` is the
  constant below; set ``DAGTRAIL_DAG_NAMESPACE`` (a UUID) or pass
  ``namespace=`` to keep another deployment's DAGs apart;
- the DAG's catalog entry: its name (Airflow's ``dag_id``), tags,
  description and owner;
- the run's date: the date (UTC) of the data interval's start, else of
  the logical date, else of the DAG run's ``run_after`` (Airflow 3's
  manual runs have neither of the first two); ``date=`` overrides;
- the run id: Airflow's ``run_id``.

The server: an Airflow connection (conn id ``dagtrail_default``, type
``dagtrail``: host, port and schema (``http``/``https``) make the URL, the
password is the token; extras ``timeout``, ``verify`` and ``strict``), or
the ``DAGTRAIL_URL`` and ``DAGTRAIL_TOKEN`` environment variables. Without
``conn_id``, the environment variables are used when ``DAGTRAIL_URL`` is
set, the ``dagtrail_default`` connection otherwise.

Best-effort (the default), dagtrail never fails the task: a server that is
down or refuses, and a server that is not configured at all, are logged as
a WARNING and the task runs on without recording (see ``Client``). The
connection's extra ``strict`` (else ``DAGTRAIL_STRICT``) set to true makes
every such failure raise, and the task fail. Using these helpers outside a
task (no context, no date) is the caller's mistake, and raises.

This module imports Airflow only when a function needs it, so it imports
without Airflow installed (for tests, or ``run_info`` on a context made
by hand).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import logging
import os
import uuid
from typing import Any, Dict, List, Mapping, NoReturn, Optional, Sequence, Tuple, Union
from urllib.parse import urlsplit, urlunsplit

from ._client import Client, env_strict, event_not_recorded, flag
from ._errors import TransportError, failure_text
from ._phase import Phase, PhaseClient
from ._types import EventRecorded, RunDate

__all__ = [
    "NAMESPACE",
    "DEFAULT_CONN_ID",
    "RunInfo",
    "dag_uuid",
    "run_info",
    "current_context",
    "server",
    "client",
    "phase",
    "event",
]

#: The namespace of the DAGs' UUIDs: ``uuid5(NAMESPACE, airflow_dag_id)``.
#: A constant, so that a DAG keeps its UUID across deployments and
#: versions; ``DAGTRAIL_DAG_NAMESPACE`` replaces it.
NAMESPACE = uuid.UUID("77755bbf-be9a-4eda-ab7b-e39470dadb89")

#: The Airflow connection used when none is named.
DEFAULT_CONN_ID = "dagtrail_default"

log = logging.getLogger("dagtrail")


@dataclasses.dataclass(frozen=True)
class RunInfo:
    """Where a task's records go.

    Attributes:
        dag_id: The dagtrail DAG's UUID.
        dag_name: Airflow's ``dag_id``.
        date: The run's partition date.
        run_id: Airflow's ``run_id``.
        tags: The DAG's tags.
        description: The DAG's description.
        owner: The DAG's owner(s).
        task_id: The task's id.
        try_number: Airflow's try number of the task.
    """

    dag_id: uuid.UUID
    dag_name: str
    date: _dt.date
    run_id: str
    tags: Optional[List[str]] = None
    description: Optional[str] = None
    owner: Optional[str] = None
    task_id: Optional[str] = None
    try_number: Optional[int] = None


def dag_uuid(airflow_dag_id: str, namespace: Union[None, str, uuid.UUID] = None) -> uuid.UUID:
    """The dagtrail UUID of an Airflow DAG: ``uuid5(namespace,
    airflow_dag_id)``, the namespace being ``namespace``, else
    ``DAGTRAIL_DAG_NAMESPACE``, else ``NAMESPACE``."""
    if namespace is None:
        namespace = os.environ.get("DAGTRAIL_DAG_NAMESPACE") or NAMESPACE
    if not isinstance(namespace, uuid.UUID):
        namespace = uuid.UUID(str(namespace))
    return uuid.uuid5(namespace, airflow_dag_id)


def current_context() -> Mapping[str, Any]:
    """The running task's context (Airflow 3's ``airflow.sdk``, else
    Airflow 2's ``airflow.operators.python``)."""
    try:
        from airflow.sdk import get_current_context
    except ImportError:
        from airflow.operators.python import get_current_context  # type: ignore[no-redef,unused-ignore]
    context: Mapping[str, Any] = get_current_context()
    return context


def _get(context: Mapping[str, Any], key: str) -> Any:
    try:
        return context.get(key)
    except Exception:  # an Airflow 2 Context warns or raises on deprecated keys
        return None


def _utc_date(value: Any) -> Optional[_dt.date]:
    if value is None:
        return None
    if isinstance(value, _dt.datetime):
        moment: _dt.datetime = value
        if moment.tzinfo is not None:
            moment = moment.astimezone(_dt.timezone.utc)
        return moment.date()
    if isinstance(value, _dt.date):
        return value
    return _dt.date.fromisoformat(str(value)[:10])


def _run_date(context: Mapping[str, Any]) -> _dt.date:
    dag_run = _get(context, "dag_run")
    candidates = [
        _get(context, "data_interval_start"),
        getattr(dag_run, "data_interval_start", None),
        _get(context, "logical_date"),
        getattr(dag_run, "logical_date", None),
        getattr(dag_run, "run_after", None),
    ]
    for value in candidates:
        date = _utc_date(value)
        if date is not None:
            return date
    raise ValueError("the task's context has no data interval, logical date or run_after: pass date=")


def _attr(obj: Any, name: str) -> Any:
    try:
        return getattr(obj, name, None)
    except Exception:  # a property that needs what the context lacks
        return None


def run_info(
    context: Optional[Mapping[str, Any]] = None,
    *,
    namespace: Union[None, str, uuid.UUID] = None,
    date: Optional[RunDate] = None,
) -> RunInfo:
    """The DAG, run and date of a task, from its context (default: the
    running task's).

    Args:
        context: An Airflow task context.
        namespace: The DAG UUIDs' namespace (see ``dag_uuid``).
        date: The run's date, instead of the derived one.
    """
    if context is None:
        context = current_context()
    dag = _get(context, "dag")
    dag_run = _get(context, "dag_run")
    ti = _get(context, "ti") or _get(context, "task_instance")
    name = _attr(dag, "dag_id") or _attr(dag_run, "dag_id") or _attr(ti, "dag_id")
    if not name:
        raise ValueError("the task's context names no DAG")
    run_id = _get(context, "run_id") or _attr(dag_run, "run_id")
    if not run_id:
        raise ValueError("the task's context names no run")
    if date is None:
        day = _run_date(context)
    elif isinstance(date, _dt.datetime):
        day = date.date()
    elif isinstance(date, _dt.date):
        day = date
    else:
        day = _dt.date.fromisoformat(str(date))
    tags = _attr(dag, "tags")
    owner = _attr(dag, "owner")
    return RunInfo(
        dag_id=dag_uuid(str(name), namespace),
        dag_name=str(name),
        date=day,
        run_id=str(run_id),
        tags=sorted(str(t) for t in tags) if tags else None,
        description=_attr(dag, "description") or None,
        owner=str(owner) if owner else None,
        task_id=_attr(ti, "task_id"),
        try_number=_attr(ti, "try_number"),
    )


def _connection(conn_id: str) -> Any:
    try:
        from airflow.sdk import BaseHook
    except ImportError:
        from airflow.hooks.base import BaseHook  # type: ignore[no-redef,attr-defined,unused-ignore]
    return BaseHook.get_connection(conn_id)


def _connection_url(conn: Any) -> str:
    host = (conn.host or "").strip()
    if not host:
        raise ValueError(f"the Airflow connection {conn.conn_id!r} has no host")
    if "://" not in host:
        # The schema field holds the URL's scheme, as Airflow's HTTP
        # connections take it.
        host = f"{conn.schema or 'http'}://{host}"
    parts = urlsplit(host)
    netloc = parts.netloc
    if conn.port and parts.port is None:
        netloc = f"{netloc}:{conn.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _extra_options(extra: Mapping[str, Any]) -> Dict[str, Any]:
    """The client's options from a connection's extras: ``timeout``
    (seconds), ``verify`` (a CA bundle's path, or false) and ``strict``
    (true or false, as JSON or text)."""
    options: Dict[str, Any] = {}
    if "timeout" in extra:
        options["timeout"] = float(extra["timeout"])
    if "verify" in extra:
        options["verify"] = extra["verify"]
    if "strict" in extra:
        options["strict"] = flag(extra["strict"], "the dagtrail connection's extra strict")
    return options


def server(
    conn_id: Optional[str] = None,
) -> Tuple[str, Optional[str], Dict[str, Any]]:
    """The server's URL, the token and the client's options (from the
    connection's extras ``timeout``, ``verify``, ``strict``), from the
    Airflow connection ``conn_id`` or, without one, from ``DAGTRAIL_URL``
    and ``DAGTRAIL_TOKEN`` when set, else the ``dagtrail_default``
    connection."""
    env_url = os.environ.get("DAGTRAIL_URL")
    if conn_id is None and env_url:
        return env_url, os.environ.get("DAGTRAIL_TOKEN"), {}
    try:
        conn = _connection(conn_id or DEFAULT_CONN_ID)
    except Exception as e:
        if conn_id is not None:
            raise
        raise RuntimeError(
            "no dagtrail server: set DAGTRAIL_URL and DAGTRAIL_TOKEN, or define the Airflow "
            f"connection {DEFAULT_CONN_ID!r} (type dagtrail: host, port, schema http or https, "
            "password the token)"
        ) from e
    options = _extra_options(getattr(conn, "extra_dejson", None) or {})
    return _connection_url(conn), conn.password or os.environ.get("DAGTRAIL_TOKEN"), options


def client(
    conn_id: Optional[str] = None,
    *,
    url: Optional[str] = None,
    token: Optional[str] = None,
    **options: Any,
) -> Client:
    """A ``Client`` of the server that ``server(conn_id)`` names (``url``
    and ``token`` replace what it says). Other keyword arguments go to
    ``Client``."""
    if url is None:
        url, found_token, found = server(conn_id)
        token = token or found_token
        options = {**found, **options}
    return Client(url, token=token, **options)


class _NoServer:
    """Stands in for the client of a server that could not be found
    (best-effort): every call fails as dagtrail being unreachable, so that
    the phase detaches through its one path, saying why, and the task runs
    on."""

    strict = False
    part_bytes = 64 * 1024 * 1024
    part_rows: Optional[int] = None

    def __init__(self, cause: BaseException) -> None:
        self.cause = cause

    def _fail(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TransportError(failure_text(self.cause)) from self.cause

    describe_dag = open_attempt = abort_attempt = upload_part = commit_attempt = _fail

    def close(self) -> None:
        pass


def phase(
    name: str,
    *,
    context: Optional[Mapping[str, Any]] = None,
    conn_id: Optional[str] = None,
    url: Optional[str] = None,
    token: Optional[str] = None,
    namespace: Union[None, str, uuid.UUID] = None,
    date: Optional[RunDate] = None,
    describe: bool = True,
    dagtrail_client: Optional[Client] = None,
    **phase_options: Any,
) -> Phase:
    """The running task's phase ``name`` (``"extract"``, ``"transform"``
    or ``"load"``), to use as ``with phase("extract") as ph:``.

    Args:
        name: The phase.
        context: The task's context (default: the running task's).
        conn_id: The Airflow connection of the server (see ``server``).
        url, token: The server and token, instead of a connection.
        namespace: The DAG UUIDs' namespace (see ``dag_uuid``).
        date: The run's date, instead of the derived one.
        describe: Record the DAG's catalog entry (name, tags, description,
            owner) on entering.
        dagtrail_client: A client to use (left open at the end); by
            default one is made, and closed when the block ends.
        **phase_options: Passed to ``Client.phase`` (``part_bytes``,
            ``capture_logs=True`` to record the task's logging, ...).

    Best-effort (unless the connection's extra ``strict`` or
    ``DAGTRAIL_STRICT`` says true), no server configured is a WARNING and
    a detached phase, not a failed task.
    """
    info = run_info(context, namespace=namespace, date=date)
    owned = dagtrail_client is None
    the_client: PhaseClient
    if dagtrail_client is not None:
        the_client = dagtrail_client
    else:
        try:
            the_client = client(conn_id, url=url, token=token)
        except Exception as e:
            # No connection, one without a host, no DAGTRAIL_URL: the
            # deployment's to mend, not a reason to fail the task.
            if env_strict():
                raise
            the_client = _NoServer(e)
    catalog: Dict[str, Any] = {}
    if describe:
        catalog = {
            "dag_name": info.dag_name,
            "dag_tags": info.tags,
            "dag_description": info.description,
            "dag_owner": info.owner,
        }
    for key, value in catalog.items():
        phase_options.setdefault(key, value)
    return Phase(
        the_client,
        info.dag_id,
        info.date,
        info.run_id,
        name,
        close_client=owned,
        **phase_options,
    )


def event(
    *,
    queue_data: Union[None, Mapping[str, Any], Sequence[Mapping[str, Any]]] = None,
    event: Union[None, Mapping[str, Any], Sequence[Mapping[str, Any]]] = None,
    status: Optional[str] = None,
    message: Optional[str] = None,
    started_at: Union[None, str, _dt.datetime] = None,
    finished_at: Union[None, str, _dt.datetime] = None,
    context: Optional[Mapping[str, Any]] = None,
    conn_id: Optional[str] = None,
    url: Optional[str] = None,
    token: Optional[str] = None,
    namespace: Union[None, str, uuid.UUID] = None,
    date: Optional[RunDate] = None,
) -> EventRecorded:
    """Records the running task's run's event (see ``Client.event``): the
    message that triggered the run (``queue_data``, e.g. the DAG run's
    ``conf``) and the event as processed.

    Best-effort, when it cannot be recorded (no server configured, or one
    down or refusing), a WARNING says why and it answers both counts 0."""
    info = run_info(context, namespace=namespace, date=date)
    try:
        made = client(conn_id, url=url, token=token)
    except Exception as e:
        if env_strict():
            raise
        log.warning(
            "dagtrail: the event of run %s is not recorded, the task goes on without it: no dagtrail server: %s",
            info.run_id,
            failure_text(e),
        )
        return event_not_recorded()
    with made as c:
        return c.event(
            info.dag_id,
            info.date,
            info.run_id,
            queue_data=queue_data,
            event=event,
            status=status,
            message=message,
            started_at=started_at,
            finished_at=finished_at,
        )
