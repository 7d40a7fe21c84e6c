"""A threaded HTTP server on 127.0.0.1 with a route table, a request log and outage switches.

The fake issuer and the fakes of cloud token endpoints are route tables on top of this: real HTTP on loopback,
so the code under test runs its real transport, timeouts and parsing.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

__all__ = ["Handler", "LoopbackServer", "LoopbackService", "RecordedRequest", "Reply"]


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def form(self) -> dict[str, str]:
        """The ``application/x-www-form-urlencoded`` body as a dict (last value wins)."""
        return {k: v[-1] for k, v in parse_qs(self.body.decode("utf-8"), keep_blank_values=True).items()}

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


@dataclass(frozen=True)
class Reply:
    """What a route answers."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, value: Any, status: int = 200) -> Reply:
        return cls(status, json.dumps(value).encode(), {"Content-Type": "application/json"})

    @classmethod
    def text(cls, text: str, status: int = 200, content_type: str = "text/plain") -> Reply:
        return cls(status, text.encode(), {"Content-Type": content_type})


Handler = Callable[[RecordedRequest], Reply]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    #: socketserver's default backlog of 5 resets connections when dozens of clients connect at once, which is
    #: exactly what stampede tests and benchmarks do.
    request_queue_size = 128


class LoopbackServer:
    """Serves ``routes`` (``{(method, path): handler}``) on ``127.0.0.1`` at a free port, in a daemon thread.

    ``requests`` logs every request in arrival order. :meth:`outage` makes every request fail with a status (or
    a dropped connection) for a while: the switch tests use to simulate a provider being down.
    """

    def __init__(self, routes: dict[tuple[str, str], Handler] | None = None) -> None:
        self.routes: dict[tuple[str, str], Handler] = dict(routes or {})
        self.requests: list[RecordedRequest] = []
        self._outage: Reply | None = None
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), self._handler_class())
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL, ``http://127.0.0.1:PORT`` (no trailing slash)."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> LoopbackServer:
        if self._thread is None:
            self._thread = threading.Thread(target=self._httpd.serve_forever, name="cfke-loopback", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def calls(self, method: str, path: str) -> list[RecordedRequest]:
        """The logged requests to one route."""
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path == path]

    @contextmanager
    def outage(self, status: int = 503, body: bytes = b"Service Unavailable") -> Iterator[None]:
        """While inside, answer every request with ``status`` (requests are still logged)."""
        self._outage = Reply(status, body, {"Content-Type": "text/plain"})
        try:
            yield
        finally:
            self._outage = None

    def _dispatch(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
        if self._outage is not None:
            return self._outage
        handler = self.routes.get((request.method, request.path))
        if handler is None:
            return Reply.text(f"no route for {request.method} {request.path}", 404)
        return handler(request)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                parts = urlsplit(self.path)
                request = RecordedRequest(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                )
                reply = server._dispatch(request)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                """Silence the per-request stderr line."""

        return _Handler


S = TypeVar("S", bound="LoopbackService")


class LoopbackService:
    """A fake endpoint served by one :class:`LoopbackServer`, ``self.server``: ``url``, ``start()``, ``stop()`` and
    ``with`` delegate to it."""

    server: LoopbackServer

    @property
    def url(self) -> str:
        """The server's base URL, ``http://127.0.0.1:PORT``."""
        return self.server.url

    def start(self: S) -> S:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self: S) -> S:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
