"""The package's shape: its modules import each other in no circle
(scripts/check-python-imports), and its version is written once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

import dagtrail

ROOT = Path(__file__).resolve().parents[2]
CHECK = ROOT / "scripts" / "check-python-imports"
PACKAGE = ROOT / "python" / "src" / "dagtrail"


def check_imports(package: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(CHECK), str(package)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHON": sys.executable},
    )


def test_the_modules_import_each_other_in_no_circle():
    done = check_imports(PACKAGE)
    assert done.returncode == 0, done.stderr
    assert "no import circle" in done.stdout


def test_the_check_finds_a_circle_through_type_checking_and_relative_imports(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("from ._a import A\n")
    (package / "_a.py").write_text("from ._b import helper\n\nclass A: ...\n")
    # Only the type checker walks this import: still a circle.
    (package / "_b.py").write_text(
        "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from pkg._a import A\n\ndef helper(): ...\n"
    )
    (package / "_c.py").write_text("from . import _a\n")
    done = check_imports(package)
    assert done.returncode == 1
    assert "import circle: pkg._a -> pkg._b -> pkg._a" in done.stderr
    assert "pkg/_b.py:4 imports pkg._a" in done.stderr

    # A late import (inside a function) counts too.
    (package / "_b.py").write_text("def helper():\n    from ._a import A\n")
    done = check_imports(package)
    assert done.returncode == 1
    assert "pkg/_b.py:2 imports pkg._a" in done.stderr

    (package / "_b.py").write_text("def helper(): ...\n")
    assert check_imports(package).returncode == 0


def test_the_version_is_written_once():
    pyproject = (ROOT / "python" / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject
    assert 'version = {attr = "dagtrail._version.__version__"}' in pyproject
    assert "\nversion = " not in pyproject.split("[tool.setuptools.dynamic]")[0]
    # No other module spells it (the User-Agent is made from it).
    spelled = (f'"{dagtrail.__version__}"', f"'{dagtrail.__version__}'", f"/{dagtrail.__version__}")
    others = [p.name for p in PACKAGE.glob("*.py") if any(s in p.read_text() for s in spelled)]
    assert others == ["_version.py"]


def test_the_user_agent_carries_the_version():
    seen = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["user-agent"])
        return httpx.Response(200, json={"items": [], "total": 0, "since": "2026-11-01"})

    http = httpx.Client(transport=httpx.MockTransport(answer))
    with dagtrail.Client("http://dagtrail.invalid", token="t", http_client=http) as client:
        client.list_dags()
    assert seen == [f"dagtrail-python/{dagtrail.__version__}"]

