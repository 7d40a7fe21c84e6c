"""cfke-auth's own httpx transports: proxy routing, TLS, and one deadline over every socket operation of an exchange.

httpx's timeouts bound each operation, so a server dripping a byte every few seconds keeps a request alive forever.
These transports give httpcore a network backend whose connect, TLS handshake, read and write are each cut to the time
left before the exchange's deadline (a context variable the flow driver sets, see :func:`deadline`), which makes the
deadline hold in threads and on event loops alike. Requests are routed through the proxy :class:`~._proxy.ProxyConfig`
names for their host, or directly; TLS contexts are built on the first ``https://`` request (in a worker thread on an
event loop), so a process that only talks to loopback never loads a CA bundle.
"""

from __future__ import annotations

import contextlib
import contextvars
import ssl
import time
import typing
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpcore
import httpx

from ._proxy import ProxyConfig, ProxyUrl

__all__ = ["AsyncTransport", "Transport", "deadline"]

#: Monotonic instant by which the current exchange must be over; None outside an exchange.
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("cfke_auth_deadline", default=None)


@contextlib.contextmanager
def deadline(at: float) -> Iterator[None]:
    """Bound every socket operation inside the block by the monotonic instant ``at``."""
    token = _DEADLINE.set(at)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def _bounded(timeout: float | None, expired: type[Exception]) -> float | None:
    """``timeout`` cut to the time left before the deadline; ``expired`` raised when none is left."""
    at = _DEADLINE.get()
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise expired("the exchange's deadline passed")
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, _bounded(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.connect_tcp(host, port, bounded, local_address, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _AsyncStream(httpcore.AsyncNetworkStream):
    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _AsyncStream(await self._inner.start_tls(ssl_context, server_hostname, bounded))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _AsyncBackend(httpcore.AsyncNetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _AsyncStream(await self._inner.connect_tcp(host, port, bounded, local_address, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _core_request(request: httpx.Request) -> httpcore.Request:
    url = request.url
    return httpcore.Request(
        method=request.method,
        url=httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path),
        headers=request.headers.raw,
        content=typing.cast("typing.Iterable[bytes]", request.stream),
        extensions=request.extensions,
    )


def _core_proxy(proxy: ProxyUrl, ssl_context: ssl.SSLContext | None) -> httpcore.Proxy:
    return httpcore.Proxy(proxy.url, auth=proxy.auth, ssl_context=ssl_context)


class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, stream: typing.Iterable[bytes]) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        yield from self._stream

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


class _AsyncResponseStream(httpx.AsyncByteStream):
    def __init__(self, stream: typing.AsyncIterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for part in self._stream:
            yield part

    async def aclose(self) -> None:
        aclose = getattr(self._stream, "aclose", None)
        if aclose is not None:
            await aclose()


PoolKey = tuple[ProxyUrl | None, bool]  # (proxy, https)


def _route(proxies: ProxyConfig, url: httpx.URL) -> tuple[PoolKey, ProxyUrl | None, bool]:
    """Which pool serves ``url``, through which proxy (None: directly), and whether it needs a TLS context (an
    https target, or an https proxy)."""
    proxy = proxies.proxy_for(url)
    https = url.scheme == "https"
    return (proxy, https), proxy, https or (proxy is not None and proxy.url.startswith("https:"))


class Transport(httpx.BaseTransport):
    """A sync transport routing each request through the proxy ``proxies`` names for it, or directly, with TLS
    verified against the context ``ssl_context()`` builds (called on the first https request or https proxy).

    Raises httpcore's exceptions (``ConnectError``, ``ReadTimeout``, ``ProxyError``, ...), which the caller maps.
    """

    def __init__(self, proxies: ProxyConfig, ssl_context: Callable[[], ssl.SSLContext]) -> None:
        self._proxies = proxies
        self._ssl_context = ssl_context
        self._pools: dict[PoolKey, httpcore.ConnectionPool] = {}

    def _pool(self, url: httpx.URL) -> httpcore.ConnectionPool:
        key, proxy, tls = _route(self._proxies, url)
        pool = self._pools.get(key)
        if pool is None:
            context = self._ssl_context() if tls else None
            pool = self._pools.setdefault(
                key,
                httpcore.ConnectionPool(
                    ssl_context=context,
                    proxy=_core_proxy(proxy, context) if proxy else None,
                    network_backend=_Backend(),
                ),
            )
        return pool

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._pool(request.url).handle_request(_core_request(request))
        stream = typing.cast("typing.Iterable[bytes]", response.stream)
        return httpx.Response(
            response.status, headers=response.headers, stream=_ResponseStream(stream), extensions=response.extensions
        )

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()


class AsyncTransport(httpx.AsyncBaseTransport):
    """The event-loop twin of :class:`Transport`; the TLS context is built in a worker thread the first time, so
    loading a CA bundle never blocks the loop."""

    def __init__(self, proxies: ProxyConfig, ssl_context: Callable[[], ssl.SSLContext]) -> None:
        self._proxies = proxies
        self._ssl_context = ssl_context
        self._pools: dict[PoolKey, httpcore.AsyncConnectionPool] = {}

    async def _pool(self, url: httpx.URL) -> httpcore.AsyncConnectionPool:
        import asyncio

        key, proxy, tls = _route(self._proxies, url)
        pool = self._pools.get(key)
        if pool is None:
            context = await asyncio.to_thread(self._ssl_context) if tls else None
            pool = self._pools.setdefault(
                key,
                httpcore.AsyncConnectionPool(
                    ssl_context=context,
                    proxy=_core_proxy(proxy, context) if proxy else None,
                    network_backend=_AsyncBackend(),
                ),
            )
        return pool

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        pool = await self._pool(request.url)
        response = await pool.handle_async_request(_core_request(request))
        stream = typing.cast("typing.AsyncIterable[bytes]", response.stream)
        return httpx.Response(
            response.status,
            headers=response.headers,
            stream=_AsyncResponseStream(stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        for pool in self._pools.values():
            await pool.aclose()
        self._pools.clear()
