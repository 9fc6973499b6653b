"""Servers that misbehave, on loopback, for the tests of best-effort mode:
real sockets and a real HTTP server in a thread of the test process (no
mock of the client's code).

- `Stub`: an HTTP server that answers each request as a rule says (a
  status and a problem body, after a delay), or forwards it to a real
  `dagtrail serve` (after a delay: a slow commit), keeping the requests it
  got.
- `Hung`: a socket that listens and never accepts: the kernel completes
  the connection, the request is sent, no answer ever comes.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Dict, List, Optional, Tuple

import httpx


@dataclass
class Answer:
    """An answer of the stub's own: `status` with an RFC 7807 problem (or
    `body` as given), after `delay` seconds."""

    status: int
    headers: Dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    body: Optional[bytes] = None


@dataclass
class Forward:
    """Forward the request to the upstream server, after `delay` seconds."""

    delay: float = 0.0


Rule = Callable[[str, str], "Answer | Forward"]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "Stub"

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _body(self) -> bytes:
        # httpx streams a part's body chunked.
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("content-length") or 0))

    def _handle(self) -> None:
        body = self._body()
        method, path = self.command, self.path
        self.server.requests.append((method, path))
        rule = self.server.rule(method, path)
        if rule.delay:
            time.sleep(rule.delay)
        if isinstance(rule, Forward):
            headers = {
                k: v
                for k, v in self.headers.items()
                if k.lower() not in ("host", "content-length", "transfer-encoding", "connection")
            }
            assert self.server.upstream, "a rule forwards, but the stub has no upstream"
            answer = httpx.request(method, self.server.upstream + path, content=body, headers=headers, timeout=120)
            status, content = answer.status_code, answer.content
            out = {k: v for k, v in answer.headers.items() if k.lower() in ("content-type", "x-request-id", "retry-after")}
        else:
            status = rule.status
            self.server.answered += 1
            out = {"x-request-id": f"stub-{self.server.answered}", **rule.headers}
            if rule.body is not None:
                content = rule.body
            else:
                content = json.dumps(
                    {"type": "about:blank", "title": f"stub {status}", "status": status, "detail": "as the test said"}
                ).encode()
                out.setdefault("content-type", "application/problem+json")
        self.send_response(status)
        for key, value in out.items():
            self.send_header(key, value)
        self.send_header("content-length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


class Stub(ThreadingHTTPServer):
    """An HTTP server on 127.0.0.1 (a free port), serving from a daemon
    thread until `close()`."""

    daemon_threads = True

    def __init__(self, rule: Rule, upstream: Optional[str] = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.rule = rule
        self.upstream = upstream.rstrip("/") if upstream else None
        self.requests: List[Tuple[str, str]] = []
        self.answered = 0
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.shutdown()
        self.server_close()

    def __enter__(self) -> "Stub":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Hung:
    """A socket that listens on 127.0.0.1 and never accepts: connecting
    works (the kernel's backlog), no answer ever comes."""

    def __init__(self) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(16)
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"

    def close(self) -> None:
        self.socket.close()

    def __enter__(self) -> "Hung":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
