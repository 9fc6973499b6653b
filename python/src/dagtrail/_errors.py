"""Errors raised by the client, one class per kind of answer.

The server answers failures as RFC 7807 problems (``{type, title, status,
detail, instance}``), except validation failures of a request's fields,
which are FastAPI-style ``{"detail": [{loc, msg, type, input}]}``. Both are
kept on the exception as the server wrote them, with the id the server gave
the request (its ``X-Request-Id``, also in the message): the operator finds
the request's log line by it.

``is_dagtrail_failure`` sorts failures into dagtrail's (no answer, or the
server's refusal of what it was sent), which best-effort mode logs and goes
on without, and the caller's (a bad argument, rows that do not fit, found
before anything is sent), which raise in every mode.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional

import httpx

__all__ = [
    "DagtrailError",
    "AuthError",
    "NotFoundError",
    "ConflictError",
    "ValidationError",
    "PayloadTooLargeError",
    "ServerError",
    "TransportError",
    "SchemaError",
    "is_dagtrail_failure",
    "failure_text",
]


class DagtrailError(Exception):
    """Any failure of a dagtrail call.

    Attributes:
        status: The HTTP status (``None`` when no answer came).
        problem: The RFC 7807 problem the server answered (a dict with
            ``type``, ``title``, ``status``, ``detail``, ``instance``), or
            ``None`` when the body was not one.
        details: The validation issues of a FastAPI-style 422 body (a list
            of ``{"loc", "msg", "type", "input"}`` dicts), else ``[]``.
        method: The HTTP method of the failed request.
        url: The URL of the failed request.
        headers: The answer's headers (``WWW-Authenticate`` for an
            ``AuthError``, ``Retry-After`` for a ``ServerError``).
        request_id: The server's id of the request (the answer's
            ``X-Request-Id``), to quote to the server's operator; ``None``
            when no answer came, or it had none.
    """

    def __init__(
        self,
        message: str,
        *,
        status: Optional[int] = None,
        problem: Optional[Dict[str, Any]] = None,
        details: Optional[List[Dict[str, Any]]] = None,
        method: Optional[str] = None,
        url: Optional[str] = None,
        headers: Optional[Mapping[str, str]] = None,
        request_id: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.problem = problem
        self.details: List[Dict[str, Any]] = list(details or [])
        self.method = method
        self.url = url
        self.headers: Dict[str, str] = dict(headers or {})
        self.request_id = request_id

    @property
    def title(self) -> Optional[str]:
        """The problem's ``title``, when the server sent a problem."""
        return None if self.problem is None else self.problem.get("title")

    @property
    def detail(self) -> Optional[str]:
        """The problem's ``detail``, when the server sent a problem."""
        return None if self.problem is None else self.problem.get("detail")


class AuthError(DagtrailError):
    """401 (no token, or one the server does not accept) or 403 (a token
    without the ``runs:write`` scope, or of another company)."""

    @property
    def insufficient_scope(self) -> bool:
        """Whether the server asked for a scope the token lacks (OAuth 2
        bearer ``error="insufficient_scope"``, RFC 6750 section 3.1)."""
        challenge = self.headers.get("www-authenticate", "")
        return 'error="insufficient_scope"' in challenge


class NotFoundError(DagtrailError):
    """404: the run, the phase, or an attempt that is not open."""


class ConflictError(DagtrailError):
    """409: a part out of order, an attempt committed already (or with
    another outcome), an abort of a committed attempt."""


class ValidationError(DagtrailError):
    """422: a field of the request, or a row of an uploaded part, that the
    server refused. ``details`` holds the located issues of a field
    validation; ``problem`` the RFC 7807 problem naming the part and line
    of a refused part."""


class PayloadTooLargeError(DagtrailError):
    """413: a body over the server's limit (1 MiB of JSON, or
    ``DAGTRAIL_MAX_PART_BYTES`` for a part): write smaller parts."""


class ServerError(DagtrailError):
    """5xx that outlasted the retries (or another 5xx, never retried)."""


class TransportError(DagtrailError):
    """The server could not be reached, or the connection broke, on every
    try; or, before the server ever answered the client, it could not be
    connected to on the first (a wrong URL is not retried).
    ``__cause__`` is the last ``httpx`` error."""


class SchemaError(DagtrailError, ValueError):
    """Rows that cannot take the attempt's data columns (the first data
    part's, or the ``schema`` given): a column the attempt does not have,
    or a value that does not cast. Raised before anything is sent."""


def is_dagtrail_failure(error: BaseException) -> bool:
    """Whether ``error`` is a failure of talking to dagtrail, which
    best-effort mode logs and goes on without, rather than the caller's
    mistake, which raises in every mode.

    dagtrail's: no answer (``TransportError``), any answer the server
    refused (a ``DagtrailError`` with a status: 5xx, and 4xx too, as a
    pipeline can do nothing about a token that expired or an attempt that
    someone aborted), and an ``httpx`` failure the client does not wrap
    (an unsupported scheme or a malformed ``DAGTRAIL_URL``: the deployment's
    configuration, not the task's code). The caller's: everything raised
    before a request is made (``ValueError`` for an unknown phase or a
    DAG id that is no UUID, ``SchemaError`` for rows that do not fit the
    attempt's columns, ``TypeError`` for data of a kind not taken), which
    would fail the same way against a healthy server.
    """
    if isinstance(error, TransportError):
        return True
    if isinstance(error, DagtrailError):
        return error.status is not None
    return isinstance(error, (httpx.HTTPError, httpx.InvalidURL))


def failure_text(error: BaseException) -> str:
    """How a warning names a failure: a ``DagtrailError``'s message (the
    call, the status, the problem and the request id), else the exception's
    class and message."""
    if isinstance(error, DagtrailError):
        return str(error)
    return f"{type(error).__name__}: {error}"
