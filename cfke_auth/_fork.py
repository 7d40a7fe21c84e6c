"""Re-arming locks and clients in a child process after ``os.fork()``.

A lock held by another thread at the moment of ``fork()`` stays held forever in the child, and an HTTP connection
pool would be shared with the parent. Objects that own either register here and get ``_after_fork()`` called in
the child before any user code runs; module-level locks held only briefly are guarded across the fork instead.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Protocol

__all__ = ["ForkAware", "guard", "register"]


class ForkAware(Protocol):
    def _after_fork(self) -> None: ...


_objects: weakref.WeakSet[ForkAware] = weakref.WeakSet()


def _reinit_all() -> None:
    for obj in list(_objects):
        obj._after_fork()


def register(obj: ForkAware) -> None:
    """Call ``obj._after_fork()`` in every child forked from now on, for as long as ``obj`` lives."""
    _objects.add(obj)


def guard(lock: threading.Lock) -> threading.Lock:
    """Hold ``lock`` across every ``fork()``, so a child never inherits it locked; for locks held only briefly."""
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(before=lock.acquire, after_in_parent=lock.release, after_in_child=lock.release)
    return lock


if hasattr(os, "register_at_fork"):  # absent on Windows, where fork() does not exist either
    os.register_at_fork(after_in_child=_reinit_all)
