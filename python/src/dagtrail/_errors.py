"""Errors raised by the client, one class per kind of answer.

The server answers failures as RFC 7807 problems (``{type, title, status,
detail, instance}``), except validation failures of a request's fields,
which are FastAPI-style ``{"detail": [{loc, msg, type, input}]}``. Both are
kept on the exception as the server wrote them, with the id the server gave
the request (its ``X-Request-Id``, also in the message): the operator finds
the request's log line by it.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional

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
