"""RefreshingCredential: single flight, proactive refresh, serve-while-valid, backoff, errors, fork safety.

The exchange here is a plain function that counts its calls: the engine is provider-agnostic, and these are its
exact call-count guarantees. Provider tests repeat the important ones over real HTTP.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator

import pytest
import time_machine
from conftest import run_threads

from cfke_auth import ExchangeError, Issued, RefreshingCredential
from cfke_auth.http import sync_client

LIFETIME = 3600.0
T0 = 1_800_000_000.0


class FakeExchange:
    """Counts calls; fails while ``failing``; can hold every call until ``gate`` opens."""

    def __init__(self) -> None:
        self.calls = 0
        self.failing = False
        self.gate = threading.Event()
        self.gate.set()
        self._lock = threading.Lock()

    def __call__(self) -> Issued[str]:
        with self._lock:
            self.calls += 1
            n = self.calls
        self.gate.wait(10)
        if self.failing:
            raise ExchangeError("refused", provider="fake", code="Boom", retryable=True)
        return Issued(f"value-{n}", time.time() + LIFETIME)

    async def afetch(self) -> Issued[str]:
        self.calls += 1
        await asyncio.sleep(0.01)
        if self.failing:
            raise ExchangeError("refused", provider="fake", code="Boom", retryable=True)
        return Issued(f"value-{self.calls}", time.time() + LIFETIME)


@pytest.fixture
def clock() -> Iterator[time_machine.Coordinates]:
    with time_machine.travel(T0, tick=False) as coordinates:
        yield coordinates


@pytest.fixture
def fake() -> FakeExchange:
    return FakeExchange()


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


def test_stampede_at_the_refresh_point_makes_one_exchange(fake: FakeExchange, clock: time_machine.Coordinates) -> None:
    cred = RefreshingCredential(fake, name="fake")
    assert cred.get() == "value-1"
    clock.shift(LIFETIME * 0.81)
    results = _held_until_all_waiting(fake, cred, 64)
    assert fake.calls == 2
    assert set(results) <= {"value-1", "value-2"}  # nobody waited for an error, the old value was still good
    assert cred.get() == "value-2"


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


def test_outage_while_valid_serves_every_caller_and_backs_off(
    fake: FakeExchange, clock: time_machine.Coordinates
) -> None:
    cred = RefreshingCredential(fake, name="fake", backoff_base=1.0, backoff_cap=60.0)
    cred.get()
    clock.shift(LIFETIME * 0.8)
    fake.failing = True
    seconds = 600
    for _ in range(seconds):  # ten minutes of outage, one call a second: every call is served
        assert cred.get() == "value-1"
        clock.shift(1)
    attempts = fake.calls - 1
    assert _attempts_on_schedule(seconds, 1.0) <= attempts <= _attempts_on_schedule(seconds, 0.5)
    assert attempts < seconds / 20  # the schedule, not one per caller
    fake.failing = False
    clock.shift(60)
    assert cred.get() != "value-1"  # recovered at the next scheduled try


def test_nothing_valid_and_failing_raises_the_typed_error_once_per_attempt(fake: FakeExchange) -> None:
    fake.failing = True
    cred = RefreshingCredential(fake, name="fake")
    results = _held_until_all_waiting(fake, cred, 64)
    assert fake.calls == 1
    assert all(isinstance(r, ExchangeError) and r.code == "Boom" for r in results)


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
    assert cred.get() == "v2"


def test_invalidate_forces_a_new_exchange(fake: FakeExchange) -> None:
    cred = RefreshingCredential(fake, name="fake")
    cred.get()
    cred.invalidate()
    assert cred.get() == "value-2"


def test_repr_never_shows_the_value(fake: FakeExchange) -> None:
    cred = RefreshingCredential(fake, name="fake")
    cred.get()
    assert "value-1" not in repr(cred)
    assert "value-1" not in repr(Issued("value-1", 0))


def test_needs_a_fetch() -> None:
    with pytest.raises(TypeError):
        RefreshingCredential(name="nothing")


def test_async_only_credential_refuses_sync_use(fake: FakeExchange) -> None:
    cred = RefreshingCredential(afetch=fake.afetch, name="fake")
    with pytest.raises(TypeError, match="async-only"):
        cred.get()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX-only")
def test_child_after_fork_gets_fresh_locks_and_clients(fake: FakeExchange) -> None:
    cred = RefreshingCredential(fake, name="fake")
    parent_client = sync_client()
    fake.gate.clear()
    holder = threading.Thread(target=cred.get)  # holds the engine lock across the fork
    holder.start()
    while fake.calls == 0:
        time.sleep(0.01)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            fake.gate.set()
            ok = cred.get().startswith("value-") and sync_client() is not parent_client
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
