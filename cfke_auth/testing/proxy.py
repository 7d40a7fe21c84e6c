"""A real forward proxy on 127.0.0.1 that counts what goes through it, as a corporate proxy would see it.

``CONNECT host:port`` opens a tunnel (the client's TLS runs end to end through it); an absolute-URI request
(``GET http://host:port/path``) is forwarded. The proxy, not the client, turns names into addresses, through
``routes``, so tests can use names that do not resolve. Optional Basic credentials (407 without them) and a
refusal knob (e.g. 403) cover the ways a proxy says no.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import quote, urlsplit

from .server import ConnectionHandler, ThreadedListener, shutdown_quietly

__all__ = ["ConnectProxy", "ProxiedRequest", "ProxyRefusal", "Route", "Router", "authority"]

Route = tuple[str, int]
#: Maps a requested ``(host, port)`` to the address to connect to, or ``None`` for an unknown name.
Router = Callable[[str, int], Route | None]

T = TypeVar("T")

_BUFFER = 64 * 1024
_CONNECT_TIMEOUT = 5.0
#: After the server side of a connection ends, how long the client may take to close its side (a lingering
#: close: closing with unread client bytes would reset the connection and could cost the client the answer).
_LINGER = 2.0
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "proxy-authorization"})


@dataclass(frozen=True)
class ProxiedRequest:
    """A plain-http request the proxy forwarded: method, absolute URL, headers (lower-case names)."""

    method: str
    url: str
    headers: dict[str, str]


@dataclass(frozen=True)
class ProxyRefusal:
    """A CONNECT or request the proxy answered itself: 407, a :meth:`ConnectProxy.refuse_with` status, 400, 502."""

    method: str
    target: str
    status: int


def authority(host: str, port: int) -> str:
    """``host:port`` as written in a CONNECT line or a ``routes`` key (IPv6 in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _parse_authority(target: str) -> Route | None:
    host, sep, port = target.rpartition(":")
    if not sep or not host or not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        return None
    return host.removeprefix("[").removesuffix("]").lower(), int(port)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class ConnectProxy:
    """A threaded CONNECT + plain-http proxy on ``127.0.0.1``; ``start()``/``stop()`` or ``with``.

    ``routes`` maps requested authorities (``"sts.example.test:443"``) to real addresses, or is a callable
    ``(host, port) -> (host, port) | None``; IP literals not in it are connected to as they are; any other name
    answers 502 (the machine's DNS is never asked). ``credentials=("user", "pass")`` demands
    ``Proxy-Authorization: Basic``. ``tunnels``, ``requests`` and ``refusals`` record everything in order.
    """

    def __init__(
        self, routes: Mapping[str, Route] | Router | None = None, *, credentials: tuple[str, str] | None = None
    ) -> None:
        self.routes: dict[str, Route] = {}
        self._router: Router | None = None
        if callable(routes):
            self._router = routes
        elif routes is not None:
            self.routes = {key.lower(): address for key, address in routes.items()}
        self.credentials = credentials
        self._refusal: int | None = None
        self._lock = threading.Lock()
        self._tunnels: list[Route] = []
        self._requests: list[ProxiedRequest] = []
        self._refusals: list[ProxyRefusal] = []
        self._listener = ThreadedListener(_handler_class(self))

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``: the value for ``HTTPS_PROXY``/``HTTP_PROXY`` or httpx's ``proxy=``."""
        return f"http://127.0.0.1:{self._listener.port}"

    def url_with(self, user: str, password: str) -> str:
        """The proxy URL carrying credentials (``http://user:pass@127.0.0.1:PORT``), as clients take them."""
        return f"http://{quote(user, safe='')}:{quote(password, safe='')}@127.0.0.1:{self._listener.port}"

    @property
    def tunnels(self) -> list[Route]:
        """Every tunnel opened, as the ``(host, port)`` the client asked for, in order."""
        with self._lock:
            return list(self._tunnels)

    @property
    def tunnel_count(self) -> int:
        with self._lock:
            return len(self._tunnels)

    @property
    def requests(self) -> list[ProxiedRequest]:
        """Every plain-http request forwarded, in order."""
        with self._lock:
            return list(self._requests)

    @property
    def refusals(self) -> list[ProxyRefusal]:
        """Every CONNECT or request answered by the proxy itself, in order."""
        with self._lock:
            return list(self._refusals)

    def refuse_with(self, status: int | None) -> None:
        """Answer every later CONNECT and request with ``status`` (e.g. 403, a policy refusal); ``None`` stops.
        Credentials are still checked first, as a real proxy does."""
        self._refusal = status

    def resolve(self, host: str, port: int) -> Route | None:
        """Where a request for ``host:port`` goes: ``routes``, then the router callable, then IP literals as is."""
        route = self.routes.get(authority(host, port))
        if route is None and self._router is not None:
            route = self._router(host, port)
        if route is None and _is_ip(host):
            route = (host, port)
        return route

    def start(self) -> ConnectProxy:
        self._listener.start()
        return self

    def stop(self) -> None:
        """Stop accepting and end every tunnel and forwarded request in progress; returns at once."""
        self._listener.stop()

    def __enter__(self) -> ConnectProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _authorized(self, header: str | None) -> bool:
        if self.credentials is None:
            return True
        scheme, _, value = (header or "").strip().partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            given = base64.b64decode(value.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        return hmac.compare_digest(given, ":".join(self.credentials).encode())

    def _refusal_status(self, header: str | None) -> int | None:
        return 407 if not self._authorized(header) else self._refusal

    def _record(self, into: list[T], item: T) -> None:
        with self._lock:
            into.append(item)


def _handler_class(proxy: ConnectProxy) -> type[ConnectionHandler]:
    class _ProxyHandler(ConnectionHandler):
        def do_CONNECT(self) -> None:
            target = _parse_authority(self.path)
            if target is None:
                self._refuse(400, "CONNECT needs host:port")
                return
            upstream = self._open(*target)
            if upstream is not None:
                proxy._record(proxy._tunnels, target)
                self.send_response(200, "Connection Established")
                self.end_headers()
                self._splice(upstream)

        def _forward(self) -> None:
            parts = urlsplit(self.path)
            if parts.scheme != "http" or not parts.hostname:
                self._refuse(400, "a proxy takes absolute http:// URLs (https goes through CONNECT)")
                return
            try:
                port = parts.port or 80
            except ValueError:
                self._refuse(400, "bad port")
                return
            upstream = self._open(parts.hostname.lower(), port)
            if upstream is None:
                return
            headers = {name.lower(): value for name, value in self.headers.items()}
            proxy._record(proxy._requests, ProxiedRequest(self.command, self.path, headers))
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            kept = [f"{name}: {value}" for name, value in self.headers.items() if name.lower() not in _HOP_BY_HOP]
            head = "\r\n".join([f"{self.command} {target} HTTP/1.1", *kept, "Connection: close"]) + "\r\n\r\n"
            try:
                upstream.sendall(head.encode("latin-1"))
            except OSError:
                self._close_upstream(upstream)
                raise
            self._splice(upstream, rewrite_head=True)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _forward

        def _open(self, host: str, port: int) -> socket.socket | None:
            """Check credentials and policy, resolve, connect; answer the client itself on any refusal."""
            status = proxy._refusal_status(self.headers.get("Proxy-Authorization"))
            if status is not None:
                self._refuse(status, "refused by the proxy")
                return None
            address = proxy.resolve(host, port)
            if address is None:
                self._refuse(502, f"unknown host {host}")
                return None
            try:
                upstream = socket.create_connection(address, timeout=_CONNECT_TIMEOUT)
            except OSError:
                self._refuse(502, f"cannot connect to {authority(host, port)}")
                return None
            upstream.settimeout(None)
            self.server.track(upstream)
            return upstream

        def _refuse(self, status: int, text: str) -> None:
            proxy._record(proxy._refusals, ProxyRefusal(self.command, self.path, status))
            body = text.encode()
            self.send_response(status)
            if status == 407:
                self.send_header("Proxy-Authenticate", 'Basic realm="cfke-auth test proxy"')
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _splice(self, upstream: socket.socket, *, rewrite_head: bool = False) -> None:
            """Pipe bytes both ways. The client half-closing is passed on (the answer still comes back); the
            upstream side ending ends the connection, after a lingering close."""
            client = self.connection
            self.close_connection = True
            pump = threading.Thread(target=self._client_to_upstream, args=(upstream,), daemon=True)
            pump.start()
            try:
                if rewrite_head:
                    client.sendall(_rewrite_head(upstream))
                while data := upstream.recv(_BUFFER):
                    client.sendall(data)
                client.shutdown(socket.SHUT_WR)
                pump.join(_LINGER)
            except OSError:
                pass  # either side reset: tear both down below
            finally:
                shutdown_quietly(client)
                shutdown_quietly(upstream)
                pump.join()
                self._close_upstream(upstream)

        def _client_to_upstream(self, upstream: socket.socket) -> None:
            try:
                while data := self.rfile.read1(_BUFFER):
                    upstream.sendall(data)
                upstream.shutdown(socket.SHUT_WR)
            except OSError:
                shutdown_quietly(upstream)  # wakes the other direction

        def _close_upstream(self, upstream: socket.socket) -> None:
            self.server.untrack(upstream)
            upstream.close()

    return _ProxyHandler


def _rewrite_head(upstream: socket.socket) -> bytes:
    """Read the upstream's response head and mark it ``Connection: close`` (the proxy forwards one request per
    connection); returns the head plus any body bytes read with it. A malformed head passes through as is."""
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        data = upstream.recv(_BUFFER)
        buffer += data
        if not data or len(buffer) > _BUFFER:
            return buffer
    head, rest = buffer.split(b"\r\n\r\n", 1)
    status_line, *lines = head.split(b"\r\n")
    kept = [line for line in lines if line.split(b":", 1)[0].strip().lower().decode("latin-1") not in _HOP_BY_HOP]
    return b"\r\n".join([status_line, *kept, b"Connection: close"]) + b"\r\n\r\n" + rest
