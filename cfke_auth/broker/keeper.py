"""Keeping the broker's credentials: each one held fresh on the async engine, and every exchange counted and logged.

A :class:`Keeper` wraps one shared :class:`~cfke_auth.RefreshingCredential` (from a provider package's
``refresh.py``). Requests read it through :meth:`Keeper.get`; a background task asks it every
:data:`KEEP_INTERVAL` seconds too, so it is obtained at startup (readiness needs it) and refreshed ahead of expiry
even when no client asks. The engine runs the exchanges; the keeper only watches them through the engine's public
counters: each exchange that issued a credential is logged in one line (its expiry, never the value) and counted,
each failed one counted by its error code (the engine itself logs a failure's reason, once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Hashable, Iterator
from datetime import datetime, timezone
from typing import Generic, TypeVar

from .._engine import RefreshingCredential
from .._errors import CfkeAuthError, ConfigurationError, ExchangeError, TokenError
from .metrics import Metrics

__all__ = ["KEEP_INTERVAL", "Keeper", "Keepers", "error_code", "obtain", "upstream_status"]

T = TypeVar("T")
R = TypeVar("R")
K = TypeVar("K", bound=Hashable)

#: How often a keeper asks its credential (the engine's hot path: no exchange unless one is due).
KEEP_INTERVAL = 1.0
_log = logging.getLogger("cfke_auth.broker")


def error_code(error: BaseException) -> str:
    """A short label for what failed: the provider's error code, ``token-REASON``, ``configuration`` or ``internal``."""
    if isinstance(error, ExchangeError):
        return error.code
    if isinstance(error, TokenError):
        return f"token-{error.reason}"
    return "configuration" if isinstance(error, ConfigurationError) else "internal"


def upstream_status(error: BaseException) -> int:
    """The status for a credential the broker could not obtain: 503 when trying again later may help (the SDKs
    retry it), 502 when it will not (Google's and Azure's Python clients would otherwise retry for ~15 s)."""
    return 503 if isinstance(error, ExchangeError) and error.retryable else 502


async def obtain(lookup: Callable[[], Keeper[T]], refuse: Callable[[int, CfkeAuthError], R]) -> T | R:
    """The value of the keeper ``lookup`` finds, or the protocol's refusal ``refuse(status, error)``: 400 when the
    request names a credential this broker will not serve, :func:`upstream_status` when it cannot be obtained."""
    try:
        keeper = lookup()
    except ConfigurationError as exc:
        return refuse(400, exc)
    try:
        return await keeper.get()
    except CfkeAuthError as exc:
        return refuse(upstream_status(exc), exc)


class Keeper(Generic[T]):
    """One credential the broker serves: ``provider`` (``aws``, ``gcp``, ``azure``) and ``label`` (the role, scopes,
    audience or resource: never a secret) name it in logs and metrics. ``required`` ones count for readiness."""

    def __init__(
        self, provider: str, label: str, credential: RefreshingCredential[T], metrics: Metrics, *, required: bool
    ) -> None:
        self.provider = provider
        self.label = label
        self.credential = credential
        self.required = required
        self._metrics = metrics
        self._attempts = credential.attempts  # exchanges made before this keeper watched are not its to count
        self._expires = credential.expires_at
        self._code: str | None = None  # the error code a caller last saw, for the failure counted next
        self._task: asyncio.Task[None] | None = None

    async def get(self) -> T:
        """The current value (waiting for the exchange only when nothing valid is held); the engine's typed error
        when nothing valid can be had."""
        try:
            value = await self.credential.aget()
        except CfkeAuthError as exc:
            self._code = error_code(exc)
            self._account()
            raise
        self._account()
        return value

    def seconds_left(self) -> float | None:
        """Seconds until the held value expires, or None when nothing was obtained yet."""
        expires_at = self.credential.expires_at
        return None if expires_at is None else expires_at - time.time()

    def start(self) -> None:
        """Start keeping the credential fresh in the background (on the running loop)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._keep(), name=f"keep {self.provider}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _keep(self) -> None:
        while True:
            with contextlib.suppress(CfkeAuthError):  # counted by get(); the engine logged its reason
                await self.get()
            await self.credential.asettle()  # a refresh that get() started in the background
            self._account()
            await asyncio.sleep(KEEP_INTERVAL)

    def _account(self) -> None:
        """Count (and log) the exchanges that ended since the last call, once each."""
        if not self.credential.settle(0):
            return  # one is in flight: counted when it has ended
        attempts, expires = self.credential.attempts, self.credential.expires_at
        ended = attempts - self._attempts
        code, self._code = self._code, None
        if ended <= 0:
            return
        self._attempts = attempts
        issued = expires is not None and expires != self._expires
        if issued:
            assert expires is not None
            self._expires = expires
            self._metrics.exchanges.labels(self.provider).inc()
            until = datetime.fromtimestamp(expires, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            _log.info(
                "%s %s: credential issued, expires %s (in %.0f s)",
                self.provider,
                self.label,
                until,
                expires - time.time(),
            )
        if ended > issued:  # the code a caller saw, else the engine's last error (a refresh behind the served value)
            last = self.credential.last_error
            code = code or (error_code(last) if last is not None else "unknown")
            self._metrics.failures.labels(self.provider, code).inc(ended - issued)


class Keepers(Generic[K, T]):
    """The keepers of one kind of credential, made on first request for a key (a scope set, an audience, a
    resource), at most ``limit`` of them: each is an exchange and a background task, so a client naming ever new
    keys cannot make the broker exchange without end."""

    def __init__(
        self,
        provider: str,
        what: str,
        make: Callable[[K], tuple[str, RefreshingCredential[T]]],
        metrics: Metrics,
        *,
        limit: int = 16,
    ) -> None:
        self.provider = provider
        self._what = what
        self._make = make
        self._metrics = metrics
        self._limit = limit
        self._keepers: dict[K, Keeper[T]] = {}

    def get(self, key: K, *, required: bool = False) -> Keeper[T]:
        """The keeper for ``key``, started if new; a ConfigurationError past the limit."""
        keeper = self._keepers.get(key)
        if keeper is None:
            if len(self._keepers) >= self._limit:
                raise ConfigurationError(f"this broker already serves {self._limit} distinct {self._what}")
            label, credential = self._make(key)
            keeper = self._keepers[key] = Keeper(self.provider, label, credential, self._metrics, required=required)
            keeper.start()
        return keeper

    def __iter__(self) -> Iterator[Keeper[T]]:
        return iter(list(self._keepers.values()))

    async def stop(self) -> None:
        for keeper in self:
            await keeper.stop()
