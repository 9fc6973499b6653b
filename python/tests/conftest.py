"""Fixtures: a real `dagtrail serve` on loopback, on a throwaway SQLite run
index and file artifact store, and tokens minted by `dagtrail token`."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Dict, Iterator, Optional

import pytest

import dagtrail

BIN = os.environ.get("DAGTRAIL_BIN", str(Path(__file__).resolve().parents[2] / "target" / "debug" / "dagtrail"))
# HS256 wants a long secret; the server refuses short ones.
SECRET = "dagtrail-python-client-tests-secret-0123456789abcdef"
URL = re.compile(r"https?://[^\s()]+")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", help="run the tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list) -> None:
    if config.getoption("--run-slow") or os.environ.get("DAGTRAIL_SLOW_TESTS") == "1":
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow or DAGTRAIL_SLOW_TESTS=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A `dagtrail serve` process on its own stores; it can be stopped and
    started again on the same port and stores."""

    def __init__(self, root: Path, port: int = 0, env: Optional[Dict[str, str]] = None) -> None:
        if not os.access(BIN, os.X_OK):
            pytest.fail(f"no dagtrail binary at {BIN}: build it, or set DAGTRAIL_BIN")
        self.root = root
        self.port = port
        self.extra_env = dict(env or {})
        self.proc: Optional[subprocess.Popen] = None
        self.url = ""
        self.starts = 0

    @property
    def env(self) -> Dict[str, str]:
        env = dict(os.environ)
        env.update(
            DAGTRAIL_JWT_SECRET=SECRET,
            DAGTRAIL_DATABASE_URL=f"sqlite://{self.root}/runs.db",
            DAGTRAIL_STORE_URL=str(self.root / "artifacts"),
            RUST_LOG=os.environ.get("RUST_LOG", "warn"),
        )
        env.update(self.extra_env)
        return env

    def start(self) -> "Server":
        self.starts += 1
        out = self.root / f"stdout.{self.starts}"
        err = self.root / f"stderr.{self.starts}"
        with open(out, "wb") as o, open(err, "wb") as e:
            # stdout to a file, not a pipe: nothing has to drain it.
            self.proc = subprocess.Popen(
                [BIN, "serve", "--listen", f"127.0.0.1:{self.port}"],
                stdout=o,
                stderr=e,
                env=self.env,
                cwd=self.root,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            first = out.read_text(errors="replace").splitlines()
            if first:
                match = URL.search(first[0])
                if match:
                    self.url = match.group(0).rstrip("/")
                    self.port = int(self.url.rsplit(":", 1)[1])
                    return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"dagtrail serve did not start:\n{err.read_text(errors='replace')[-4000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def token(self, scope: Optional[str] = "runs:write", company: str = "acme") -> str:
        args = [BIN, "token", "--company", company]
        if scope:
            args += ["--scope", scope]
        done = subprocess.run(args, env=self.env, capture_output=True, text=True, check=True, timeout=60)
        return done.stdout.strip().splitlines()[-1]

    def client(self, token: Optional[str] = None, **options: object) -> dagtrail.Client:
        options.setdefault("backoff", 0.1)
        options.setdefault("max_backoff", 2.0)
        return dagtrail.Client(self.url, token=token or self.token(), **options)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests marked `strict` run with DAGTRAIL_STRICT=true: they show what
    raises, the client's behaviour before best-effort mode (and every
    client they make, however made, is strict through the variable). The
    others run in the default mode, whatever the shell says."""
    if request.node.get_closest_marker("strict"):
        monkeypatch.setenv("DAGTRAIL_STRICT", "true")
    else:
        monkeypatch.delenv("DAGTRAIL_STRICT", raising=False)


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    root = Path(tempfile.mkdtemp(prefix="dagtrail-py-"))
    srv = Server(root).start()
    try:
        yield srv
    finally:
        srv.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def write_token(server: Server) -> str:
    return server.token("runs:write")


@pytest.fixture(scope="session")
def read_token(server: Server) -> str:
    return server.token(None)


@pytest.fixture()
def client(server: Server, write_token: str) -> Iterator[dagtrail.Client]:
    with server.client(write_token) as c:
        yield c


@pytest.fixture()
def reader(server: Server, read_token: str) -> Iterator[dagtrail.Client]:
    """A client with a read-only token: reading back needs no scope."""
    with server.client(read_token) as c:
        yield c


@pytest.fixture()
def dag_id() -> uuid.UUID:
    return uuid.uuid4()


@pytest.fixture()
def own_server(tmp_path: Path) -> Iterator[Server]:
    """A server of the test's own (to stop, restart, or start with other
    limits)."""
    srv = Server(tmp_path, port=free_port())
    try:
        yield srv
    finally:
        srv.stop()
