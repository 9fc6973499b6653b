"""A DAG run by real Airflow (`airflow dags test`, each Airflow in its own
virtual environment, with dagtrail installed in it) against the real
server, then read back through dagtrail's API.

The virtual environments are those of `DAGTRAIL_AIRFLOW_VENVS` (separated
by `:`), by default airflow2 and airflow3 under ~/.cache/dagtrail/venvs
where they exist (scripts/python-tests makes them). Without any, the test is
skipped, unless `DAGTRAIL_REQUIRE_AIRFLOW=1`.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest

DAGS = Path(__file__).parent / "airflow_dags"
DATE = "2026-11-27"
VENVS = [
    Path(p)
    for p in os.environ.get(
        "DAGTRAIL_AIRFLOW_VENVS",
        os.pathsep.join(
            str(Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "dagtrail" / "venvs" / name)
            for name in ("airflow2", "airflow3")
        ),
    ).split(os.pathsep)
    if p
]
FOUND = [v for v in VENVS if (v / "bin" / "airflow").exists()]

pytestmark = pytest.mark.airflow


def airflow_env(home: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "DAGTRAIL_"))}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(DAGS),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__UNIT_TEST_MODE="False",
        # Tasks log to the console (read on failure), not to remote stores.
        AIRFLOW__LOGGING__LOGGING_LEVEL="INFO",
    )
    env.update(extra)
    return env


def run(venv: Path, args: list, env: dict, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    done = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    (cwd / f"{Path(args[0]).name}-{args[1]}.log").write_text(done.stdout + done.stderr)
    return done


def params():
    if FOUND:
        return [pytest.param(v, id=v.name) for v in FOUND]
    reason = f"no Airflow virtual environment among {', '.join(map(str, VENVS))} (scripts/python-tests makes them)"
    if os.environ.get("DAGTRAIL_REQUIRE_AIRFLOW") == "1":
        return [pytest.param(None, id="missing", marks=pytest.mark.xfail(reason=reason, strict=True))]
    return [pytest.param(None, id="missing", marks=pytest.mark.skip(reason=reason))]


@pytest.mark.parametrize("venv", params())
def test_a_dag_whose_transform_fails(server, write_token, reader, venv, tmp_path):
    assert venv is not None, "no Airflow to run"
    version = subprocess.run(
        [str(venv / "bin" / "airflow"), "version"], capture_output=True, text=True, env=airflow_env(tmp_path), timeout=120
    ).stdout.strip().splitlines()[-1]
    # A namespace of this run's own: each Airflow's run lands under its own
    # DAG UUID, on one server.
    namespace = uuid.uuid4()
    env = airflow_env(
        tmp_path,
        DAGTRAIL_URL=server.url,
        DAGTRAIL_TOKEN=write_token,
        DAGTRAIL_DAG_NAMESPACE=str(namespace),
    )
    airflow = str(venv / "bin" / "airflow")
    migrated = run(venv, [airflow, "db", "migrate"], env, tmp_path)
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    tested = run(venv, [airflow, "dags", "test", "orders_dagtrail", DATE], env, tmp_path)
    output = tested.stdout + tested.stderr
    assert "Traceback" not in output.split("Task failed with exception")[0], output[-5000:]

    dag_id = uuid.uuid5(namespace, "orders_dagtrail")
    runs = reader.list_runs(dag_id, DATE, DATE)["items"]
    assert len(runs) == 1, (version, output[-5000:])
    run_id = runs[0]["run_id"]
    assert run_id.startswith("manual__")

    summary = reader.get_run(dag_id, DATE, run_id)
    assert summary["extract"]["status"] == {"success": True, "message": "extracted 3 orders", "total": 3}
    assert summary["transform"]["status"]["success"] is False
    assert summary["transform"]["status"]["message"] == "ValueError: order 3 has a negative amount: -3.0"
    assert summary["load"]["status"]["success"] is True

    (error,) = reader.read_rows(dag_id, DATE, run_id, "transform", "errors")
    assert error["error_type"] == "ValueError"
    assert error["error_status"] == 500
    assert error["error_detail"] == "order 3 has a negative amount: -3.0"
    assert "in check_amounts" in error["traceback"]
    assert "in transform" in error["traceback"]

    rows = list(reader.read_rows(dag_id, DATE, run_id, "extract"))
    assert [r["customer"] for r in rows] == ["Zoë", "Ana", "Kofi"]
    assert list(reader.read_rows(dag_id, DATE, run_id, "transform", "data")) == rows[:2]
    # The transform's logging was captured into its logs.
    logs = list(reader.read_rows(dag_id, DATE, run_id, "transform", "logs"))
    assert ("orders_dagtrail", "checking 3 orders") in [(r["logger"], r["message"]) for r in logs]

    (entry,) = [d for d in reader.list_dags()["items"] if d["dag_id"] == str(dag_id)]
    assert entry["name"] == "orders_dagtrail"
    assert entry["tags"] == ["dagtrail-test", "orders"]
    assert entry["owner"] == "data-team"
    assert entry["description"] == "Orders of the day, recorded in dagtrail"
    print(f"{venv.name}: Airflow {version}: run {run_id} recorded")


@pytest.mark.parametrize("venv", params())
def test_the_server_from_an_airflow_connection(server, write_token, reader, venv, tmp_path):
    assert venv is not None, "no Airflow to run"
    host, port = server.url.split("://", 1)[1].rsplit(":", 1)
    connection = {"conn_type": "dagtrail", "host": host, "port": int(port), "schema": "http", "password": write_token}
    env = airflow_env(tmp_path, AIRFLOW_CONN_DAGTRAIL_DEFAULT=json.dumps(connection))
    dag_id = uuid.uuid4()
    code = (
        "import json; from dagtrail.airflow import client, server\n"
        "url, token, options = server()\n"
        f"with client() as c: name = c.describe_dag('{dag_id}', 'from a connection')['name']\n"
        "print('RESULT', json.dumps([url, name]))\n"
    )
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # Airflow 2 logs to stdout too: the answer is the line marked.
    (result,) = [line[len("RESULT ") :] for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert json.loads(result) == [server.url, "from a connection"]
    (entry,) = [d for d in reader.list_dags()["items"] if d["dag_id"] == str(dag_id)]
    assert entry["name"] == "from a connection"


@pytest.mark.parametrize("venv", params())
def test_airflow_knows_the_dagtrail_connection_type(server, write_token, venv, tmp_path):
    """The package registers itself as an Airflow provider: the connection
    type, its hook and form, and the hook's connection test against the
    real server (a good token passes, a bad one fails and says why)."""
    assert venv is not None, "no Airflow to run"
    host, port = server.url.split("://", 1)[1].rsplit(":", 1)
    connection = {"conn_type": "dagtrail", "host": host, "port": int(port), "schema": "http"}
    env = airflow_env(
        tmp_path,
        AIRFLOW_CONN_DAGTRAIL_DEFAULT=json.dumps({**connection, "password": write_token}),
        AIRFLOW_CONN_DAGTRAIL_BAD=json.dumps({**connection, "password": "not-a-token"}),
    )
    code = (
        "import json\n"
        "from airflow.providers_manager import ProvidersManager\n"
        "from dagtrail.airflow_hook import DagtrailHook\n"
        "pm = ProvidersManager()\n"
        "hook = pm.hooks['dagtrail']\n"
        "form = pm.field_behaviours['dagtrail']\n"
        "with DagtrailHook().get_conn() as c: url = c.base_url\n"
        "print('RESULT', json.dumps({\n"
        "  'provider': 'dagtrail' in pm.providers,\n"
        "  'hook': [hook.hook_class_name, hook.hook_name, hook.connection_id_attribute_name, hook.connection_testable],\n"
        "  'relabeling': form['relabeling'], 'hidden': form['hidden_fields'],\n"
        "  'url': url,\n"
        "  'good': DagtrailHook().test_connection(),\n"
        "  'bad': DagtrailHook('dagtrail_bad').test_connection(),\n"
        "}))\n"
    )
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (result,) = [json.loads(line[len("RESULT ") :]) for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert result["provider"] is True
    assert result["hook"] == ["dagtrail.airflow_hook.DagtrailHook", "dagtrail", "dagtrail_conn_id", True]
    assert result["relabeling"] == {"password": "Token", "schema": "Scheme"}
    assert "login" in result["hidden"]
    assert result["url"].rstrip("/").startswith(server.url)
    good, message = result["good"]
    assert good is True, message
    bad, why = result["bad"]
    assert bad is False
    assert "401" in why or "token" in why.lower(), why
