"""One refreshing credential per set of parameters, per process.

Applications that build a client per request call ``get_boto3_session(...)`` (or its siblings) again and again; each
call with the same parameters must reuse the credential already being refreshed rather than start a new exchange.

Objects are found through weak references, so an object still in use anywhere is always the one returned: a second
one for the same parameters, which would break single flight, cannot exist. The most recently used
:data:`KEEP_RECENT` are also held strongly, so a caller that drops its session after every request still finds the
credential next time; beyond that, unused objects are collected like any other garbage and the registry does not grow.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from . import _fork

__all__ = ["KEEP_RECENT", "shared"]

V = TypeVar("V")

#: How many recently used objects are kept alive although nobody holds them.
KEEP_RECENT = 256

_live: weakref.WeakValueDictionary[Hashable, Any] = weakref.WeakValueDictionary()
_recent: OrderedDict[Hashable, Any] = OrderedDict()
_lock = _fork.guard(threading.Lock())


def shared(key: Hashable, make: Callable[[], V]) -> V:
    """The object registered under ``key``, made by ``make()`` when there is none (under a lock, so it is made
    once). ``make`` must not call :func:`shared` itself: the lock does not nest."""
    with _lock:
        value: V | None = _live.get(key)
        if value is None:
            value = make()
            _live[key] = value
        _recent[key] = value
        _recent.move_to_end(key)
        if len(_recent) > KEEP_RECENT:
            _recent.popitem(last=False)
        return value
