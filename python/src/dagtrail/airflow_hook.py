"""The ``dagtrail`` connection type for Airflow: a hook, as Airflow's
providers write them, that names the connection's fields in Airflow's UI,
tests a connection from it, and hands tasks a ``dagtrail.Client``.

Registered through the ``apache_airflow_provider`` entry point
(``dagtrail._provider``); importing this module needs Airflow.
"""

from __future__ import annotations

import copy
from typing import Any, Dict, Tuple

try:
    from airflow.sdk import BaseHook
except ImportError:  # Airflow 2
    from airflow.hooks.base import BaseHook  # type: ignore[no-redef,attr-defined,unused-ignore]

from ._client import Client
from ._errors import DagtrailError
from ._provider import UI_FIELD_BEHAVIOUR
from .airflow import DEFAULT_CONN_ID, client


class DagtrailHook(BaseHook):  # type: ignore[misc,valid-type,unused-ignore]
    """A dagtrail server from an Airflow connection of type ``dagtrail``:
    host (a name, or a whole URL), port, schema (``http`` or ``https``),
    password (the token: a JWT whose scope holds ``runs:write`` to
    write), extras ``timeout`` (seconds), ``verify`` (a CA bundle's
    path, or false) and ``strict`` (true: a failure of dagtrail's fails the
    task; default ``DAGTRAIL_STRICT``, else best-effort).

    Args:
        dagtrail_conn_id: The connection (default ``dagtrail_default``).
    """

    conn_name_attr = "dagtrail_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "dagtrail"
    hook_name = "dagtrail"

    def __init__(self, dagtrail_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dagtrail_conn_id = dagtrail_conn_id

    @classmethod
    def get_ui_field_behaviour(cls) -> Dict[str, Any]:
        """How Airflow 2's connection form shows a dagtrail connection."""
        return copy.deepcopy(UI_FIELD_BEHAVIOUR)

    def get_conn(self) -> Client:
        """A ``dagtrail.Client`` of the connection's server (close it, or
        use it as a context manager)."""
        return client(self.dagtrail_conn_id)

    def test_connection(self) -> Tuple[bool, str]:
        """Whether the server answers and takes the token (Airflow's
        "Test" button): lists the token's company's DAGs, which any valid
        token may. Writing also needs the ``runs:write`` scope, which only
        a write tells."""
        try:
            with self.get_conn() as c:
                dags = c.list_dags()
        except (DagtrailError, ValueError, RuntimeError) as e:
            return False, str(e)
        return True, f"dagtrail answered and took the token ({len(dags.get('items', []))} DAGs of its company listed)"
