"""The HTTP client: one method per call of dagtrail's write API (and the
few reads a writer needs), with retries where a call is safe to repeat.

Every write call of the API is safe to repeat by design: ``PATCH`` of a
catalog entry and ``PUT`` of an event replace, ``POST .../attempts``
resumes the open attempt, ``PUT`` of a part replaces it, and a commit
repeated with the same outcome answers the same. So every call is retried
on connection failures and on 502, 503 and 504 (after ``Retry-After`` when
the server sends it), with exponential backoff, each retry logged at DEBUG
on the ``dagtrail`` logger.

Until a client has had one answer from its server, though, a failure to
connect (connection refused, a name that does not resolve) is not retried:
it is most likely a wrong URL, which waiting would not mend. After one,
it is a server restarting under a running pipeline, and is waited out.

A client is best-effort (the default) or strict (``strict=True``, or
``DAGTRAIL_STRICT=true``). Strict, every failure raises. Best-effort, the
calls that record for a pipeline (``describe_dag``, ``event``, and the
phases) log a failure of dagtrail's once as a WARNING on the ``dagtrail``
logger and go on without it, so that dagtrail being away never fails the
task it watches; and the time a call may take is bounded: shorter timeouts,
a timeout is not retried (a server that did not answer in time is treated
as down: trying again would only wait as long again), and the retries of
one call stop after ``retry_time`` seconds. The calls one by one
(``open_attempt``, ``upload_part``, ``commit_attempt``, ...) and the reads
raise in both modes: their callers need their answers.
"""

from __future__ import annotations

import datetime as _dt
import email.utils
import logging
import math
import os
import random
import time
import uuid
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    Iterator,
    List,
    Mapping,
    NamedTuple,
    Optional,
    Sequence,
    TypeVar,
    Union,
)
from urllib.parse import quote

import httpx

from . import _errors
from ._arrow import dumps, rfc3339
from ._errors import DagtrailError, TransportError, failure_text, is_dagtrail_failure
from ._logging import marked_as_sending
from ._phase import Phase
from ._progress import Progress
from ._types import (
    KINDS,
    PHASES,
    STATUSES,
    AttemptCommitted,
    Body,
    DagId,
    DagSummary,
    DagsResponse,
    EventRecorded,
    EventResponse,
    ParquetPageResponse,
    PartStaged,
    RunDate,
    SearchRunResult,
    SearchRunsResponse,
    StagedAttempt,
    check_choice,
)
from ._version import __version__

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["Client", "DagId", "RunDate", "PHASES", "KINDS", "env_strict", "flag", "BEST_EFFORT", "STRICT"]

#: The package's logger: the client logs its retries on it, at DEBUG, and
#: what best-effort mode could not record, at WARNING.
log = logging.getLogger("dagtrail")

T = TypeVar("T")


class Limits(NamedTuple):
    """A mode's default bounds of time, in seconds (see ``Client``)."""

    timeout: float
    upload_timeout: float
    commit_timeout: float
    retry_time: float


#: Best-effort defaults: a server that hangs costs a call ``timeout`` (10 s)
#: once, as a timeout is not retried; one that refuses connections or
#: answers 502/503/504 costs a call ``retry_time`` (10 s) of retries at
#: most. A part's answer may take a minute: the server answers once it has
#: decoded and stored the part. A commit's 10 minutes: the server
#: re-encodes every staged part before it answers, minutes for millions of
#: rows, and says nothing meanwhile (the phase logs how long it has waited).
BEST_EFFORT = Limits(timeout=10.0, upload_timeout=60.0, commit_timeout=600.0, retry_time=10.0)
#: Strict defaults, the client's before best-effort mode: the retries are
#: bounded by their count only (``retries``, ``backoff``, ``Retry-After``).
STRICT = Limits(timeout=30.0, upload_timeout=600.0, commit_timeout=3600.0, retry_time=math.inf)

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")


def flag(value: Any, what: str) -> bool:
    """A yes-or-no setting given as a bool or as text (``true``, ``1``,
    ``yes``, ``on``, or ``false``, ``0``, ``no``, ``off``, any case).

    Raises:
        ValueError: anything else, naming ``what`` (a typo in a setting is
            the deployment's mistake, found on the first run).
    """
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{what} must be true or false, not {value!r}")


def env_strict() -> bool:
    """Whether ``DAGTRAIL_STRICT`` asks for strict mode (unset: no)."""
    return flag(os.environ.get("DAGTRAIL_STRICT", ""), "DAGTRAIL_STRICT")


def event_not_recorded() -> EventRecorded:
    """The answer of an event that best-effort mode could not record: no
    rows in either file (the server never answers that: it refuses an
    event without rows)."""
    return {"queue_data_rows": 0, "event_rows": 0}


_RETRIED_STATUSES = (502, 503, 504)
#: Longest ``Retry-After`` waited, in seconds.
MAX_RETRY_AFTER = 300.0
# The httpx failures after which the same request may be sent again: the
# request may or may not have reached the server, and every call is safe
# to repeat. (An unsupported scheme or a bad URL would fail the same way.)
_RETRIED_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


def _dag_id(dag_id: DagId) -> str:
    return str(dag_id if isinstance(dag_id, uuid.UUID) else uuid.UUID(str(dag_id)))


def _date(date: RunDate) -> str:
    if isinstance(date, _dt.datetime):
        return date.date().isoformat()
    if isinstance(date, _dt.date):
        return date.isoformat()
    return _dt.date.fromisoformat(str(date)).isoformat()


def _time(value: Union[None, str, _dt.datetime]) -> Optional[str]:
    if value is None or isinstance(value, str):
        return value
    # The server keeps phase times to the millisecond: sending no more
    # makes the times it answers the ones sent (a commit repeated with
    # them is then the same outcome).
    return rfc3339(value, timespec="milliseconds")


def _api_base(url: str) -> str:
    url = url.rstrip("/")
    return url if url.endswith("/api/v1") else url + "/api/v1"


def _retry_after(response: httpx.Response) -> Optional[float]:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - _dt.datetime.now(_dt.timezone.utc)).total_seconds())


def _error_from(response: httpx.Response, method: str) -> DagtrailError:
    status = response.status_code
    problem: Optional[Dict[str, Any]] = None
    details: List[Dict[str, Any]] = []
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("detail"), list):
        details = [d for d in body["detail"] if isinstance(d, dict)]
    elif isinstance(body, dict) and ("title" in body or "detail" in body):
        problem = body
    if problem is not None:
        said = f"{problem.get('title', '')}: {problem.get('detail', '')}".strip(": ")
    elif details:
        said = "; ".join(
            f"{'.'.join(str(p) for p in d.get('loc', []))}: {d.get('msg', '')}" for d in details
        )
    else:
        said = (response.text or response.reason_phrase)[:500]
    path = response.request.url.raw_path.decode("ascii", "replace")
    # The server's id of the request, on every answer and in its log line:
    # what a user quotes to the operator.
    request_id = response.headers.get("x-request-id")
    message = f"{method} {path}: {status} {said}"
    if request_id:
        message += f" (request id {request_id})"
    cls: type
    if status in (401, 403):
        cls = _errors.AuthError
    elif status == 404:
        cls = _errors.NotFoundError
    elif status == 409:
        cls = _errors.ConflictError
    elif status == 413:
        cls = _errors.PayloadTooLargeError
    elif status == 422:
        cls = _errors.ValidationError
    elif status >= 500:
        cls = _errors.ServerError
    else:
        cls = DagtrailError
    return cls(
        message,
        status=status,
        problem=problem,
        details=details,
        method=method,
        url=str(response.request.url),
        headers={k.lower(): v for k, v in response.headers.items()},
        request_id=request_id or None,
    )


class Client:
    """A client of one dagtrail server.

    Args:
        base_url: The server's address, ``http://host:port`` (``/api/v1``
            is added unless given).
        token: A JWT whose scope holds ``runs:write`` (``dagtrail token
            --scope runs:write``); default: the ``DAGTRAIL_TOKEN``
            environment variable. Reading needs no scope.
        strict: Whether a failure of dagtrail's (no answer, or the
            server's refusal) raises, failing the task (``True``), or is
            logged once as a WARNING while the task goes on without
            dagtrail (``False``, best-effort); default:
            ``DAGTRAIL_STRICT`` (unset: best-effort). A mistake of the
            caller's (a bad argument) raises in both modes.
        timeout: Seconds for an ordinary call (each of connect, read,
            write); default 10 best-effort, 30 strict.
        upload_timeout: Seconds to wait for a part's answer once sent (the
            server decodes the part as it arrives, and answers at its end);
            default 60 best-effort, 600 strict.
        commit_timeout: Seconds to wait for a commit's answer: the server
            re-encodes every staged part into the attempt's Parquet files
            before it answers; default 600 best-effort, 3600 strict.
        retry_time: Seconds one call may spend retrying after its first
            failure (``math.inf``: no bound but ``retries``); default 10
            best-effort, none strict. A retry whose wait would end past it
            (a long ``Retry-After`` too) is not made.
        retries: Tries after the first, on connection failures and on
            502/503/504 (a failure to connect only once the server has
            answered this client: before, it fails at once; a timeout only
            in strict mode).
        backoff: Seconds before the first retry; doubled for each next
            (with jitter), at most ``max_backoff``.
        max_backoff: Longest backoff between tries (a ``Retry-After`` of
            the server's is waited out, up to 5 minutes).
        part_bytes: Default largest part a ``Phase`` uploads, in bytes of
            Arrow data (the server's own limit is 1 GiB by default).
        part_rows: Default most rows of one part (``None``: no limit but
            ``part_bytes``).
        verify: TLS verification, as httpx takes it.
        headers: Extra headers sent with every request.
        http_client: An ``httpx.Client`` to use instead of one of its own
            (its base URL and auth are left alone; the token is sent per
            request).

    The client is thread-safe, and a context manager (closing its
    connections at the end).

    Raises:
        ValueError: ``DAGTRAIL_STRICT`` is neither true nor false.
    """

    def __init__(
        self,
        base_url: str,
        token: Optional[str] = None,
        *,
        strict: Optional[bool] = None,
        timeout: Optional[float] = None,
        upload_timeout: Optional[float] = None,
        commit_timeout: Optional[float] = None,
        retry_time: Optional[float] = None,
        retries: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        part_bytes: int = 64 * 1024 * 1024,
        part_rows: Optional[int] = None,
        verify: Union[bool, str] = True,
        headers: Optional[Mapping[str, str]] = None,
        http_client: Optional[httpx.Client] = None,
    ) -> None:
        if token is None:
            token = os.environ.get("DAGTRAIL_TOKEN")
        self.base_url = _api_base(base_url)
        self.strict = env_strict() if strict is None else bool(strict)
        limits = STRICT if self.strict else BEST_EFFORT
        self.timeout = limits.timeout if timeout is None else timeout
        self.upload_timeout = limits.upload_timeout if upload_timeout is None else upload_timeout
        self.commit_timeout = limits.commit_timeout if commit_timeout is None else commit_timeout
        self.retry_time = limits.retry_time if retry_time is None else retry_time
        self.retries = max(0, int(retries))
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.part_bytes = int(part_bytes)
        self.part_rows = part_rows
        self._headers: Dict[str, str] = {"User-Agent": f"dagtrail-python/{__version__}"}
        self._headers.update(headers or {})
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._own_http = http_client is None
        self._http = http_client or httpx.Client(timeout=self.timeout, verify=verify)
        # Whether the server has answered this client once (any status):
        # until it has, a failure to connect is not retried.
        self._answered = False

    # -- plumbing --------------------------------------------------------

    def close(self) -> None:
        """Closes the client's connections (not a given ``http_client``)."""
        if self._own_http:
            self._http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"dagtrail.Client({self.base_url!r})"

    def _retry_wait(
        self,
        method: str,
        path: str,
        try_number: int,
        failure: str,
        response: Optional[httpx.Response],
        retrying_since: float,
    ) -> bool:
        """Waits before the next try and answers ``True``; or answers
        ``False`` at once when the tries are spent, or when the wait would
        end past ``retry_time`` since the call's first failure."""
        if try_number >= self.retries:
            return False
        wait = min(self.max_backoff, self.backoff * (2**try_number))
        wait = random.uniform(wait / 2, wait)
        if response is not None:
            after = _retry_after(response)
            if after is not None:
                # The server knows when it will have room: wait that long
                # (within reason), however short the backoff would be.
                wait = max(wait, min(after, MAX_RETRY_AFTER))
        spent = time.monotonic() - retrying_since
        if spent + wait > self.retry_time:
            log.debug(
                "%s %s: try %d of %d failed (%s), not retried: %.1f s of retrying spent, retry_time is %g s",
                method,
                path,
                try_number + 1,
                self.retries + 1,
                failure,
                spent + wait,
                self.retry_time,
            )
            return False
        log.debug(
            "%s %s: try %d of %d failed (%s), retrying in %.2f s",
            method,
            path,
            try_number + 1,
            self.retries + 1,
            failure,
            wait,
        )
        time.sleep(wait)
        return True

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        body: Optional[Body] = None,
        content_type: Optional[str] = None,
        params: Optional[Mapping[str, Any]] = None,
        timeout: Optional[float] = None,
        accept: Optional[str] = None,
    ) -> httpx.Response:
        """Sends a request to ``/api/v1{path}``, retrying as the module
        says, and answers the successful response.

        Args:
            method: The HTTP method.
            path: The path under ``/api/v1``, its segments percent-encoded.
            json: A JSON body (encoded with datetimes as RFC 3339).
            body: Bytes, or a function returning an iterable of bytes (a
                streamed body; called anew for each try).
            content_type: The body's media type.
            params: Query parameters.
            timeout: Seconds to wait for the answer (default ``timeout``).
            accept: An ``Accept`` header.

        Raises:
            AuthError, NotFoundError, ConflictError, ValidationError,
            PayloadTooLargeError, ServerError, DagtrailError: as the
                server answered (``request_id`` the answer's
                ``X-Request-Id``).
            TransportError: no answer on any try, or within
                ``retry_time``; or, before the server ever answered this
                client, no connection on the first; or, best-effort, no
                answer within the timeout (not retried).
        """
        url = self.base_url + path
        headers = dict(self._headers)
        if accept:
            headers["Accept"] = accept
        content: Any = None
        if json is not None:
            content = dumps(json).encode("utf-8")
            headers["Content-Type"] = "application/json"
        elif body is not None and content_type:
            headers["Content-Type"] = content_type
        read = timeout if timeout is not None else self.timeout
        limits = httpx.Timeout(self.timeout, read=read, write=max(self.timeout, read))
        last: Optional[BaseException] = None
        # When the first try failed: retry_time counts from there, so that
        # a commit whose answer took minutes may still be retried once.
        retrying_since: Optional[float] = None
        with marked_as_sending():
            for try_number in range(self.retries + 1):
                if body is not None:
                    content = body if isinstance(body, (bytes, bytearray)) else body()
                began = time.monotonic()
                try:
                    response = self._http.request(
                        method, url, content=content, headers=headers, params=params, timeout=limits
                    )
                except _RETRIED_ERRORS as e:
                    last = e
                    if isinstance(e, httpx.ConnectError) and not self._answered:
                        # Never answered: a wrong URL (or a server not
                        # started), which the retries would only make the
                        # caller wait on.
                        raise TransportError(
                            f"{method} {path}: cannot connect to {self.base_url}: {e!r} "
                            "(not retried: the server has not answered this client yet)",
                            method=method,
                            url=url,
                        ) from e
                    if isinstance(e, httpx.TimeoutException) and not self.strict:
                        # A server that did not answer in time would most
                        # likely make the next try wait as long: a task
                        # waits one timeout for a hung server, not six.
                        raise TransportError(
                            f"{method} {path}: no answer in time: {e!r} after "
                            f"{time.monotonic() - began:.1f} s (not retried in best-effort mode)",
                            method=method,
                            url=url,
                        ) from e
                    if retrying_since is None:
                        retrying_since = time.monotonic()
                    if self._retry_wait(method, path, try_number, repr(e), None, retrying_since):
                        continue
                    raise TransportError(
                        f"{method} {path}: no answer after {try_number + 1} tries"
                        f"{self._spent(retrying_since)}: {e!r}",
                        method=method,
                        url=url,
                    ) from e
                self._answered = True
                if response.status_code in _RETRIED_STATUSES:
                    if retrying_since is None:
                        retrying_since = time.monotonic()
                    said = f"{response.status_code} {response.reason_phrase}"
                    if response.headers.get("x-request-id"):
                        said += f", request id {response.headers['x-request-id']}"
                    if self._retry_wait(method, path, try_number, said, response, retrying_since):
                        continue
                if response.is_success:
                    return response
                error = _error_from(response, method)
                if last is not None:
                    error.__cause__ = last
                raise error
            raise AssertionError("unreachable")  # pragma: no cover

    def _spent(self, retrying_since: float) -> str:
        """What the message of a call that gave up says of retry_time."""
        spent = time.monotonic() - retrying_since
        if math.isinf(self.retry_time):
            return ""
        return f" ({spent:.1f} s of retrying, retry_time {self.retry_time:g} s)"

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        try:
            return response.json()
        except ValueError as e:
            # Not dagtrail's answer (a proxy's login page, another service
            # on that port): a failure of talking to dagtrail, and said so,
            # rather than a JSON error out of the caller's call.
            raise DagtrailError(
                f"{method} {path}: {response.status_code} answered, but not with JSON "
                f"({response.headers.get('content-type', 'no content type')}): is {self.base_url} dagtrail?",
                status=response.status_code,
                method=method,
                url=str(response.request.url),
                headers={k.lower(): v for k, v in response.headers.items()},
                request_id=response.headers.get("x-request-id") or None,
            ) from e

    def _recorded(self, what: str, strict: Optional[bool], call: Callable[[], T], nothing: T) -> T:
        """``call()``; or, best-effort, when it fails for dagtrail's
        reasons, a WARNING naming ``what`` and why, and ``nothing``."""
        try:
            return call()
        except Exception as e:
            if (self.strict if strict is None else strict) or not is_dagtrail_failure(e):
                raise
            # Marked as the client's own, so that a LogHandler leaves it out.
            with marked_as_sending():
                log.warning("dagtrail: %s is not recorded, the task goes on without it: %s", what, failure_text(e))
            return nothing

    @staticmethod
    def run_path(dag_id: DagId, date: RunDate, run_id: str) -> str:
        """``/dags/{dag_id}/runs/{date}/{run_id}``, the run id encoded as
        one path segment (an Airflow run id holds ``:`` and ``+``; any
        other may hold ``/``)."""
        return f"/dags/{_dag_id(dag_id)}/runs/{_date(date)}/{quote(str(run_id), safe='')}"

    def _attempts_path(self, dag_id: DagId, date: RunDate, run_id: str, phase: str) -> str:
        check_choice(phase, PHASES, "phase")
        return f"{self.run_path(dag_id, date, run_id)}/phases/{phase}/attempts"

    # -- the catalog and events -----------------------------------------

    def describe_dag(
        self,
        dag_id: DagId,
        name: Optional[str] = None,
        *,
        description: Optional[str] = None,
        tags: Optional[Sequence[str]] = None,
        owner: Optional[str] = None,
        strict: Optional[bool] = None,
    ) -> DagSummary:
        """Records a DAG's catalog entry (``PATCH /dags/{dag_id}``): the
        fields given replace the recorded ones, the others are kept.

        Args:
            dag_id: The DAG's UUID.
            name: The name people know it by (Airflow's ``dag_id``).
            description: What it does.
            tags: Its tags (at most 50); an empty list keeps the recorded.
            owner: Who owns it.
            strict: Raise on a failure of dagtrail's (default: the
                client's mode).

        Returns:
            The DAG as ``GET /dags`` lists it (``dag_id``, ``name``,
            ``tags``, ``runs``, ``last_run``, ...). Best-effort, when it
            could not be recorded (a WARNING says why): the entry as given,
            with every count 0, as nothing is known of its runs.
        """
        entry: Dict[str, Any] = {}
        if name is not None:
            entry["name"] = name
        if description is not None:
            entry["description"] = description
        if tags is not None:
            entry["tags"] = list(tags)
        if owner is not None:
            entry["owner"] = owner
        dag = _dag_id(dag_id)
        nothing: DagSummary = {
            "dag_id": dag,
            "tags": list(tags or []),
            "runs": 0,
            "runs_in_window": 0,
            "failed_in_window": 0,
        }
        if name is not None:
            nothing["name"] = name
        if description is not None:
            nothing["description"] = description
        if owner is not None:
            nothing["owner"] = owner

        def record() -> DagSummary:
            result: DagSummary = self._json("PATCH", f"/dags/{dag}", json=entry)
            return result

        return self._recorded(f"the catalog entry of DAG {dag}", strict, record, nothing)

    def event(
        self,
        dag_id: DagId,
        date: RunDate,
        run_id: str,
        *,
        queue_data: Union[None, Mapping[str, Any], Sequence[Mapping[str, Any]]] = None,
        event: Union[None, Mapping[str, Any], Sequence[Mapping[str, Any]]] = None,
        status: Optional[str] = None,
        message: Optional[str] = None,
        started_at: Union[None, str, _dt.datetime] = None,
        finished_at: Union[None, str, _dt.datetime] = None,
        strict: Optional[bool] = None,
    ) -> EventRecorded:
        """Records a run's event (``PUT .../runs/{date}/{run_id}/event``):
        the raw trigger message and the processed event, each one JSON
        object or a list of them (at least one of the two). Recording it
        again replaces it.

        Args:
            dag_id: The DAG's UUID.
            date: The run's partition date (``YYYY-MM-DD`` or a date).
            run_id: The run id (Airflow's ``run_id``).
            queue_data: The trigger message(s): ``queue_data.parquet``.
            event: The processed event(s): ``event.parquet``.
            status: ``"success"`` (default), ``"failed"`` or ``"pending"``.
            message: A status message.
            started_at: When the event was received.
            finished_at: When it was processed (default now, unless
                pending).
            strict: Raise on a failure of dagtrail's (default: the
                client's mode).

        Returns:
            ``{"queue_data_rows": n, "event_rows": n}``. Best-effort, when
            it could not be recorded (a WARNING says why), both 0: nothing
            was written (the server never answers that of an event it
            took, as it refuses one without rows).
        """
        record: Dict[str, Any] = {}
        if queue_data is not None:
            record["queue_data"] = queue_data if isinstance(queue_data, Mapping) else list(queue_data)
        if event is not None:
            record["event"] = event if isinstance(event, Mapping) else list(event)
        if status is not None:
            record["status"] = check_choice(status, STATUSES, "status")
        if message is not None:
            record["message"] = message
        if started_at is not None:
            record["started_at"] = _time(started_at)
        if finished_at is not None:
            record["finished_at"] = _time(finished_at)
        path = self.run_path(dag_id, date, run_id) + "/event"

        def send() -> EventRecorded:
            result: EventRecorded = self._json("PUT", path, json=record)
            return result

        return self._recorded(f"the event of run {run_id}", strict, send, event_not_recorded())

    # -- attempts ---------------------------------------------------------

    def open_attempt(
        self,
        dag_id: DagId,
        date: RunDate,
        run_id: str,
        phase: str,
        attempt: Optional[int] = None,
    ) -> StagedAttempt:
        """Opens an attempt of a phase, or resumes it when it is open.

        Without ``attempt``, the next one (``POST .../attempts``: the one
        after the newest the server knows); with it, that one (``PUT
        .../attempts/{n}``).

        Returns:
            ``{"attempt": n, "resumed": bool, "data": [...], "errors":
            [...], "logs": [...]}``: the part numbers staged so far, by
            kind.
        """
        path = self._attempts_path(dag_id, date, run_id, phase)
        if attempt is None:
            result: StagedAttempt = self._json("POST", path)
        else:
            result = self._json("PUT", f"{path}/{int(attempt)}")
        return result

    def staged_attempt(
        self, dag_id: DagId, date: RunDate, run_id: str, phase: str, attempt: int
    ) -> StagedAttempt:
        """An open attempt and its staged parts (``GET .../attempts/{n}``).

        Raises:
            NotFoundError: the attempt is not open (never opened,
                committed or aborted).
        """
        path = f"{self._attempts_path(dag_id, date, run_id, phase)}/{int(attempt)}"
        result: StagedAttempt = self._json("GET", path)
        return result

    def abort_attempt(self, dag_id: DagId, date: RunDate, run_id: str, phase: str, attempt: int) -> None:
        """Aborts an open attempt, dropping its staged parts (``DELETE
        .../attempts/{n}``). Aborting one that is not open is a no-op.

        Raises:
            ConflictError: the attempt is committed.
        """
        path = f"{self._attempts_path(dag_id, date, run_id, phase)}/{int(attempt)}"
        try:
            self.request("DELETE", path)
        except _errors.NotFoundError:
            # Gone already: aborted by a try whose answer was lost.
            pass

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
    ) -> PartStaged:
        """Uploads one part of an open attempt (``PUT
        .../attempts/{n}/{kind}/{part}``). Parts of a kind count from 1 and
        come in order; putting a part again replaces it.

        Args:
            kind: ``"data"``, ``"errors"`` or ``"logs"``.
            part: The part number.
            body: The rows: bytes, or a function returning an iterable of
                bytes (streamed; called anew on a retry).
            content_type: ``application/x-ndjson``, ``text/csv``,
                ``application/vnd.apache.parquet`` or
                ``application/vnd.apache.arrow.stream``.

        Returns:
            ``{"kind": ..., "part": n, "rows": n}``.

        Raises:
            ValidationError: a row the server refused (the problem names
                the part, and for text the line).
            ConflictError: out of order (a part before it is missing).
            PayloadTooLargeError: over the server's part size limit.
            NotFoundError: the attempt is not open.
        """
        check_choice(kind, KINDS, "kind")
        path = f"{self._attempts_path(dag_id, date, run_id, phase)}/{int(attempt)}/{kind}/{int(part)}"
        result: PartStaged = self._json(
            "PUT", path, body=body, content_type=content_type, timeout=self.upload_timeout
        )
        return result

    def commit_attempt(
        self,
        dag_id: DagId,
        date: RunDate,
        run_id: str,
        phase: str,
        attempt: int,
        *,
        status: str = "success",
        message: Optional[str] = None,
        total: Optional[int] = None,
        started_at: Union[None, str, _dt.datetime] = None,
        finished_at: Union[None, str, _dt.datetime] = None,
    ) -> AttemptCommitted:
        """Commits an open attempt (``POST .../attempts/{n}/commit``): its
        parts become the attempt's files, readable at once, whole.
        Committing again with the same outcome answers the same.

        Args:
            status: ``"success"``, ``"failed"`` or ``"pending"``.
            message: A status message.
            total: Rows the phase produced (default: the data rows staged).
            started_at: When the phase started.
            finished_at: When it finished (default now, unless pending).

        Returns:
            ``{"phase", "attempt", "success", "message", "total",
            "started_at", "finished_at", "data_rows", "data_files",
            "error_count", "log_count"}``.

        Raises:
            ConflictError: committed already with another outcome.
            NotFoundError: the attempt is not open.
        """
        outcome: Dict[str, Any] = {"status": check_choice(status, STATUSES, "status")}
        if message is not None:
            outcome["message"] = message
        if total is not None:
            outcome["total"] = int(total)
        if started_at is not None:
            outcome["started_at"] = _time(started_at)
        if finished_at is not None:
            outcome["finished_at"] = _time(finished_at)
        path = f"{self._attempts_path(dag_id, date, run_id, phase)}/{int(attempt)}/commit"
        result: AttemptCommitted = self._json("POST", path, json=outcome, timeout=self.commit_timeout)
        return result

    def phase(
        self,
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
        schema: Optional["pa.Schema"] = None,
        part_bytes: Optional[int] = None,
        part_rows: Optional[int] = None,
        batch_rows: int = 65536,
        log_batch: int = 1000,
        error_batch: int = 1000,
        progress: Optional[Callable[[Progress], Any]] = None,
        capture_logs: Union[None, bool, str, Any] = None,
        capture_level: Union[int, str] = "INFO",
    ) -> Phase:
        """An attempt of one phase of a run, to use as a context manager::

            with client.phase(dag_id=..., date="2026-11-27", run_id=...,
                              phase="extract", dag_name="orders_daily") as ph:
                ph.write(rows)

        Entering opens the attempt (and records the DAG's catalog entry
        when a ``dag_*`` is given); leaving commits it, successful, or
        failed with the exception as an error row (then re-raises it).
        Best-effort, a failure of dagtrail's detaches the phase instead of
        raising: the block runs on, what it writes is counted, not sent.
        See ``Phase`` for the arguments.
        """
        return Phase(
            self,
            dag_id,
            date,
            run_id,
            phase,
            dag_name=dag_name,
            dag_tags=dag_tags,
            dag_description=dag_description,
            dag_owner=dag_owner,
            attempt=attempt,
            resume=resume,
            schema=schema,
            part_bytes=part_bytes,
            part_rows=part_rows,
            batch_rows=batch_rows,
            log_batch=log_batch,
            error_batch=error_batch,
            progress=progress,
            capture_logs=capture_logs,
            capture_level=capture_level,
        )

    # -- reading back ---------------------------------------------------

    def get_run(self, dag_id: DagId, date: RunDate, run_id: str) -> SearchRunResult:
        """A run's summary (``GET .../runs/{date}/{run_id}``): each phase's
        status, attempt and times."""
        result: SearchRunResult = self._json("GET", self.run_path(dag_id, date, run_id))
        return result

    def get_event(self, dag_id: DagId, date: RunDate, run_id: str) -> EventResponse:
        """A run's event (``GET .../runs/{date}/{run_id}/event``): its
        ``queue_data`` and ``event`` files, each a page of rows."""
        result: EventResponse = self._json("GET", self.run_path(dag_id, date, run_id) + "/event")
        return result

    def list_runs(
        self, dag_id: DagId, date_from: RunDate, date_to: RunDate, **params: Any
    ) -> SearchRunsResponse:
        """A DAG's runs whose dates are in ``[date_from, date_to]`` (``GET
        /dags/{dag_id}/runs``): ``{"items": [...], "has_more", ...}``, the
        newest first."""
        query = {"date_from": _date(date_from), "date_to": _date(date_to), **params}
        result: SearchRunsResponse = self._json("GET", f"/dags/{_dag_id(dag_id)}/runs", params=query)
        return result

    def list_dags(self, **params: Any) -> DagsResponse:
        """The fleet (``GET /dags``): ``{"items": [...], ...}``."""
        result: DagsResponse = self._json("GET", "/dags", params=params or None)
        return result

    def read_page(
        self,
        dag_id: DagId,
        date: RunDate,
        run_id: str,
        phase: str,
        kind: str = "data",
        *,
        attempt: int = 1,
        page: int = 0,
        limit: int = 1000,
        **params: Any,
    ) -> ParquetPageResponse:
        """One page of a committed attempt's rows (``GET
        .../phases/{phase}/{data|errors|logs}``): ``{"columns", "rows",
        "page", "limit", "total", "has_more"}``. Extra keyword arguments
        are query parameters (``keyword``, ``level``)."""
        check_choice(kind, KINDS, "kind")
        query = {"attempt": attempt, "page": page, "limit": limit, **params}
        path = f"{self.run_path(dag_id, date, run_id)}/phases/{check_choice(phase, PHASES, 'phase')}/{kind}"
        result: ParquetPageResponse = self._json("GET", path, params=query)
        return result

    def read_rows(
        self,
        dag_id: DagId,
        date: RunDate,
        run_id: str,
        phase: str,
        kind: str = "data",
        *,
        attempt: int = 1,
        **params: Any,
    ) -> Iterator[Dict[str, Any]]:
        """Every row of a committed attempt's data, errors or logs, page
        after page."""
        page = 0
        while True:
            answer = self.read_page(dag_id, date, run_id, phase, kind, attempt=attempt, page=page, **params)
            yield from answer["rows"]
            if not answer.get("has_more"):
                return
            page += 1
