"""A threaded HTTP(S) server on 127.0.0.1 with a route table, a request log, outage switches and hostile replies.

The fake issuer and the fakes of cloud token endpoints are route tables on top of this: real HTTP on loopback,
so the code under test runs its real transport, TLS, timeouts and parsing. :class:`Reply` can also misbehave the
way a broken or hostile server does (huge bodies, gzip bombs, a byte at a time), streamed so the server never
holds what it sends.
"""

from __future__ import annotations

import functools
import json
import selectors
import socket
import ssl
import struct
import sys
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import BaseRequestHandler
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qs, urlsplit

from .. import ConfigurationError
from .tls import DEFAULT_HOSTNAMES, LocalCA

__all__ = ["DripPhase", "Handler", "LoopbackServer", "LoopbackService", "RecordedRequest", "Reply"]

#: How long a client may take to complete the TLS handshake before its connection is dropped.
HANDSHAKE_TIMEOUT = 10.0

_MIB = 1 << 20

DripPhase = Literal["headers", "body"]


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
    """What a route answers.

    ``stream``, when set, yields the body in chunks instead of ``body`` (give a ``Content-Length`` header, or the
    connection closes after the body). ``drip_interval`` > 0 sends one byte per interval during ``drip_phase``:
    the header block or the body. Stopping the server interrupts a drip at once.
    """

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    stream: Callable[[], Iterable[bytes]] | None = field(default=None, compare=False)
    drip_interval: float = 0.0
    drip_phase: DripPhase = "body"

    @classmethod
    def json(cls, value: Any, status: int = 200, *, headers: Mapping[str, str] | None = None) -> Reply:
        return cls(status, json.dumps(value).encode(), {"Content-Type": "application/json", **(headers or {})})

    @classmethod
    def text(
        cls, text: str, status: int = 200, content_type: str = "text/plain", *, headers: Mapping[str, str] | None = None
    ) -> Reply:
        return cls(status, text.encode(), {"Content-Type": content_type, **(headers or {})})

    @classmethod
    def huge(
        cls, size: int, *, status: int = 200, content_type: str = "application/json", chunk_size: int = 64 * 1024
    ) -> Reply:
        """``size`` bytes of filler with a matching ``Content-Length``, generated chunk by chunk while sending."""
        if size < 0 or chunk_size <= 0:
            raise ConfigurationError("Reply.huge needs size >= 0 and chunk_size > 0")
        headers = {"Content-Type": content_type, "Content-Length": str(size)}
        return cls(status, headers=headers, stream=functools.partial(_filler, size, chunk_size))

    @classmethod
    def gzip_bomb(cls, decoded_size: int, *, status: int = 200, content_type: str = "application/json") -> Reply:
        """A small ``Content-Encoding: gzip`` body that decodes to ``decoded_size`` zero bytes (~1 KiB per MiB)."""
        if decoded_size < 0:
            raise ConfigurationError("Reply.gzip_bomb needs decoded_size >= 0")
        headers = {"Content-Type": content_type, "Content-Encoding": "gzip"}
        return cls(status, gzip_zeros(decoded_size), headers)

    @classmethod
    def drip(
        cls,
        body: bytes,
        interval: float,
        *,
        phase: DripPhase = "body",
        status: int = 200,
        content_type: str = "application/json",
    ) -> Reply:
        """``body`` sent one byte every ``interval`` seconds, during the header block or the body (``phase``)."""
        return cls(status, body, {"Content-Type": content_type}, drip_interval=interval, drip_phase=phase)

    def with_headers(self, headers: Mapping[str, str]) -> Reply:
        """A copy with ``headers`` added, replacing any of the same name (e.g. ``{"Retry-After": "3"}``)."""
        replaced = {name.lower() for name in headers}
        kept = {k: v for k, v in self.headers.items() if k.lower() not in replaced}
        return replace(self, headers={**kept, **headers})

    def chunks(self) -> Iterable[bytes]:
        """The body as the handler sends it."""
        return self.stream() if self.stream is not None else (self.body,)


def _filler(size: int, chunk_size: int) -> Iterator[bytes]:
    """``size`` bytes as one reused block of ``chunk_size`` (and a last, shorter one)."""
    block = b"x" * chunk_size
    for _ in range(size // chunk_size):
        yield block
    if size % chunk_size:
        yield block[: size % chunk_size]


@functools.lru_cache(maxsize=8)
def gzip_zeros(size: int) -> bytes:
    """A gzip member decoding to ``size`` zero bytes, built from one compressed MiB repeated (a full flush makes
    each compressed MiB independent of the previous one, so the copies are byte-identical)."""
    whole, rest = divmod(size, _MIB)
    zeros = bytes(_MIB)
    segment = zlib.compressobj(9, zlib.DEFLATED, -15)  # raw deflate: the gzip framing is written below
    one_mib = segment.compress(zeros) + segment.flush(zlib.Z_FULL_FLUSH)
    tail = zlib.compressobj(9, zlib.DEFLATED, -15)
    last = tail.compress(zeros[:rest]) + tail.flush()
    crc = 0
    for _ in range(whole):
        crc = zlib.crc32(zeros, crc)
    crc = zlib.crc32(zeros[:rest], crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"  # magic, deflate, no flags/mtime, best, any OS
    return header + one_mib * whole + last + struct.pack("<II", crc, size & 0xFFFFFFFF)


Handler = Callable[[RecordedRequest], Reply]


def shutdown_quietly(sock: socket.socket) -> None:
    """Wake any thread blocked on ``sock`` (its owner still closes it); a socket already gone is fine."""
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class ThreadedListener(ThreadingHTTPServer):
    """The accept loop under the kit's servers: one daemon thread per connection, TLS handshakes in that thread,
    and a :meth:`stop` that returns at once (a wake-up socket, not a poll interval) and drops live connections.

    Handlers derive from :class:`ConnectionHandler`, which registers each connection so :meth:`stop` can end it.
    """

    daemon_threads = True
    #: socketserver's default backlog of 5 resets connections when dozens of clients connect at once, which is
    #: exactly what stampede tests and benchmarks do.
    request_queue_size = 128

    def __init__(self, handler: type[BaseRequestHandler], tls: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.tls = tls
        #: Set by :meth:`stop`; anything that waits inside a handler waits on it, so it ends with the server.
        self.stopping = threading.Event()
        self._live: set[socket.socket] = set()
        self._live_lock = threading.Lock()
        self._running: tuple[threading.Thread, socket.socket, socket.socket] | None = None  # thread, wake pair

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self) -> None:
        if self._running is None and not self.stopping.is_set():
            reader, writer = socket.socketpair()
            thread = threading.Thread(target=self._accept_loop, args=(reader,), name="cfke-loopback", daemon=True)
            self._running = (thread, reader, writer)
            thread.start()

    def stop(self) -> None:
        """Stop accepting, end every live connection (drips and tunnels included) and close the socket."""
        with self._live_lock:
            self.stopping.set()
            live = list(self._live)
        for sock in live:
            shutdown_quietly(sock)
        if self._running is not None:
            thread, reader, writer = self._running
            self._running = None
            writer.send(b"\0")  # wakes the accept loop's select at once
            thread.join()
            reader.close()
            writer.close()
        self.server_close()

    def track(self, sock: socket.socket) -> None:
        """Register a live socket (a connection, or a proxy's upstream) for :meth:`stop` to shut down."""
        with self._live_lock:
            self._live.add(sock)
            if self.stopping.is_set():
                shutdown_quietly(sock)

    def untrack(self, sock: socket.socket) -> None:
        with self._live_lock:
            self._live.discard(sock)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet about clients that went away, stalled or failed the handshake (hostile tests do that on
        purpose, and :meth:`stop` cuts connections); anything else, a route's bug for instance, is printed."""
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError, ssl.SSLError)):
            super().handle_error(request, client_address)

    def _accept_loop(self, wake: socket.socket) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self.socket, selectors.EVENT_READ)
            selector.register(wake, selectors.EVENT_READ)
            while not self.stopping.is_set():
                for key, _ in selector.select():
                    if key.fileobj is self.socket and not self.stopping.is_set():
                        self._accept()

    def _accept(self) -> None:
        try:
            request, address = self.get_request()
        except OSError:
            return  # the client gave up before we accepted
        try:
            self.process_request(request, address)
        except Exception:
            self.handle_error(request, address)
            self.shutdown_request(request)


class ConnectionHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 handler base: completes TLS (when the listener has a context) in its own thread, registers the
    connection with the listener, writes nothing to stderr."""

    server: ThreadedListener
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        if self.server.tls is not None:
            wrapped = self.server.tls.wrap_socket(self.request, server_side=True, do_handshake_on_connect=False)
            self.server.track(wrapped)
            try:
                wrapped.settimeout(HANDSHAKE_TIMEOUT)
                wrapped.do_handshake()
                wrapped.settimeout(None)
            except BaseException:
                self.server.untrack(wrapped)
                wrapped.close()
                raise
            self.request = wrapped
        else:
            self.server.track(self.request)
        super().setup()

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.request)
            if isinstance(self.request, ssl.SSLSocket):
                self.request.close()  # the plain socket was detached into it; socketserver closes only that one

    def paced_write(self, data: bytes, interval: float = 0.0) -> None:
        """Write ``data`` at once, or one byte every ``interval`` seconds until the server stops."""
        if interval <= 0:
            self.wfile.write(data)
            return
        for i in range(len(data)):
            if i and self.server.stopping.wait(interval):
                raise ConnectionAbortedError("server stopped while dripping")
            self.wfile.write(data[i : i + 1])

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr line."""


class LoopbackServer:
    """Serves ``routes`` (``{(method, path): handler}``) on ``127.0.0.1`` at a free port, in a daemon thread.

    ``requests`` logs every request in arrival order. :meth:`outage` makes every request fail with a status for a
    while: the switch tests use to simulate a provider being down. With ``tls`` (a :class:`LocalCA`, or ``True``
    for the shared one) it speaks https, with a certificate for ``localhost``, ``127.0.0.1``, ``::1`` and
    ``hostnames``.
    """

    def __init__(
        self,
        routes: Mapping[tuple[str, str], Handler] | None = None,
        *,
        tls: LocalCA | bool | None = None,
        hostnames: Iterable[str] = (),
    ) -> None:
        self.routes: dict[tuple[str, str], Handler] = dict(routes or {})
        self.requests: list[RecordedRequest] = []
        self.ca: LocalCA | None = LocalCA.shared() if tls is True else (tls or None)
        self.hostnames: tuple[str, ...] = (*DEFAULT_HOSTNAMES, *(h.lower() for h in hostnames)) if self.ca else ()
        self._outage: Reply | None = None
        self._lock = threading.Lock()
        context = self.ca.server_context(hostnames) if self.ca is not None else None
        self._httpd = ThreadedListener(self._handler_class(), context)

    @property
    def scheme(self) -> str:
        return "http" if self.ca is None else "https"

    @property
    def port(self) -> int:
        return self._httpd.port

    @property
    def url(self) -> str:
        """Base URL, ``http://127.0.0.1:PORT`` or ``https://127.0.0.1:PORT`` (no trailing slash)."""
        return self.url_for("127.0.0.1")

    def url_for(self, host: str) -> str:
        """Base URL under another name, e.g. ``https://sts.example.test:PORT``. The server listens on 127.0.0.1
        only, so the name must lead there: through a proxy's routes, or because it resolves to it. Over https the
        certificate must cover it (``hostnames=``)."""
        if self.ca is not None and host.lower() not in self.hostnames:
            raise ConfigurationError(f"this server's certificate does not cover {host!r}: pass hostnames=[{host!r}]")
        return f"{self.scheme}://{f'[{host}]' if ':' in host else host}:{self.port}"

    def start(self) -> LoopbackServer:
        self._httpd.start()
        return self

    def stop(self) -> None:
        """Stop serving and drop open connections (keep-alive ones, drips in progress); returns at once."""
        self._httpd.stop()

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def calls(self, method: str, path: str) -> list[RecordedRequest]:
        """The logged requests to one route."""
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path == path]

    @contextmanager
    def outage(
        self, status: int = 503, body: bytes = b"Service Unavailable", *, headers: Mapping[str, str] | None = None
    ) -> Iterator[None]:
        """While inside, answer every request with ``status`` (requests are still logged); ``headers`` adds e.g.
        ``Retry-After``."""
        self._outage = Reply(status, body, {"Content-Type": "text/plain", **(headers or {})})
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

    def _handler_class(self) -> type[ConnectionHandler]:
        server = self

        class _Handler(ConnectionHandler):
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
                self.paced_write(self._head(reply), reply.drip_interval if reply.drip_phase == "headers" else 0.0)
                body_interval = reply.drip_interval if reply.drip_phase == "body" else 0.0
                for chunk in reply.chunks():
                    self.paced_write(chunk, body_interval)

            def _head(self, reply: Reply) -> bytes:
                """Status line and headers; a streamed body without a length ends by closing the connection."""
                names = {name.lower(): value for name, value in reply.headers.items()}
                lines = [f"HTTP/1.1 {reply.status} {_phrase(reply.status)}", f"Server: {self.version_string()}"]
                if "date" not in names:
                    lines.append(f"Date: {self.date_time_string()}")
                lines += [f"{name}: {value}" for name, value in reply.headers.items()]
                if "content-length" not in names:
                    if reply.stream is None:
                        lines.append(f"Content-Length: {len(reply.body)}")
                    else:
                        lines.append("Connection: close")
                        self.close_connection = True
                if names.get("connection", "").lower() == "close":
                    self.close_connection = True
                return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

            do_GET = do_POST = do_PUT = do_DELETE = _serve

        return _Handler


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


S = TypeVar("S", bound="LoopbackService")


class LoopbackService:
    """A fake endpoint served by one :class:`LoopbackServer`, ``self.server``: ``url``, ``url_for()``,
    ``start()``, ``stop()`` and ``with`` delegate to it."""

    server: LoopbackServer

    @property
    def url(self) -> str:
        """The server's base URL, ``http(s)://127.0.0.1:PORT``."""
        return self.server.url

    def url_for(self, host: str) -> str:
        """The server's base URL under another name its certificate covers."""
        return self.server.url_for(host)

    def start(self: S) -> S:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self: S) -> S:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
