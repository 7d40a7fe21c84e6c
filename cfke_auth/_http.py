"""The one HTTP stack: how every exchange reaches its token endpoint, and what it refuses to do there.

Requests go through the proxy the environment names (see :mod:`._proxy`), with TLS verified against the CA bundle it
names (see :mod:`._tls`), carrying cfke-auth's ``User-Agent``. Each exchange has one overall deadline that holds
across connect, headers and body; every answer is read streaming with a cap on its decoded size, so neither a
hostile nor a broken server can hold a caller or fill memory; and a token is never sent in clear off loopback.
:class:`HttpOptions` changes any of that for the few who need to (their own ``httpx`` client, CA, proxy, deadline).

Sync exchanges share one transport (connection pool) per network configuration; each async exchange opens its own and
closes it at the end, so no event loop is kept alive by a pool after ``asyncio.run()`` returns.
"""

from __future__ import annotations

import re
import ssl
import sys
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import urlsplit

import httpcore
import httpx

from . import _fork
from ._errors import ConfigurationError, ExchangeError
from ._proxy import ProxyConfig, is_loopback
from ._tls import CaConfig
from ._transport import AsyncTransport, Transport
from ._version import __version__

__all__ = ["USER_AGENT", "AsyncSession", "Http", "HttpOptions", "check_endpoint"]

USER_AGENT = f"cfke-auth/{__version__} python/{sys.version_info[0]}.{sys.version_info[1]}"
_STRIPPED = ("content-encoding", "content-length", "transfer-encoding")


@dataclass(frozen=True)
class HttpOptions:
    """How cfke-auth reaches token endpoints; the defaults behave as the clouds' SDKs do.

    ``deadline`` bounds a whole exchange (every request of it, connect to last body byte), ``timeout`` each single
    connect, read and write. ``verify`` is a CA bundle path or an ``ssl.SSLContext`` (default: from
    ``AWS_CA_BUNDLE`` for AWS, ``REQUESTS_CA_BUNDLE``, ``SSL_CERT_FILE``, ``SSL_CERT_DIR``, else certifi).
    ``proxy`` sends every non-loopback request through that proxy (``""``: none; default: ``HTTPS_PROXY``,
    ``HTTP_PROXY``, ``ALL_PROXY``, ``NO_PROXY``). ``trust_env=False`` ignores all of those variables.
    ``client``/``async_client`` are your own ``httpx`` clients, used as they are (their proxies, TLS and timeouts;
    the deadline is then enforced between reads). ``max_response_bytes`` caps an answer's decoded size.
    """

    deadline: float = 30.0
    timeout: float = 10.0
    verify: str | ssl.SSLContext | None = None
    proxy: str | None = None
    trust_env: bool = True
    client: httpx.Client | None = None
    async_client: httpx.AsyncClient | None = None
    max_response_bytes: int = 1024 * 1024

    def __post_init__(self) -> None:
        for name in ("deadline", "timeout", "max_response_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ConfigurationError(f"HttpOptions.{name} must be a positive number, not {value!r}")


DEFAULT_OPTIONS = HttpOptions()


def check_endpoint(url: str, *, what: str) -> str:
    """Return ``url`` (without a trailing slash) if a token may be sent there: ``https://``, or ``http://`` to a
    loopback host (tests, local emulators). Raises :class:`~cfke_auth.ConfigurationError` naming ``what``."""
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None:
        raise ConfigurationError(f"{what} must be a URL string, not {type(url).__name__}")
    if parts.username or parts.password:
        raise ConfigurationError(f"{what} must not carry credentials in its URL (they would end up in logs and errors)")
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise ConfigurationError(f"{what} {url!r} has a port that is not a number") from None
    if parts.scheme == "https" and parts.hostname:
        return url.rstrip("/")
    if parts.scheme == "http" and parts.hostname and is_loopback(parts.hostname):
        return url.rstrip("/")
    raise ConfigurationError(
        f"{what} {url!r} is not an https:// URL (plain http:// is allowed only for loopback hosts, "
        "so the token is never sent in clear)"
    )


class _Network(NamedTuple):
    """The proxies and CA certificates one exchange uses: a hashable snapshot of options and environment."""

    proxies: ProxyConfig
    verify: CaConfig | ssl.SSLContext

    def ssl_context(self) -> ssl.SSLContext:
        return self.verify if isinstance(self.verify, ssl.SSLContext) else self.verify.context()


def _network(options: HttpOptions, ca_variables: tuple[str, ...]) -> _Network:
    if options.proxy is not None:
        proxies = ProxyConfig.fixed(options.proxy)
    else:
        proxies = ProxyConfig.from_env() if options.trust_env else ProxyConfig.fixed(None)
    verify: CaConfig | ssl.SSLContext
    if isinstance(options.verify, ssl.SSLContext):
        verify = options.verify
    elif options.verify is not None:
        verify = CaConfig.of_file(options.verify)
    else:
        verify = CaConfig.from_env(ca_variables) if options.trust_env else CaConfig(None, None)
    return _Network(proxies, verify)


class _SyncTransports:
    """One sync transport (and its connection pool) per network configuration, a few configurations at most."""

    MAX = 8

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._transports: OrderedDict[_Network, Transport] = OrderedDict()
        _fork.register(self)

    def get(self, network: _Network) -> Transport:
        with self._lock:
            transport = self._transports.get(network)
            if transport is None:
                transport = self._transports[network] = Transport(network.proxies, network.ssl_context)
                if len(self._transports) > self.MAX:
                    self._transports.popitem(last=False)  # not closed: a thread may still be using it
            self._transports.move_to_end(network)
            return transport

    def _after_fork(self) -> None:
        # The parent's pools hold sockets the parent still uses: forget them unclosed.
        self._lock = threading.Lock()
        self._transports = OrderedDict()


_sync_transports = _SyncTransports()


class _Body:
    """An answer's body as it streams in: its ``Content-Encoding`` undone with a bound, gathered up to ``cap``
    decoded bytes, so neither a huge answer nor a gzip bomb is ever held in memory past the cap."""

    def __init__(self, response: httpx.Response, request: httpx.Request, provider: str, cap: int) -> None:
        self._provider = provider
        self._cap = cap
        self._bytes = bytearray()
        encoding = response.headers.get("content-encoding", "").strip().lower()
        if encoding in ("", "identity"):
            self._zlib = None
        elif encoding in ("gzip", "x-gzip", "deflate"):
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib header, detected
        else:
            raise ExchangeError(
                f"{request.url.copy_with(query=None)} answered with Content-Encoding {encoding!r}, which cfke-auth "
                "does not decode",
                provider=provider,
                code="malformed-response",
                retryable=True,
            )

    def add(self, data: bytes) -> bool:
        """Take the next raw chunk; False once the body is past the cap (stop reading)."""
        room = self._cap - len(self._bytes) + 1  # one byte more than fits tells the cap was passed
        if self._zlib is None:
            self._bytes += data[:room]
        else:
            try:
                self._bytes += self._zlib.decompress(data, room)
            except zlib.error:
                raise ExchangeError(
                    "the answer's compressed body is corrupt",
                    provider=self._provider,
                    code="malformed-response",
                    retryable=True,
                ) from None
        return len(self._bytes) <= self._cap

    def value(self) -> bytes | None:
        """The decoded body, or None when it was larger than the cap."""
        return bytes(self._bytes) if len(self._bytes) <= self._cap else None


def _plain(response: httpx.Response, body: bytes) -> httpx.Response:
    """The answer as parsers see it: status, headers (encoding ones dropped) and the decoded body; no request."""
    headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _STRIPPED]
    return httpx.Response(response.status_code, headers=headers, content=body)


def _tls_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(exc)


_CAUGHT = (
    httpx.HTTPError,
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.ProxyError,
    httpcore.UnsupportedProtocol,
)
_TIMEOUTS = (httpx.TimeoutException, httpcore.TimeoutException)
_PROXY_ERRORS = (httpx.ProxyError, httpcore.ProxyError)


class Http:
    """How one provider's exchanges reach the network: ``options`` plus the CA variables that provider honours.

    :meth:`send` (threads) and :meth:`session` (an event loop) return answers fully read and bounded, or raise a
    retryable :class:`~cfke_auth.ExchangeError` naming the endpoint -- never an ``httpx`` error, and never chained
    to one (the failed request, token in its body, would ride along on ``__context__``).
    """

    def __init__(self, options: HttpOptions | None = None, ca_variables: tuple[str, ...] = ()) -> None:
        self.options = options or DEFAULT_OPTIONS
        self.ca_variables = ca_variables

    def __repr__(self) -> str:
        return f"Http({self.options!r})"

    def _prepare(self, request: httpx.Request, until: float) -> None:
        """Headers every exchange sends, and per-operation timeouts no longer than the time left."""
        request.headers.setdefault("User-Agent", USER_AGENT)
        request.headers["Accept-Encoding"] = "identity"
        step = min(self.options.timeout, max(until - time.monotonic(), 0.001))
        request.extensions["timeout"] = {"connect": step, "read": step, "write": step, "pool": step}

    def _network(self) -> _Network:
        return _network(self.options, self.ca_variables)

    def _failure(self, exc: Exception, request: httpx.Request, provider: str) -> ExchangeError:
        url = request.url.copy_with(query=None)
        own = self.options.client is None and self.options.async_client is None
        proxy = self._network().proxies.proxy_for(request.url) if own else None
        via = f" through the proxy {proxy.url}" if proxy else ""
        if isinstance(exc, _TIMEOUTS):
            return ExchangeError(
                f"{request.method} {url}{via} did not complete within the exchange's deadline or timeout "
                f"({type(exc).__name__})",
                provider=provider,
                code="timeout",
                retryable=True,
                hint="the endpoint (or a proxy in between) is slow or unreachable; retried with backoff",
            )
        if isinstance(exc, _PROXY_ERRORS):
            answered = re.match(r"([1-5][0-9]{2})\b", str(exc))  # httpcore: "502 Bad Gateway"
            return ExchangeError(
                f"the proxy {proxy.url if proxy else ''} refused to connect to {url.host}: {type(exc).__name__}"
                + (f" {answered.group(1)}" if answered else ""),
                provider=provider,
                code="proxy",
                status=int(answered.group(1)) if answered else None,  # a 5xx: the proxy could not reach it either
                retryable=True,
                hint="check HTTPS_PROXY / HTTP_PROXY (and the proxy's credentials) and NO_PROXY",
            )
        if _tls_failure(exc):
            return ExchangeError(
                f"TLS to {url.host}{via} failed: its certificate is not trusted or the handshake was refused",
                provider=provider,
                code="tls",
                retryable=True,
                hint="behind a TLS-inspecting proxy, point SSL_CERT_FILE or REQUESTS_CA_BUNDLE (AWS: AWS_CA_BUNDLE) "
                "at a bundle holding its CA",
            )
        return ExchangeError(
            f"{request.method} {url}{via} failed: {type(exc).__name__}",
            provider=provider,
            code="connection",
            retryable=True,
            hint="the endpoint is unreachable; the request is retried with backoff",
        )

    def _too_large(self, request: httpx.Request, provider: str) -> ExchangeError:
        return ExchangeError(
            f"{request.url.copy_with(query=None)} answered more than {self.options.max_response_bytes} bytes "
            "(decoded): not a token endpoint's answer",
            provider=provider,
            code="response-too-large",
            retryable=True,
            hint="check the endpoint URL, and any proxy in between that may answer in its place",
        )

    def send(self, request: httpx.Request, *, provider: str, until: float) -> httpx.Response:
        """Send ``request`` and read its answer, by the monotonic instant ``until`` at the latest."""
        self._prepare(request, until)
        failure: ExchangeError | None = None
        body: bytes | None = None
        try:
            if self.options.client is not None:
                response = self.options.client.send(request, stream=True)
            else:
                response = _sync_transports.get(self._network()).handle_request(request)
            try:
                gathered = _Body(response, request, provider, self.options.max_response_bytes)
                # our own transport bounds every socket read by the deadline; a caller's client is checked here
                chunks = response.iter_raw() if self.options.client is None else _until(response.iter_raw(), until)
                for chunk in chunks:
                    if not gathered.add(chunk):
                        break
                body = gathered.value()
            finally:
                response.close()
        except _CAUGHT as exc:
            failure = self._failure(exc, request, provider)
        if failure is not None:
            raise failure  # outside the except block: nothing chained
        if body is None:
            raise self._too_large(request, provider)
        return _plain(response, body)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """An event-loop session for one exchange: its connections are closed when the block ends."""
        if self.options.async_client is not None:
            yield AsyncSession(self, None)
            return
        network = self._network()
        transport = AsyncTransport(network.proxies, network.ssl_context)
        try:
            yield AsyncSession(self, transport)
        finally:
            await transport.aclose()


def _until(chunks: Iterable[bytes], until: float) -> Iterable[bytes]:
    """``chunks``, stopped with a timeout once the deadline has passed (a caller's own client cannot be given it)."""
    for chunk in chunks:
        if time.monotonic() > until:
            raise httpx.ReadTimeout("the exchange's deadline passed while reading the answer")
        yield chunk


class AsyncSession:
    """Sends one exchange's requests on the running event loop (see :meth:`Http.session`)."""

    def __init__(self, http: Http, transport: AsyncTransport | None) -> None:
        self._http = http
        self._transport = transport

    async def send(self, request: httpx.Request, *, provider: str, until: float) -> httpx.Response:
        """Like :meth:`Http.send`, awaiting; the deadline also bounds the whole call on the loop."""
        import asyncio

        http = self._http
        http._prepare(request, until)
        failure: ExchangeError | None = None
        body: bytes | None = None
        response: httpx.Response | None = None
        try:
            response, body = await asyncio.wait_for(self._exchange(request, provider), max(until - time.monotonic(), 0))
        except asyncio.TimeoutError:
            failure = http._failure(httpx.ReadTimeout("deadline"), request, provider)
        except _CAUGHT as exc:
            failure = http._failure(exc, request, provider)
        if failure is not None:
            raise failure  # outside the except block: nothing chained
        assert response is not None
        if body is None:
            raise http._too_large(request, provider)
        return _plain(response, body)

    async def _exchange(self, request: httpx.Request, provider: str) -> tuple[httpx.Response, bytes | None]:
        client = self._http.options.async_client
        if client is not None:
            response = await client.send(request, stream=True)
        else:
            assert self._transport is not None
            response = await self._transport.handle_async_request(request)
        try:
            gathered = _Body(response, request, provider, self._http.options.max_response_bytes)
            async for chunk in response.aiter_raw():
                if not gathered.add(chunk):
                    break
            return response, gathered.value()
        finally:
            await response.aclose()
