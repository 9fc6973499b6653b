"""What Airflow's providers manager reads of this package (the
``apache_airflow_provider`` entry point): the ``dagtrail`` connection type,
so that Airflow's UI offers it in its form with its own fields, and
``airflow connections add --conn-type dagtrail`` names a known type.

It imports nothing: Airflow calls it in every process that lists
providers.
"""

from __future__ import annotations

from typing import Any, Dict


#: How Airflow's connection form shows a dagtrail connection: read from
#: the provider's description by Airflow 3 (which no longer asks hooks),
#: from ``DagtrailHook.get_ui_field_behaviour`` by Airflow 2.
UI_FIELD_BEHAVIOUR: Dict[str, Any] = {
    "hidden_fields": ["login"],
    "relabeling": {"password": "Token", "schema": "Scheme"},
    "placeholders": {
        "host": "dagtrail.example.com",
        "port": "8080",
        "schema": "https",
        "password": "a JWT whose scope holds runs:write",
        "extra": '{"timeout": 10, "verify": true, "strict": false}',
    },
}


def get_provider_info() -> Dict[str, Any]:
    """The provider's description, in the shape of Airflow's
    ``provider_info.schema.json`` (2.x and 3.x)."""
    return {
        "package-name": "dagtrail",
        "name": "dagtrail",
        "description": "Record Airflow runs, their rows, errors and logs in dagtrail",
        "connection-types": [
            {
                "connection-type": "dagtrail",
                "hook-class-name": "dagtrail.airflow_hook.DagtrailHook",
                "hook-name": "dagtrail",
                "ui-field-behaviour": {
                    "hidden-fields": UI_FIELD_BEHAVIOUR["hidden_fields"],
                    "relabeling": UI_FIELD_BEHAVIOUR["relabeling"],
                    "placeholders": UI_FIELD_BEHAVIOUR["placeholders"],
                },
            }
        ],
    }
