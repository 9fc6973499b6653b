"""The client's answer types (dagtrail/_types.py) against the OpenAPI
document the running server serves: each TypedDict has the keys of the
schema it is named after, required where the schema requires them, of the
same JSON kinds, nullable where the schema says; and each method returns
the type of the schema its route answers."""

# No `from __future__ import annotations`: the TypedDicts made below to
# show the check failing are read back as real types.

import typing
from typing import Any, Dict, List, Optional, Set, TypedDict, Union

import httpx
import pytest

import dagtrail
import dagtrail.airflow
from dagtrail import _types

# The kinds of JSON values a schema's `type` names.
ANY = frozenset({"string", "integer", "number", "boolean", "array", "object", "null"})
KINDS = {str: "string", int: "integer", float: "number", bool: "boolean"}


@pytest.fixture(scope="module")
def openapi(server):
    response = httpx.get(server.url + "/api/v1/openapi.json", timeout=30)
    response.raise_for_status()
    return response.json()


@pytest.fixture(scope="module")
def schemas(openapi):
    return openapi["components"]["schemas"]


def is_typeddict(tp: Any) -> bool:
    # typing.is_typeddict is Python 3.10's.
    return isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__required_keys__")


def answer_types() -> List[type]:
    """Every public TypedDict of dagtrail._types."""
    return [
        value
        for name, value in vars(_types).items()
        if not name.startswith("_") and is_typeddict(value) and value.__module__ == _types.__name__
    ]


def python_kinds(tp: Any) -> Set[str]:
    if tp is Any:
        return set(ANY)
    if tp is type(None):
        return {"null"}
    if typing.get_origin(tp) is Union:
        return set().union(*(python_kinds(arg) for arg in typing.get_args(tp)))
    if tp in KINDS:
        return {KINDS[tp]}
    if typing.get_origin(tp) is list:
        return {"array"}
    if typing.get_origin(tp) is dict or is_typeddict(tp):
        return {"object"}
    raise TypeError(f"no JSON kind for {tp!r}")


def members(schema: Dict[str, Any]) -> List[Dict[str, Any]]:
    return list(schema.get("oneOf") or schema.get("anyOf") or [schema])


def schema_kinds(schema: Dict[str, Any], schemas: Dict[str, Any]) -> Set[str]:
    if "$ref" in schema:
        return schema_kinds(schemas[schema["$ref"].rsplit("/", 1)[1]], schemas)
    if "oneOf" in schema or "anyOf" in schema:
        return set().union(*(schema_kinds(m, schemas) for m in members(schema)))
    kind = schema.get("type")
    if kind is None:
        return {"object"} if "properties" in schema else set(ANY)
    return set(kind) if isinstance(kind, list) else {kind}


def compare(where: str, tp: Any, schema: Dict[str, Any], schemas: Dict[str, Any]) -> List[str]:
    """How a Python type and a property's schema disagree (nothing when
    they agree)."""
    ours, theirs = python_kinds(tp), schema_kinds(schema, schemas)
    if ours != theirs:
        return [f"{where}: {sorted(ours)} in the class, {sorted(theirs)} in the schema"]
    if ours == ANY:
        return []
    # The value's type once None is set apart, and its schema.
    args = [a for a in typing.get_args(tp) if a is not type(None)] if typing.get_origin(tp) is Union else [tp]
    (value,) = args
    (member,) = [m for m in members(schema) if m.get("type") != "null"]
    ref = member.get("$ref", "").rsplit("/", 1)[-1]
    if ref or is_typeddict(value):
        ours_name = value.__name__ if is_typeddict(value) else repr(value).replace("typing.", "")
        if ours_name != ref:
            return [f"{where}: {ours_name} in the class, {ref or 'an object'} in the schema"]
        return []
    if typing.get_origin(value) is list:
        return compare(f"{where}[]", typing.get_args(value)[0], member["items"], schemas)
    return []


def mismatches(cls: type, schemas: Dict[str, Any]) -> List[str]:
    """How a TypedDict and the schema of its name disagree."""
    name = cls.__name__
    schema = schemas.get(name)
    if schema is None:
        return [f"{name}: the OpenAPI document has no schema {name}"]
    properties = schema.get("properties", {})
    required = set(schema.get("required", []))
    hints = typing.get_type_hints(cls)
    problems = [f"{name}: key {key!r} of the schema is missing" for key in sorted(set(properties) - set(hints))]
    problems += [f"{name}: key {key!r} is not in the schema" for key in sorted(set(hints) - set(properties))]
    for key in sorted(set(hints) & set(properties)):
        ours = key in cls.__required_keys__  # type: ignore[attr-defined]
        if ours != (key in required):
            said = {True: "required", False: "optional"}
            problems.append(f"{name}.{key}: {said[ours]} in the class, {said[not ours]} in the schema")
        problems += compare(f"{name}.{key}", hints[key], properties[key], schemas)
    return problems


def test_there_are_answer_types_and_they_are_public():
    names = {cls.__name__ for cls in answer_types()}
    assert {"StagedAttempt", "AttemptCommitted", "DagSummary", "SearchRunsResponse"} <= names
    assert names <= set(dagtrail.__all__)


@pytest.mark.parametrize("cls", answer_types(), ids=lambda cls: cls.__name__)
def test_each_answer_type_matches_its_schema(cls, schemas):
    assert mismatches(cls, schemas) == []


ATTEMPT = "/dags/{dag_id}/runs/{date}/{run_id}/phases/{phase}/attempts/{attempt}"
ANSWERS = [
    (dagtrail.Client.describe_dag, "patch", "/dags/{dag_id}"),
    (dagtrail.Client.event, "put", "/dags/{dag_id}/runs/{date}/{run_id}/event"),
    (dagtrail.airflow.event, "put", "/dags/{dag_id}/runs/{date}/{run_id}/event"),
    (dagtrail.Client.open_attempt, "post", "/dags/{dag_id}/runs/{date}/{run_id}/phases/{phase}/attempts"),
    (dagtrail.Client.open_attempt, "put", ATTEMPT),
    (dagtrail.Client.staged_attempt, "get", ATTEMPT),
    (dagtrail.Client.upload_part, "put", ATTEMPT + "/{kind}/{part}"),
    (dagtrail.Client.commit_attempt, "post", ATTEMPT + "/commit"),
    (dagtrail.Phase.commit, "post", ATTEMPT + "/commit"),
    (dagtrail.Client.get_run, "get", "/dags/{dag_id}/runs/{date}/{run_id}"),
    (dagtrail.Client.get_event, "get", "/dags/{dag_id}/runs/{date}/{run_id}/event"),
    (dagtrail.Client.list_runs, "get", "/dags/{dag_id}/runs"),
    (dagtrail.Client.list_dags, "get", "/dags"),
    (dagtrail.Client.read_page, "get", "/dags/{dag_id}/runs/{date}/{run_id}/phases/{phase}/data"),
    (dagtrail.Client.read_page, "get", "/dags/{dag_id}/runs/{date}/{run_id}/phases/{phase}/errors"),
    (dagtrail.Client.read_page, "get", "/dags/{dag_id}/runs/{date}/{run_id}/phases/{phase}/logs"),
]


@pytest.mark.parametrize(
    "function, method, path", ANSWERS, ids=[f"{f.__qualname__}-{m}-{p.rsplit('/', 1)[1]}" for f, m, p in ANSWERS]
)
def test_each_method_returns_the_type_of_its_routes_answer(openapi, function, method, path):
    answer = openapi["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]
    returned = typing.get_type_hints(function)["return"]
    assert returned.__name__ == answer["$ref"].rsplit("/", 1)[1]


# The check itself fails on a class that is off: these are named after
# schemas of the document, and each is wrong in its own way.


class StagedAttempt(TypedDict):
    attempt: int
    resumed: bool
    data: List[int]
    errors: List[int]
    parts: List[int]  # not in the schema, whose `logs` is missing here


class PartStaged(TypedDict, total=False):  # every key is required
    kind: str
    part: str  # an integer
    rows: Optional[int]  # not nullable


class _Required(TypedDict):
    dag_id: str
    tags: List[int]  # strings
    runs: int
    runs_in_window: int
    failed_in_window: int


class DagSummary(_Required, total=False):
    name: Optional[str]
    description: str  # nullable
    owner: Optional[str]
    first_seen: Optional[str]
    last_seen: Optional[str]
    last_run: Optional[Dict[str, Any]]  # a LastRun
    last_failure: Optional[_types.LastRun]  # a LastFailure


def test_the_check_fails_on_a_missing_or_an_extra_key(schemas):
    assert mismatches(StagedAttempt, schemas) == [
        "StagedAttempt: key 'logs' of the schema is missing",
        "StagedAttempt: key 'parts' is not in the schema",
    ]


def test_the_check_fails_on_optional_keys_and_kinds_that_differ(schemas):
    assert mismatches(PartStaged, schemas) == [
        "PartStaged.kind: optional in the class, required in the schema",
        "PartStaged.part: optional in the class, required in the schema",
        "PartStaged.part: ['string'] in the class, ['integer'] in the schema",
        "PartStaged.rows: optional in the class, required in the schema",
        "PartStaged.rows: ['integer', 'null'] in the class, ['integer'] in the schema",
    ]
    assert mismatches(DagSummary, schemas) == [
        "DagSummary.description: ['string'] in the class, ['null', 'string'] in the schema",
        "DagSummary.last_failure: LastRun in the class, LastFailure in the schema",
        "DagSummary.last_run: Dict[str, Any] in the class, LastRun in the schema",
        "DagSummary.tags[]: ['integer'] in the class, ['string'] in the schema",
    ]
