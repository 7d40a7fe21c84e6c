"""The one HTTP stack: shared httpx clients with timeouts, and the rule about where a token may be sent.

A process keeps one sync :class:`httpx.Client` and one :class:`httpx.AsyncClient` per event loop, created on first
use (so ``import cfke_auth`` does not import httpx) and re-created in a forked child, which must not share the
parent's connections. The TLS transport, whose CA bundle takes tens of milliseconds to load, is built at the first
``https://`` request, so a process that only talks to a loopback endpoint never pays for it.
"""

from __future__ import annotations

import ipaddress
import threading
import weakref
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx

from . import _fork

if TYPE_CHECKING:
    import asyncio

__all__ = ["TIMEOUT", "async_client", "check_endpoint", "sync_client"]

#: Connect fast or fail fast: a slow token endpoint should surface as a retryable error, not a hung caller.
TIMEOUT = httpx.Timeout(10.0, connect=3.0)
_USER_AGENT = "cfke-auth/0.1"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_endpoint(url: str, *, what: str) -> str:
    """Return ``url`` (without a trailing slash) if a token may be sent there: ``https://``, or ``http://`` to a
    loopback host (tests, local emulators). Raises ``ValueError`` naming ``what`` otherwise."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        raise ValueError(f"{what} must not carry credentials in its URL (they would end up in logs and errors)")
    if parts.scheme == "https" and parts.hostname:
        return url.rstrip("/")
    if parts.scheme == "http" and parts.hostname and _is_loopback(parts.hostname):
        return url.rstrip("/")
    raise ValueError(
        f"{what} {url!r} is not an https:// URL (plain http:// is allowed only for loopback hosts, "
        "so the token is never sent in clear)"
    )


class _LazyTLS(httpx.BaseTransport):
    """The ``https://`` transport of the sync client, built on its first request."""

    def __init__(self) -> None:
        self._transport: httpx.HTTPTransport | None = None
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self._transport is None:
            with self._lock:
                self._transport = self._transport or httpx.HTTPTransport()
        return self._transport.handle_request(request)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


class _LazyAsyncTLS(httpx.AsyncBaseTransport):
    """The ``https://`` transport of an async client, built on its first request in a worker thread: loading the CA
    bundle is blocking file I/O that must not stall the event loop."""

    def __init__(self) -> None:
        self._transport: asyncio.Future[httpx.AsyncHTTPTransport] | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        import asyncio

        if self._transport is None:  # one event loop: no lock needed, concurrent first requests share the future
            self._transport = asyncio.ensure_future(asyncio.to_thread(httpx.AsyncHTTPTransport))
        return await (await self._transport).handle_async_request(request)

    async def aclose(self) -> None:
        if self._transport is not None:
            await (await self._transport).aclose()


def _new_async_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=_LazyAsyncTLS(),
        mounts={"http://": httpx.AsyncHTTPTransport(verify=False)},  # plain http: no TLS to verify
        timeout=TIMEOUT,
        headers={"User-Agent": _USER_AGENT},
    )


class _Clients:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sync: httpx.Client | None = None
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
            weakref.WeakKeyDictionary()
        )
        _fork.register(self)

    def sync(self) -> httpx.Client:
        client = self._sync
        if client is None:
            with self._lock:
                if self._sync is None:
                    self._sync = httpx.Client(
                        transport=_LazyTLS(),
                        mounts={"http://": httpx.HTTPTransport(verify=False)},  # plain http: no TLS to verify
                        timeout=TIMEOUT,
                        headers={"User-Agent": _USER_AGENT},
                    )
                client = self._sync
        return client

    async def for_loop(self) -> httpx.AsyncClient:
        import asyncio

        loop = asyncio.get_running_loop()
        client = self._async.get(loop)
        if client is None:
            # Built in a worker thread: the first build imports httpcore's transports, blocking file I/O.
            client = await asyncio.to_thread(_new_async_client)
            client = self._async.setdefault(loop, client)
        return client

    def _after_fork(self) -> None:
        # The parent's pools hold sockets the parent still uses: drop them unclosed rather than close them here.
        self._lock = threading.Lock()
        self._sync = None
        self._async = weakref.WeakKeyDictionary()


_clients = _Clients()


def sync_client() -> httpx.Client:
    """The process's shared sync client."""
    return _clients.sync()


async def async_client() -> httpx.AsyncClient:
    """The shared async client of the running event loop (built off the loop the first time)."""
    return await _clients.for_loop()
