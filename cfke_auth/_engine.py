"""The refresh engine: one credential value kept fresh for any number of threads, event loops and tasks.

:class:`RefreshingCredential` knows nothing of clouds. It calls an exchange function, remembers what it issued and
until when, and guarantees:

* **single flight** -- at most one exchange in flight per credential in the whole process, whatever mix of threads,
  event loops and tasks asks; everyone else waits for that one or keeps using the current value;
* **no caller waits for a proactive refresh** -- past ~75-80 % of the lifetime (jittered, so a fleet of pods does not
  refresh in step) the current value is returned at once and the exchange runs in the background: a daemon thread
  for sync callers, a task on the caller's loop for async ones. Only a caller with nothing valid left waits;
* **serve while valid** -- a failed refresh is retried with capped exponential backoff and jitter (``Retry-After``
  honoured; a refusal that cannot heal by retrying backs off to the cap at once), and callers get the value they
  have as long as it is valid minus a safety margin; only when nothing valid is left does a caller see an error:
  a fresh copy of the last attempt's typed :class:`~cfke_auth.CfkeAuthError`, its own object with no traceback,
  context or cause from anyone else's call;
* **a cheap hot path** -- two clock reads, two comparisons, one attribute read: no lock.

Expiry is an instant on the issuer's wall clock, so it is compared with the wall clock; but how long a value is
trusted is also bounded by what the monotonic clock says elapsed since it arrived (a wall clock stepped back cannot
stretch a lifetime), and a retry is due when either clock says its delay has passed (a stepped clock cannot stall
retries, and a suspended machine retries on waking). Safe after ``fork()``.
"""

from __future__ import annotations

import contextlib
import copy
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Generic, TypeVar

from . import _fork, _log
from ._clock import SYSTEM_CLOCK, Clock
from ._errors import CfkeAuthError, ConfigurationError, ExchangeError

if TYPE_CHECKING:  # asyncio is imported when first needed: it costs more than the rest of the package
    import asyncio

__all__ = ["RENEWAL_GRACE", "Issued", "RefreshingCredential"]

T = TypeVar("T")
#: Adapters renew a value a service refused only when it is older than this (``invalidate(older_than=...)``): a
#: younger one is the renewal of the value refused, or the service refuses every value, and exchanging again would
#: not help.
RENEWAL_GRACE = 30.0
_MAX_EXPONENT = 30  # 2**30 s of backoff is past any cap; beyond it, float conversion would overflow


def _uniform(low: float, high: float) -> float:
    """A jitter factor; random is imported on first use (the hot path never needs it)."""
    import random

    return random.uniform(low, high)  # noqa: S311 - jitter, not cryptography


class Issued(Generic[T]):
    """What one exchange produced: the credential ``value`` and its expiry (wall-clock epoch seconds).

    ``refresh_at`` is the provider's own advice on when to refresh (Entra ID's ``refresh_in``), if it gives one; it
    is followed only when it falls between now and the engine's own refresh point.
    """

    __slots__ = ("expires_at", "refresh_at", "value")

    def __init__(self, value: T, expires_at: float, refresh_at: float | None = None) -> None:
        self.value = value
        self.expires_at = expires_at
        self.refresh_at = refresh_at

    def __repr__(self) -> str:  # never the value: it is a secret
        return f"Issued(expires_at={self.expires_at!r}, refresh_at={self.refresh_at!r})"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("an issued credential holds a secret and is not pickled")


class _State(Generic[T]):
    """An issued value with its schedule on both clocks; replaced whole, never mutated, so readers need no lock."""

    __slots__ = (
        "expires_at",
        "obtained_at",
        "obtained_mono",
        "refresh_at",
        "refresh_mono",
        "usable_mono",
        "usable_until",
        "value",
    )

    def __init__(
        self, value: T, expires_at: float, *, now: float, mono: float, refresh_in: float, usable_for: float
    ) -> None:
        self.value = value
        self.expires_at = expires_at
        self.obtained_at = now
        self.obtained_mono = mono
        self.refresh_at = now + refresh_in  # the first caller past this (on either clock) starts a refresh
        self.refresh_mono = mono + refresh_in
        self.usable_until = now + usable_for  # past this (on either clock) the value is not handed out any more
        self.usable_mono = mono + usable_for


class _Flight(Generic[T]):
    """One exchange in progress, and everyone waiting for it: threads block on an event, tasks on any event loop
    get woken through their loop. ``loop`` is the loop whose task runs it (None: a thread runs it)."""

    __slots__ = ("_callbacks", "_done", "_lock", "error", "loop", "state", "task")

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.loop = loop
        self.task: asyncio.Task[None] | None = None
        self.state: _State[T] | None = None
        self.error: BaseException | None = None  # neither state nor error: the exchange was abandoned
        self._done = threading.Event()
        self._callbacks: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def finish(self, state: _State[T] | None, error: BaseException | None) -> None:
        with self._lock:
            self.state, self.error = state, error
            self._done.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    def wait(self, timeout: float) -> bool:
        return self._done.wait(timeout)

    async def wait_async(self, timeout: float | None) -> bool:
        import asyncio

        loop = asyncio.get_running_loop()
        woken: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            with contextlib.suppress(RuntimeError):  # that loop is closed: its waiter is gone
                loop.call_soon_threadsafe(_resolve, woken)

        with self._lock:
            done = self._done.is_set()
            if not done:
                self._callbacks.append(wake)
        if done:
            return True
        try:
            await asyncio.wait_for(woken, timeout)
        except asyncio.TimeoutError:
            return False
        return True


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class RefreshingCredential(Generic[T]):
    """A credential value that refreshes itself through ``fetch`` (threads) or ``afetch`` (asyncio).

    ``name`` labels log lines, ``provider`` the errors the engine raises itself (default: ``name``).
    ``refresh_fraction`` is where in the lifetime a refresh starts (plus up to ``jitter`` more), ``safety_margin`` how
    long before expiry a value stops being served (capped at a tenth of the lifetime), ``backoff_base``/
    ``backoff_cap`` the retry schedule after failures, and ``wait_timeout`` how long a caller waits for someone
    else's exchange before giving up with a retryable :class:`ExchangeError`. ``clock`` is for tests.
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
        clock: Clock | None = None,
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
        clock = clock or SYSTEM_CLOCK
        self._time = clock.time
        self._mono = clock.monotonic
        self._state: _State[T] | None = None
        self._flight: _Flight[T] | None = None
        self._attempts = 0  # exchanges started
        self._failures = 0  # consecutive failed exchanges
        self._last_error: BaseException | None = None
        self._retry_at = 0.0  # wall clock: the next attempt is due when either clock passes its mark
        self._retry_mono = 0.0
        self._lock = threading.Lock()  # held briefly, never across an exchange
        _fork.register(self)

    def __repr__(self) -> str:
        state = self._state
        left = f"{state.expires_at - self._time():.0f}s left" if state else "empty"
        return f"<RefreshingCredential {self.name} ({left}, {self._failures} failures)>"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a RefreshingCredential is process state and is not pickled; pickle what built it")

    @property
    def expires_at(self) -> float | None:
        """Expiry (epoch seconds) of the value currently held, or None before the first exchange."""
        state = self._state
        return state.expires_at if state else None

    @property
    def last_error(self) -> BaseException | None:
        """The error of the last attempt, while no later one has succeeded (None otherwise): for metrics and
        diagnostics, such as a refresh that failed in the background while the held value is still served."""
        return self._last_error

    @property
    def attempts(self) -> int:
        """How many exchanges this credential has started: for tests and diagnostics."""
        return self._attempts

    def get(self) -> T:
        """The current value; a cold caller waits for the one exchange, a caller past the refresh point starts it in
        the background and returns at once. Thread-safe."""
        state = self._state
        if state is not None and self._time() < state.refresh_at and self._mono() < state.refresh_mono:
            return state.value
        return self._get_slow()

    async def aget(self) -> T:
        """Like :meth:`get`, for asyncio: waiting and exchanging never block the event loop."""
        state = self._state
        if state is not None and self._time() < state.refresh_at and self._mono() < state.refresh_mono:
            return state.value
        return await self._aget_slow()

    def settle(self, timeout: float = 60.0) -> bool:
        """Wait until no exchange of this credential is in flight (a background refresh has finished): for tests,
        and for an orderly shutdown. True when idle within ``timeout`` seconds. Not for the thread running the event
        loop of an async refresh (use :meth:`asettle` there)."""
        flight = self._flight
        return flight is None or flight.wait(timeout)

    async def asettle(self, timeout: float = 60.0) -> bool:
        """:meth:`settle` for asyncio."""
        flight = self._flight
        return flight is None or await flight.wait_async(timeout)

    def invalidate(self, rejected: T | None = None, *, older_than: float = 0.0) -> None:
        """Drop the held value, so the next caller exchanges afresh (after a service refused it, say).

        With ``rejected``, only if that is still the held value: when many requests are refused with the same value,
        one exchange replaces it, and a value another caller already renewed is kept. With ``older_than``, only if
        the held value arrived more than that many seconds ago (by either clock), so that a burst of refusals renews
        once and a service that refuses every token does not make every request exchange.
        """
        state = self._state
        if rejected is not None and (state is None or state.value is not rejected):
            return
        if state is not None:
            age = max(self._time() - state.obtained_at, self._mono() - state.obtained_mono)
            if age <= older_than:
                return
        self._state = None
        self._retry_at = self._retry_mono = 0.0

    # -- the slow paths: one loop each, differing only in how they run an exchange and wait -----------------------

    def _get_slow(self) -> T:
        fetch = self._sync_fetch()
        while True:
            state = self._state
            if self._usable(state):
                assert state is not None
                self._refresh_behind(None)
                return state.value
            joined = self._join(None)
            if joined is None:
                continue  # a value arrived meanwhile
            flight, run_here = joined
            if run_here:
                self._run(flight, fetch)
            elif flight.loop is not None and flight.loop is _running_loop():
                return self._run_detached(fetch)  # its task cannot run while this thread blocks its loop
            elif not flight.wait(self._wait_timeout):
                raise self._wait_timeout_error()
            if flight.state is not None:
                return flight.state.value
            if flight.error is not None:
                raise self._for_caller(flight.error)

    async def _aget_slow(self) -> T:
        import asyncio

        loop = asyncio.get_running_loop()
        while True:
            state = self._state
            if self._usable(state):
                assert state is not None
                self._refresh_behind(loop)
                return state.value
            joined = self._join(loop)
            if joined is None:
                continue
            flight, run_here = joined
            if run_here:  # a task, so that a cancelled caller does not abort everyone's exchange
                flight.task = loop.create_task(self._arun(flight))
            # whoever started the exchange waits for it to end, as a sync caller running it would
            if not await flight.wait_async(None if run_here else self._wait_timeout):
                raise self._wait_timeout_error()
            if flight.state is not None:
                return flight.state.value
            if flight.error is not None:
                raise self._for_caller(flight.error)

    def _join(self, loop: asyncio.AbstractEventLoop | None) -> tuple[_Flight[T], bool] | None:
        """The flight to wait for, and whether this caller must run it; None when a usable value arrived. Raises the
        last error while inside the backoff window."""
        with self._lock:
            if self._usable(self._state):
                return None
            flight = self._flight
            if flight is not None and flight.loop is not None and flight.loop.is_closed():
                self._flight = None  # its loop closed without cancelling the task: nobody will finish it
                flight.finish(None, None)
                flight = None
            if flight is not None:
                return flight, False
            error = self._last_error
            if error is not None and not self._due():
                raise self._for_caller(error)
            flight = self._flight = _Flight(loop)
            return flight, True

    def _refresh_behind(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """Start a background refresh of a still-usable value, unless one runs or a retry is not due yet."""
        if self._flight is not None or not self._due():
            return
        with self._lock:
            state = self._state
            fresh = state is not None and self._time() < state.refresh_at and self._mono() < state.refresh_mono
            if self._flight is not None or fresh or not self._due():
                return
            flight = self._flight = _Flight(loop)
        if loop is not None:
            flight.task = loop.create_task(self._arun(flight))
            return
        thread = threading.Thread(
            target=self._run, args=(flight, self._sync_fetch()), name=f"cfke-auth refresh {self.name}", daemon=True
        )
        try:
            thread.start()
        except RuntimeError:  # no new threads (interpreter shutting down): leave the value as it is
            self._complete(flight, None, None)

    def _run(self, flight: _Flight[T], fetch: Callable[[], Issued[T]]) -> None:
        """Run the exchange in this thread and deliver its outcome to the flight's waiters."""
        self._attempts += 1
        try:
            issued = fetch()
        except Exception as exc:
            self._complete(flight, None, exc)
            return
        except BaseException:
            self._complete(flight, None, None)
            raise
        self._complete(flight, issued, None)

    async def _arun(self, flight: _Flight[T]) -> None:
        """Run the exchange on the event loop and deliver its outcome to the flight's waiters."""
        self._attempts += 1
        try:
            issued = await self._async_fetch()()
        except Exception as exc:
            self._complete(flight, None, exc)
            return
        except BaseException:  # cancelled (its loop is shutting down, say): abandoned, others try again
            self._complete(flight, None, None)
            raise
        self._complete(flight, issued, None)

    def _run_detached(self, fetch: Callable[[], Issued[T]]) -> T:
        """An exchange outside the flight, for a sync caller on the thread whose event loop runs the flight."""
        flight: _Flight[T] = _Flight()
        self._run(flight, fetch)
        if flight.state is None:
            raise self._for_caller(flight.error or self._wait_timeout_error())
        return flight.state.value

    def _complete(self, flight: _Flight[T], issued: Issued[T] | None, error: BaseException | None) -> None:
        state: _State[T] | None = None
        warning: tuple[str, tuple[object, ...]] | None = None
        with self._lock:
            if issued is not None:
                state, error = self._state_for(issued)
            if state is not None:
                self._state = state
                self._failures = 0
                self._last_error = None
                self._retry_at = self._retry_mono = 0.0
            elif error is not None:
                if isinstance(error, CfkeAuthError):
                    error = error.with_traceback(None)  # its frames hold the exchange's locals: the token
                warning = self._failed(error)
            if self._flight is flight:
                self._flight = None
        if warning is not None:  # before the waiters wake: whoever settles sees the failure logged
            _log.warning(warning[0], *warning[1])
        flight.finish(state, error)

    # -- bookkeeping -------------------------------------------------------------------------------------------

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

    def _usable(self, state: _State[T] | None) -> bool:
        return state is not None and self._time() < state.usable_until and self._mono() < state.usable_mono

    def _due(self) -> bool:
        return self._time() >= self._retry_at or self._mono() >= self._retry_mono

    def _state_for(self, issued: Issued[T]) -> tuple[_State[T] | None, ExchangeError | None]:
        """The schedule for a value that just arrived; an error when it expired before it arrived (counted as a
        failed attempt, so backoff applies, rather than a success that would make every later call exchange)."""
        now, mono = self._time(), self._mono()
        lifetime = issued.expires_at - now
        if not lifetime > 0:
            return None, ExchangeError(
                f"the exchange returned a value that expires at {issued.expires_at:.0f} (epoch seconds), already past "
                "on this machine's clock",
                provider=self.provider,
                code="expired-on-arrival",
                retryable=True,
                hint="this machine's clock is ahead of the issuer's: check the node's time synchronisation (NTP)",
            )
        usable_for = lifetime - min(self._safety_margin, lifetime / 10)
        refresh_in = lifetime * (self._refresh_fraction + _uniform(0.0, self._jitter))
        if issued.refresh_at is not None:
            advice = issued.refresh_at - now
            if 0 < advice < refresh_in:  # sane advice only: a past or too-late one would refresh on every call
                refresh_in = advice
        refresh_in = min(refresh_in, usable_for)
        return _State(
            issued.value, issued.expires_at, now=now, mono=mono, refresh_in=refresh_in, usable_for=usable_for
        ), None

    def _failed(self, exc: BaseException) -> tuple[str, tuple[object, ...]]:
        """Record a failure and schedule the retry; returns the warning to log (outside the lock)."""
        self._failures += 1
        self._last_error = exc
        delay = min(self._backoff_cap, self._backoff_base * 2 ** min(self._failures - 1, _MAX_EXPONENT))
        delay *= _uniform(0.5, 1.0)
        if isinstance(exc, ExchangeError):
            if exc.retry_after is not None and exc.retry_after > 0:
                delay = max(delay, min(exc.retry_after, self._backoff_cap))
            if not exc.retryable:
                delay = self._backoff_cap  # a refusal does not heal by asking again every second
        elif isinstance(exc, ConfigurationError):
            delay = self._backoff_cap
        now, mono = self._time(), self._mono()
        state = self._state
        usable = self._usable(state)
        if state is not None and usable:  # one more try before the held value runs out
            delay = min(delay, max(min(state.usable_until - now, state.usable_mono - mono), 0.0))
        self._retry_at, self._retry_mono = now + delay, mono + delay
        reason = str(exc) if isinstance(exc, CfkeAuthError) else type(exc).__name__
        if state is not None and usable:
            return (
                "%s: refresh failed (attempt %d), still serving the current value for %.0f s; next try in %.1f s: %s",
                (self.name, self._failures, state.usable_until - now, delay, reason),
            )
        return (
            "%s: exchange failed (attempt %d), no valid value; next try in %.1f s: %s",
            (self.name, self._failures, delay, reason),
        )

    def _for_caller(self, error: BaseException) -> BaseException:
        """A fresh copy of ``error`` for one caller: its own object, so raising it never grows a shared traceback or
        carries another caller's context. An unexpected (non-cfke-auth) error keeps the original as its cause."""
        try:
            fresh = copy.copy(error)
        except Exception:  # an exception class that cannot be rebuilt from its args
            what = f"{type(error).__name__} during the exchange"
            fresh = ExchangeError(what, provider=self.provider, code="internal")
        fresh.__traceback__ = None
        fresh.__context__ = None
        fresh.__cause__ = None if isinstance(error, CfkeAuthError) else error
        fresh.__suppress_context__ = True
        return fresh

    def _wait_timeout_error(self) -> ExchangeError:
        return ExchangeError(
            f"waited {self._wait_timeout:.0f} s for another caller's exchange to finish",
            provider=self.provider,
            code="timeout",
            retryable=True,
        )

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        self._flight = None  # the thread or task running it does not exist in the child


def _running_loop() -> asyncio.AbstractEventLoop | None:
    import asyncio

    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
