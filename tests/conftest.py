"""Shared test helpers. The cfke_issuer / cfke_token_file fixtures come from the cfke_auth.testing pytest plugin."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from cfke_auth import TokenError, TokenErrorReason


def run_threads(count: int, target: Callable[[], Any], *, fail: bool = False) -> list[Any]:
    """Run ``target`` in ``count`` threads released together; return each one's result or raised exception (with
    ``fail``, assert that none raised)."""
    start = threading.Barrier(count)
    results: list[Any] = [None] * count

    def body(i: int) -> None:
        start.wait()
        try:
            results[i] = target()
        except BaseException as exc:  # collected for the test to inspect
            results[i] = exc

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    if fail:
        assert not [r for r in results if isinstance(r, BaseException)]
    return results


def assert_no_secrets(secrets: Iterable[str], *texts: str) -> None:
    """Fail if any secret (or its last 12 characters, to catch truncated leaks) appears in any text."""
    for secret in secrets:
        for text in texts:
            assert secret not in text
            assert secret[-12:] not in text


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until ``check()`` holds (a refresh runs in the background: its effect shows a moment later); fail after
    ``timeout`` seconds, a generous bound rather than a timing assertion."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout} s: {check.__doc__ or check}")
        time.sleep(0.005)


@contextmanager
def token_error(reason: TokenErrorReason, match: str | None = None) -> Iterator[pytest.ExceptionInfo[TokenError]]:
    """``pytest.raises(TokenError, match=...)`` that also checks the error's ``reason``."""
    with pytest.raises(TokenError, match=match) as info:
        yield info
    assert info.value.reason == reason
