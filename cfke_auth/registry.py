"""One refreshing credential per set of parameters, per process.

Applications that build a client per request call ``get_boto3_session(...)`` (or its siblings) again and again; each
call with the same parameters must reuse the credential already being refreshed rather than start a new exchange.
The cache is bounded so a process that builds credentials from unbounded input cannot grow without limit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from cachetools import LRUCache

from . import _fork

__all__ = ["shared"]

V = TypeVar("V")

_cache: LRUCache[Hashable, Any] = LRUCache(maxsize=256)
_lock = _fork.guard(threading.Lock())


def shared(key: Hashable, make: Callable[[], V]) -> V:
    """The object cached under ``key``, made by ``make()`` the first time (under a lock, so it is made once)."""
    with _lock:
        try:
            value: V = _cache[key]
        except KeyError:
            value = _cache[key] = make()
        return value
