"""The refresh engine: one credential value kept fresh for any number of threads and tasks.

:class:`RefreshingCredential` knows nothing of clouds. It calls an exchange function, remembers what it issued and
until when, and guarantees:

* **single flight** -- at most one exchange in flight per credential and world (threads, or one event loop's
  tasks); everyone else waits for it or keeps using the current value;
* **proactive refresh** -- the first caller past ~75-80 % of the lifetime (jittered, so a fleet of pods does not
  refresh in step) runs the exchange while the others keep being served the current value;
* **serve while valid** -- a failed refresh is retried with capped exponential backoff and jitter, and callers get
  the value they have as long as it is valid minus a safety margin; only when nothing valid is left does a caller
  see an error, and it is the error of the last attempt (a typed :class:`~cfke_auth.CfkeAuthError`);
* **a cheap hot path** -- one wall-clock read, one comparison, one attribute read: no lock.

Times are wall-clock seconds (``time.time()``), because expiry is an absolute instant set by the issuer's clock, and
a monotonic clock stops while a VM or laptop is suspended.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Generic, TypeVar

from . import _fork, _log
from .errors import CfkeAuthError, ExchangeError

if TYPE_CHECKING:  # asyncio is imported when first needed: it costs more than the rest of the package
    import asyncio

__all__ = ["Issued", "RefreshingCredential"]

T = TypeVar("T")
_time = time.time


def _uniform(low: float, high: float) -> float:
    """A jitter factor; random is imported on first use (the hot path never needs it)."""
    import random

    return random.uniform(low, high)  # noqa: S311 - jitter, not cryptography


class Issued(Generic[T]):
    """What one exchange produced: the credential ``value`` and its expiry (wall-clock epoch seconds).

    ``refresh_at`` is the provider's own advice on when to refresh (Entra ID's ``refresh_in``), if it gives one.
    """

    __slots__ = ("expires_at", "refresh_at", "value")

    def __init__(self, value: T, expires_at: float, refresh_at: float | None = None) -> None:
        self.value = value
        self.expires_at = expires_at
        self.refresh_at = refresh_at

    def __repr__(self) -> str:  # never the value: it is a secret
        return f"Issued(expires_at={self.expires_at!r}, refresh_at={self.refresh_at!r})"


class _State(Generic[T]):
    """An issued value with its schedule; replaced whole, never mutated, so readers need no lock."""

    __slots__ = ("expires_at", "obtained_at", "refresh_at", "usable_until", "value")

    def __init__(self, value: T, obtained_at: float, refresh_at: float, usable_until: float, expires_at: float) -> None:
        self.value = value
        self.obtained_at = obtained_at
        self.refresh_at = refresh_at  # first caller past this starts a refresh
        self.usable_until = usable_until  # past this the value is not handed out any more
        self.expires_at = expires_at


class RefreshingCredential(Generic[T]):
    """A credential value that refreshes itself through ``fetch`` (threads) or ``afetch`` (asyncio).

    ``name`` labels log lines, ``provider`` the errors the engine raises itself (default: ``name``).
    ``refresh_fraction`` is where in the lifetime a refresh starts (plus up to ``jitter`` more), ``safety_margin`` how
    long before expiry a value stops being served (capped at a tenth of the lifetime), ``backoff_base``/
    ``backoff_cap`` the retry schedule after failures, and ``wait_timeout`` how long a caller waits for someone
    else's exchange before giving up with a retryable :class:`ExchangeError`.
    """

    def __init__(
        self,
        fetch: Callable[[], Issued[T]] | None = None,
        afetch: Callable[[], Awaitable[Issued[T]]] | None = None,
        *,
        name: str,
        provider: str | None = None,
        refresh_fraction: float = 0.75,
        jitter: float = 0.05,
        safety_margin: float = 60.0,
        backoff_base: float = 1.0,
        backoff_cap: float = 60.0,
        wait_timeout: float = 60.0,
    ) -> None:
        if fetch is None and afetch is None:
            raise TypeError("RefreshingCredential needs fetch, afetch or both")
        self._fetch = fetch
        self._afetch = afetch
        self.name = name
        self.provider = provider or name
        self._refresh_fraction = refresh_fraction
        self._jitter = jitter
        self._safety_margin = safety_margin
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._wait_timeout = wait_timeout
        self._state: _State[T] | None = None
        self._attempts = 0  # exchanges started; waiters compare it to learn that one ran while they waited
        self._failures = 0  # consecutive failed exchanges
        self._last_error: BaseException | None = None
        self._next_attempt_at = 0.0
        self._lock = threading.Lock()
        self._alock: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None
        _fork.register(self)

    def __repr__(self) -> str:
        state = self._state
        left = f"{state.expires_at - _time():.0f}s left" if state else "empty"
        return f"<RefreshingCredential {self.name} ({left}, {self._failures} failures)>"

    @property
    def expires_at(self) -> float | None:
        """Expiry (epoch seconds) of the value currently held, or None before the first exchange."""
        state = self._state
        return state.expires_at if state else None

    @property
    def attempts(self) -> int:
        """How many exchanges this credential has started: for tests and diagnostics."""
        return self._attempts

    def get(self) -> T:
        """The current value, refreshing it first (or in this call, ahead of time) when needed. Thread-safe."""
        state = self._state
        if state is not None and _time() < state.refresh_at:
            return state.value
        return self._get_slow()

    async def aget(self) -> T:
        """Like :meth:`get`, for asyncio: waiting and exchanging never block the event loop."""
        state = self._state
        if state is not None and _time() < state.refresh_at:
            return state.value
        return await self._aget_slow()

    def invalidate(self, rejected: T | None = None, *, older_than: float = 0.0) -> None:
        """Drop the held value, so the next caller exchanges afresh (after a service refused it, say).

        With ``rejected``, only if that is still the held value: when many requests are refused with the same value,
        one exchange replaces it, and a value another caller already renewed is kept. With ``older_than``, only if
        the held value was obtained more than that many seconds ago: for callers that cannot tell which value was
        refused, so that a burst of refusals renews once.
        """
        state = self._state
        if rejected is not None and (state is None or state.value is not rejected):
            return
        if state is not None and _time() - state.obtained_at <= older_than:
            return
        self._state = None
        self._next_attempt_at = 0.0

    # -- slow paths: the sync and async versions differ only in how they wait and call -------------------------

    def _get_slow(self) -> T:
        state = self._state
        if self._usable(state):
            assert state is not None
            if self._due() and self._lock.acquire(blocking=False):
                try:
                    state = self._attempt_behind(state)
                finally:
                    self._lock.release()
            return state.value
        seen = self._attempts
        if not self._lock.acquire(timeout=self._wait_timeout):
            raise self._wait_timeout_error()
        try:
            ready = self._ready_or_raise(seen)
            return ready.value if ready else self._succeeded(self._call(self._sync_fetch()))
        finally:
            self._lock.release()

    async def _aget_slow(self) -> T:
        import asyncio

        state = self._state
        lock = self._async_lock()
        if self._usable(state):
            assert state is not None
            if self._due() and not lock.locked():
                async with lock:
                    state = await self._aattempt_behind(state)
            return state.value
        seen = self._attempts
        try:
            await asyncio.wait_for(lock.acquire(), self._wait_timeout)
        except asyncio.TimeoutError:
            raise self._wait_timeout_error() from None
        try:
            ready = self._ready_or_raise(seen)
            return ready.value if ready else self._succeeded(await self._acall(self._async_fetch()))
        finally:
            lock.release()

    def _attempt_behind(self, state: _State[T]) -> _State[T]:
        """Refresh while ``state`` is still usable: a failure is logged and scheduled for retry, not raised."""
        if not self._due():
            return self._state or state
        with contextlib.suppress(Exception):  # recorded by _call; the caller keeps the valid value
            self._succeeded(self._call(self._sync_fetch()))
        return self._state or state

    async def _aattempt_behind(self, state: _State[T]) -> _State[T]:
        if not self._due():
            return self._state or state
        with contextlib.suppress(Exception):  # recorded by _acall; the caller keeps the valid value
            self._succeeded(await self._acall(self._async_fetch()))
        return self._state or state

    # -- bookkeeping shared by both worlds ---------------------------------------------------------------------

    def _sync_fetch(self) -> Callable[[], Issued[T]]:
        if self._fetch is None:
            raise TypeError(f"{self.name}: this credential is async-only; use aget()")
        return self._fetch

    def _async_fetch(self) -> Callable[[], Awaitable[Issued[T]]]:
        if self._afetch is not None:
            return self._afetch
        import asyncio

        fetch = self._sync_fetch()
        return lambda: asyncio.to_thread(fetch)

    def _call(self, fetch: Callable[[], Issued[T]]) -> Issued[T]:
        self._attempts += 1
        try:
            return self._arrived(fetch())
        except Exception as exc:
            self._failed(exc)
            raise

    async def _acall(self, afetch: Callable[[], Awaitable[Issued[T]]]) -> Issued[T]:
        self._attempts += 1
        try:
            return self._arrived(await afetch())
        except Exception as exc:
            self._failed(exc)
            raise

    def _arrived(self, issued: Issued[T]) -> Issued[T]:
        """``issued``, unless it expired before it arrived: counted as a failed attempt (backoff applies), not a
        success that would make every following call exchange again."""
        if issued.expires_at <= _time():
            raise ExchangeError(
                f"the exchange returned a value that expires at {issued.expires_at:.0f} (epoch seconds), already past "
                "on this machine's clock",
                provider=self.provider,
                code="expired-on-arrival",
                retryable=True,
                hint="this machine's clock is ahead of the issuer's: check the node's time synchronisation (NTP)",
            )
        return issued

    def _usable(self, state: _State[T] | None) -> bool:
        return state is not None and _time() < state.usable_until

    def _due(self) -> bool:
        return _time() >= self._next_attempt_at

    def _ready_or_raise(self, seen: int) -> _State[T] | None:
        """Under the lock, with nothing usable seen before: the state someone else just got, the error of an attempt
        made while we waited (or of one inside the backoff window), or None when this caller should exchange."""
        state = self._state
        if state is not None and _time() < state.usable_until:
            return state
        if self._last_error is not None and (self._attempts != seen or not self._due()):
            raise self._last_error
        return None

    def _succeeded(self, issued: Issued[T]) -> T:
        now = _time()
        lifetime = max(issued.expires_at - now, 0.0)
        fraction = self._refresh_fraction + _uniform(0.0, self._jitter)
        refresh_at = now + lifetime * fraction
        if issued.refresh_at is not None:
            refresh_at = min(refresh_at, issued.refresh_at)
        usable_until = issued.expires_at - min(self._safety_margin, lifetime / 10)
        self._state = _State(issued.value, now, min(refresh_at, usable_until), usable_until, issued.expires_at)
        self._failures = 0
        self._last_error = None
        self._next_attempt_at = 0.0
        return issued.value

    def _failed(self, exc: Exception) -> None:
        self._failures += 1
        self._last_error = exc
        delay = min(self._backoff_cap, self._backoff_base * 2 ** (self._failures - 1))
        delay *= _uniform(0.5, 1.0)
        now = _time()
        state = self._state
        retry_at = now + delay
        if state is not None and now < state.usable_until:
            retry_at = min(retry_at, state.usable_until)  # one more try before the held value runs out
        self._next_attempt_at = retry_at
        reason = str(exc) if isinstance(exc, CfkeAuthError) else type(exc).__name__
        if state is not None and now < state.usable_until:
            _log.warning(
                "%s: refresh failed (attempt %d), still serving the current value for %.0f s; next try in %.1f s: %s",
                self.name,
                self._failures,
                state.usable_until - now,
                retry_at - now,
                reason,
            )
        else:
            _log.warning(
                "%s: exchange failed (attempt %d), no valid value; next try in %.1f s: %s",
                self.name,
                self._failures,
                retry_at - now,
                reason,
            )

    def _wait_timeout_error(self) -> ExchangeError:
        return ExchangeError(
            f"waited {self._wait_timeout:.0f} s for another caller's exchange to finish",
            provider=self.provider,
            code="timeout",
            retryable=True,
        )

    def _async_lock(self) -> asyncio.Lock:
        import asyncio

        loop = asyncio.get_running_loop()
        held = self._alock
        if held is None or held[0] is not loop:
            held = (loop, asyncio.Lock())
            self._alock = held
        return held[1]

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        self._alock = None
