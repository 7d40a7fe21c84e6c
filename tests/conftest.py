"""Shared test helpers. The cfke_issuer / cfke_token_file fixtures come from the cfke_auth.testing pytest plugin."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

import pytest


def run_threads(count: int, target: Callable[[], Any]) -> list[Any]:
    """Run ``target`` in ``count`` threads released together; return each one's result or raised exception."""
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
    return results


def assert_no_secrets(secrets: Iterable[str], *texts: str) -> None:
    """Fail if any secret (or its last 12 characters, to catch truncated leaks) appears in any text."""
    for secret in secrets:
        for text in texts:
            assert secret not in text
            assert secret[-12:] not in text


@pytest.fixture
def threads() -> Callable[[int, Callable[[], Any]], list[Any]]:
    return run_threads
