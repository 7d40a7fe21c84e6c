"""RefreshingCredential: single flight across every world, background refresh, serve-while-valid, backoff on the
monotonic clock, fresh errors per caller, fork safety.

The exchange here is a plain function that counts its calls: the engine is provider-agnostic, and these are its
exact call-count guarantees. Provider tests repeat the important ones over real HTTP. The clock is a ManualClock
(wall and monotonic, moved by hand) or time-machine (the wall clock only).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import traceback
from collections.abc import Callable, Iterator

import pytest
import time_machine
from conftest import run_threads

from cfke_auth import ConfigurationError, ExchangeError, Issued, RefreshingCredential
from cfke_auth.testing import ManualClock

LIFETIME = 3600.0
T0 = 1_800_000_000.0


class FakeExchange:
    """Counts calls; fails while ``failing`` (with ``error()``); can hold every call until ``gate`` opens. Expiry is
    read from ``now`` (the test's clock)."""

    def __init__(self, now: Callable[[], float] = time.time) -> None:
        self.calls = 0
        self.failing = False
        self.error: Callable[[], Exception] = lambda: ExchangeError(
            "refused", provider="fake", code="Boom", retryable=True
        )
        self.gate = threading.Event()
        self.gate.set()
        self.now = now
        self._lock = threading.Lock()

    def __call__(self) -> Issued[str]:
        with self._lock:
            self.calls += 1
            n = self.calls
        self.gate.wait(10)
        if self.failing:
            raise self.error()
        return Issued(f"value-{n}", self.now() + LIFETIME)

    async def afetch(self) -> Issued[str]:
        with self._lock:
            self.calls += 1
            n = self.calls
        await asyncio.sleep(0.01)
        if self.failing:
            raise self.error()
        return Issued(f"value-{n}", self.now() + LIFETIME)


@pytest.fixture
def clock() -> Iterator[time_machine.Coordinates]:
    with time_machine.travel(T0, tick=False) as coordinates:
        yield coordinates


@pytest.fixture
def fake() -> FakeExchange:
    return FakeExchange()


@pytest.fixture
def manual() -> ManualClock:
    return ManualClock(T0)


def _held_until_all_waiting(fake: FakeExchange, cred: RefreshingCredential[str], count: int) -> list[object]:
    """Run ``count`` threads calling get() while the exchange is held, then release it."""
    fake.gate.clear()
    releaser = threading.Timer(0.3, fake.gate.set)  # lets every thread reach the engine before the exchange returns
    releaser.start()
    try:
        return run_threads(count, cred.get)
    finally:
        releaser.cancel()
        fake.gate.set()


def test_cold_stampede_makes_one_exchange(fake: FakeExchange) -> None:
    cred = RefreshingCredential(fake, name="fake")
    results = _held_until_all_waiting(fake, cred, 64)
    assert fake.calls == 1
    assert results == ["value-1"] * 64


def test_past_the_refresh_point_nobody_waits(fake: FakeExchange, clock: time_machine.Coordinates) -> None:
    """64 threads past the refresh point while the exchange is stuck: every one is served the held value at once,
    and exactly one exchange runs, in the background."""
    cred = RefreshingCredential(fake, name="fake")
    assert cred.get() == "value-1"
    clock.shift(LIFETIME * 0.81)
    fake.gate.clear()  # the refresh cannot finish until the test says so
    try:
        results = run_threads(64, cred.get, fail=True)
        assert results == ["value-1"] * 64  # returned while the exchange was still held
        assert fake.calls == 2
    finally:
        fake.gate.set()
    assert cred.settle()
    assert cred.get() == "value-2"
    assert fake.calls == 2


def test_no_exchange_before_the_refresh_point(fake: FakeExchange, clock: time_machine.Coordinates) -> None:
    cred = RefreshingCredential(fake, name="fake")
    cred.get()
    clock.shift(LIFETIME * 0.74)
    for _ in range(100):
        cred.get()
    assert fake.calls == 1


async def test_200_tasks_make_one_exchange(fake: FakeExchange) -> None:
    cred = RefreshingCredential(afetch=fake.afetch, name="fake")
    results = await asyncio.gather(*(cred.aget() for _ in range(200)))
    assert fake.calls == 1
    assert set(results) == {"value-1"}


@pytest.mark.parametrize("flavour", ["async", "sync-only"])
def test_eight_event_loops_with_25_tasks_each_make_one_exchange(fake: FakeExchange, flavour: str) -> None:
    """Every thread runs its own loop; the one in-flight exchange is shared by all 200 tasks across the 8 loops."""
    cred = (
        RefreshingCredential(fake, fake.afetch, name="fake")
        if flavour == "async"
        else RefreshingCredential(fake, name="fake")
    )
    fake.gate.clear()
    releaser = threading.Timer(0.3, fake.gate.set)
    releaser.start()

    async def tasks() -> list[str]:
        return list(await asyncio.gather(*(cred.aget() for _ in range(25))))

    try:
        results = run_threads(8, lambda: asyncio.run(tasks()), fail=True)
    finally:
        releaser.cancel()
        fake.gate.set()
    assert fake.calls == 1
    assert {value for loop in results for value in loop} == {"value-1"}


def test_threads_and_tasks_mixed_make_one_exchange(fake: FakeExchange) -> None:
    cred = RefreshingCredential(fake, fake.afetch, name="fake")
    fake.gate.clear()
    releaser = threading.Timer(0.3, fake.gate.set)
    releaser.start()

    async def task_side() -> list[str]:
        return list(await asyncio.gather(*(cred.aget() for _ in range(20))))

    def either(i: int) -> object:
        return cred.get() if i % 2 else asyncio.run(task_side())

    counter = iter(range(16))
    lock = threading.Lock()

    def next_role() -> object:
        with lock:
            i = next(counter)
        return either(i)

    try:
        results = run_threads(16, next_role, fail=True)
    finally:
        releaser.cancel()
        fake.gate.set()
    assert fake.calls == 1
    flat = [v for r in results for v in (r if isinstance(r, list) else [r])]
    assert set(flat) == {"value-1"} and len(flat) == 8 + 8 * 20


async def test_a_cancelled_caller_does_not_abort_the_exchange(fake: FakeExchange) -> None:
    cred = RefreshingCredential(afetch=fake.afetch, name="fake")
    first = asyncio.create_task(cred.aget())
    second = asyncio.create_task(cred.aget())
    await asyncio.sleep(0)
    first.cancel()
    assert await second == "value-1"
    assert fake.calls == 1


async def test_background_refresh_on_the_loop(fake: FakeExchange, clock: time_machine.Coordinates) -> None:
    cred = RefreshingCredential(afetch=fake.afetch, name="fake")
    assert await cred.aget() == "value-1"
    clock.shift(LIFETIME * 0.81)
    assert await cred.aget() == "value-1"  # at once, the refresh started behind it
    assert await cred.asettle()
    assert await cred.aget() == "value-2"


async def test_sync_only_exchange_runs_off_the_event_loop(fake: FakeExchange) -> None:
    loop_thread = threading.get_ident()
    seen: list[int] = []

    def fetch() -> Issued[str]:
        seen.append(threading.get_ident())
        return fake()

    cred = RefreshingCredential(fetch, name="fake")
    assert await cred.aget() == "value-1"
    assert seen and seen[0] != loop_thread


def _attempts_on_schedule(seconds: int, jitter: float) -> int:
    """Attempts a 1 s-apart caller triggers in ``seconds`` of outage if every backoff delay is scaled by ``jitter``."""
    attempts, next_at = 1, min(60.0, 1.0) * jitter  # the first failed refresh happens at t=0
    for t in range(1, seconds):
        if t >= next_at:
            attempts += 1
            next_at = t + min(60.0, 2.0 ** (attempts - 1)) * jitter
    return attempts


def test_outage_while_valid_serves_every_caller_and_backs_off(fake: FakeExchange, manual: ManualClock) -> None:
    fake.now = manual.time
    cred = RefreshingCredential(fake, name="fake", backoff_base=1.0, backoff_cap=60.0, clock=manual)
    cred.get()
    manual.advance(LIFETIME * 0.8)
    fake.failing = True
    seconds = 600
    for _ in range(seconds):  # ten minutes of outage, one call a second: every call is served
        assert cred.get() == "value-1"
        assert cred.settle()
        manual.advance(1)
    attempts = fake.calls - 1
    assert _attempts_on_schedule(seconds, 1.0) <= attempts <= _attempts_on_schedule(seconds, 0.5)
    assert attempts < seconds / 20  # the schedule, not one per caller
    assert isinstance(cred.last_error, ExchangeError) and cred.last_error.code == "Boom"  # the failures behind
    fake.failing = False
    manual.advance(60)
    cred.get()
    assert cred.settle()
    assert cred.get() != "value-1"  # recovered at the next scheduled try
    assert cred.last_error is None


def test_a_refusal_that_cannot_heal_backs_off_to_the_cap_at_once(fake: FakeExchange, manual: ManualClock) -> None:
    fake.now = manual.time
    fake.error = lambda: ExchangeError("no", provider="fake", code="AccessDenied", retryable=False)
    cred = RefreshingCredential(fake, name="fake", backoff_cap=60.0, clock=manual)
    cred.get()
    manual.advance(LIFETIME * 0.8)
    fake.failing = True
    for _ in range(600):
        cred.get()
        assert cred.settle()
        manual.advance(1)
    assert 9 <= fake.calls - 1 <= 11  # one attempt a minute, not 1, 2, 4, ... seconds apart


def test_retry_after_is_honoured_capped(fake: FakeExchange, manual: ManualClock) -> None:
    fake.now = manual.time
    fake.error = lambda: ExchangeError("slow down", provider="fake", code="429", retryable=True, retry_after=30)
    fake.failing = True
    cred = RefreshingCredential(fake, name="fake", clock=manual)
    for _ in range(29):
        with pytest.raises(ExchangeError):
            cred.get()
        manual.advance(1)
    assert fake.calls == 1  # nothing before the 30 s the provider asked for
    manual.advance(1.5)
    with pytest.raises(ExchangeError):
        cred.get()
    assert fake.calls == 2
    fake.error = lambda: ExchangeError("later", provider="fake", code="503", retryable=True, retry_after=86400)
    manual.advance(60)
    with pytest.raises(ExchangeError):
        cred.get()
    manual.advance(61)  # a day asked for, the cap (60 s) held
    with pytest.raises(ExchangeError):
        cred.get()
    assert fake.calls == 4


def test_nothing_valid_and_failing_raises_the_typed_error_once_per_attempt(fake: FakeExchange) -> None:
    fake.failing = True
    cred = RefreshingCredential(fake, name="fake")
    results = _held_until_all_waiting(fake, cred, 64)
    assert fake.calls == 1
    assert all(isinstance(r, ExchangeError) and r.code == "Boom" for r in results)
    assert len({id(r) for r in results}) == 64  # each caller its own exception object


def test_many_failed_calls_do_not_grow_a_shared_traceback(fake: FakeExchange, clock: time_machine.Coordinates) -> None:
    fake.failing = True
    cred = RefreshingCredential(fake, name="fake", backoff_base=3600, backoff_cap=3600)
    errors = []
    for _ in range(20_000):
        try:
            cred.get()
        except ExchangeError as exc:
            errors.append(exc)
    frames = len(traceback.extract_tb(errors[-1].__traceback__))
    assert frames <= 5
    assert len({id(e) for e in errors}) == len(errors)
    assert errors[-1].__cause__ is None and errors[-1].__context__ is None


def test_a_caller_does_not_get_another_callers_context(fake: FakeExchange, clock: time_machine.Coordinates) -> None:
    fake.failing = True
    cred = RefreshingCredential(fake, name="fake", backoff_base=3600)
    try:
        raise KeyError("caller A's own trouble")
    except KeyError:
        with pytest.raises(ExchangeError):
            cred.get()
    with pytest.raises(ExchangeError) as info:
        cred.get()  # caller B, handling nothing
    assert info.value.__context__ is None


def test_inside_the_backoff_window_callers_fail_fast(fake: FakeExchange, clock: time_machine.Coordinates) -> None:
    fake.failing = True
    cred = RefreshingCredential(fake, name="fake", backoff_base=10.0)
    for _ in range(5):
        with pytest.raises(ExchangeError):
            cred.get()
    assert fake.calls == 1
    clock.shift(10.1)
    fake.failing = False
    assert cred.get() == "value-2"


def test_a_wall_clock_stepped_back_does_not_stall_retries(fake: FakeExchange, manual: ManualClock) -> None:
    fake.now = manual.time
    fake.failing = True
    cred = RefreshingCredential(fake, name="fake", backoff_base=10.0, clock=manual)
    with pytest.raises(ExchangeError):
        cred.get()
    manual.step(-3 * 3600)  # an operator or NTP sets the clock back three hours
    manual.advance(10.1)
    fake.failing = False
    assert cred.get() == "value-2"  # retried when 10 s had passed, not 3 h later


def test_a_wall_clock_stepped_back_does_not_stretch_a_lifetime(fake: FakeExchange, manual: ManualClock) -> None:
    fake.now = manual.time
    cred = RefreshingCredential(fake, name="fake", clock=manual)
    assert cred.get() == "value-1"
    manual.step(-3 * 3600)
    manual.advance(LIFETIME)  # an hour has passed: the value has expired, whatever the wall clock says
    assert cred.get() == "value-2"
    assert fake.calls == 2


def test_a_suspended_machine_refreshes_on_waking(fake: FakeExchange, manual: ManualClock) -> None:
    fake.now = manual.time
    cred = RefreshingCredential(fake, name="fake", clock=manual)
    assert cred.get() == "value-1"
    manual.step(LIFETIME * 2)  # asleep: the monotonic clock stood still, the wall clock did not
    assert cred.get() == "value-2"


def test_expired_value_is_not_served(fake: FakeExchange, clock: time_machine.Coordinates) -> None:
    cred = RefreshingCredential(fake, name="fake", safety_margin=60)
    cred.get()
    fake.failing = True
    clock.shift(LIFETIME - 59)  # inside the safety margin
    with pytest.raises(ExchangeError):
        cred.get()


def test_waiting_for_a_stuck_exchange_times_out(fake: FakeExchange) -> None:
    cred = RefreshingCredential(fake, name="fake arn:aws:iam::1:role/x", provider="fake", wait_timeout=0.2)
    fake.gate.clear()
    holder = threading.Thread(target=cred.get)
    holder.start()
    try:
        while fake.calls == 0:
            time.sleep(0.01)
        with pytest.raises(ExchangeError) as info:
            cred.get()
        assert info.value.code == "timeout" and info.value.retryable
        assert info.value.provider == "fake"  # the provider, not the log label
    finally:
        fake.gate.set()
        holder.join()


async def test_async_wait_times_out(fake: FakeExchange) -> None:
    release = asyncio.Event()

    async def stuck() -> Issued[str]:
        await release.wait()
        return Issued("late", time.time() + LIFETIME)

    cred = RefreshingCredential(afetch=stuck, name="fake", wait_timeout=0.2)
    holder = asyncio.create_task(cred.aget())
    await asyncio.sleep(0.05)
    with pytest.raises(ExchangeError, match="waited"):
        await cred.aget()
    release.set()
    assert await holder == "late"


def test_provider_refresh_hint_is_honoured(clock: time_machine.Coordinates) -> None:
    calls = []

    def fetch() -> Issued[str]:
        calls.append(1)
        now = time.time()
        return Issued(f"v{len(calls)}", now + LIFETIME, refresh_at=now + 600)

    cred = RefreshingCredential(fetch, name="fake")
    cred.get()
    clock.shift(601)
    assert cred.get() == "v1"
    assert cred.settle()
    assert cred.get() == "v2"


@pytest.mark.parametrize("advice", [-600.0, 0.0, LIFETIME * 2])
def test_a_senseless_refresh_hint_does_not_make_every_call_exchange(
    clock: time_machine.Coordinates, advice: float
) -> None:
    calls = []

    def fetch() -> Issued[str]:
        calls.append(1)
        now = time.time()
        return Issued("v", now + LIFETIME, refresh_at=now + advice)

    cred = RefreshingCredential(fetch, name="fake")
    for _ in range(50):
        cred.get()
        clock.shift(1)
    assert cred.settle()
    assert len(calls) == 1


def test_a_configuration_error_backs_off_to_the_cap(fake: FakeExchange, manual: ManualClock) -> None:
    fake.now = manual.time
    fake.error = lambda: ConfigurationError("REQUESTS_CA_BUNDLE=/nowhere cannot be loaded")
    fake.failing = True
    cred = RefreshingCredential(fake, name="fake", clock=manual)
    for _ in range(59):
        with pytest.raises(ConfigurationError):
            cred.get()
        manual.advance(1)
    assert fake.calls == 1


def test_an_unexpected_error_keeps_its_traceback_as_the_cause(fake: FakeExchange) -> None:
    fake.error = lambda: RuntimeError("a bug in the exchange")
    fake.failing = True
    cred = RefreshingCredential(fake, name="fake")
    with pytest.raises(RuntimeError) as info:
        cred.get()
    assert isinstance(info.value.__cause__, RuntimeError)
    assert info.value.__cause__.__traceback__ is not None  # where the bug is


def test_invalidate_forces_a_new_exchange(fake: FakeExchange) -> None:
    cred = RefreshingCredential(fake, name="fake")
    cred.get()
    cred.invalidate()
    assert cred.get() == "value-2"


def test_repr_never_shows_the_value_and_nothing_pickles(fake: FakeExchange) -> None:
    import pickle

    cred = RefreshingCredential(fake, name="fake")
    cred.get()
    assert "value-1" not in repr(cred)
    assert "value-1" not in repr(Issued("value-1", 0))
    for secretive in (cred, Issued("value-1", 0)):
        with pytest.raises(TypeError, match="not pickled"):
            pickle.dumps(secretive)


def test_needs_a_fetch() -> None:
    with pytest.raises(TypeError):
        RefreshingCredential(name="nothing")


def test_async_only_credential_refuses_sync_use(fake: FakeExchange) -> None:
    cred = RefreshingCredential(afetch=fake.afetch, name="fake")
    with pytest.raises(TypeError, match="async-only"):
        cred.get()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX-only")
def test_child_after_fork_does_not_wait_for_the_parents_exchange(fake: FakeExchange) -> None:
    cred = RefreshingCredential(fake, name="fake", wait_timeout=5)
    fake.gate.clear()
    holder = threading.Thread(target=cred.get)  # an exchange in flight across the fork
    holder.start()
    while fake.calls == 0:
        time.sleep(0.01)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            fake.gate.set()
            ok = cred.get().startswith("value-")
            os._exit(0 if ok else 1)
        except BaseException:
            os._exit(2)
    fake.gate.set()
    holder.join()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_a_value_expired_on_arrival_is_a_failure_with_backoff(clock: time_machine.Coordinates) -> None:
    calls = []

    def fetch() -> Issued[str]:
        calls.append(1)
        return Issued("stale", time.time() - 30)  # the issuer's clock is behind ours

    cred = RefreshingCredential(fetch, name="fake sts arn:x", provider="fake-sts")
    for _ in range(20):
        with pytest.raises(ExchangeError) as info:
            cred.get()
    assert info.value.code == "expired-on-arrival"
    assert info.value.provider == "fake-sts"
    assert "NTP" in (info.value.hint or "")
    assert len(calls) == 1  # the backoff window holds the other 19 calls


def test_invalidate_a_rejected_value_only_if_still_held(fake: FakeExchange) -> None:
    cred = RefreshingCredential(fake, name="fake")
    first = cred.get()
    cred.invalidate(first)
    second = cred.get()
    assert second == "value-2"
    cred.invalidate(first)  # a late rejection of the old value keeps the renewed one
    assert cred.get() == "value-2"
    assert fake.calls == 2


def test_invalidate_older_than_keeps_a_value_just_obtained(fake: FakeExchange, clock: time_machine.Coordinates) -> None:
    cred = RefreshingCredential(fake, name="fake")
    cred.get()
    cred.invalidate(older_than=30)
    assert cred.get() == "value-1"  # obtained just now: most likely the renewal itself
    clock.shift(31)
    cred.invalidate(older_than=30)
    assert cred.get() == "value-2"
