"""The failure knob every fake shares: answer something else instead of the normal reply, for a while.

Each fake exposes it the same way: ``fail_with(code, message=None, status=..., *, times=None)`` answers with the
provider's own error body for ``code``, and ``answer_with(reply, *, times=None)`` with any :class:`Reply` (an
outage page, a malformed body, a hostile answer). ``times=None`` keeps failing until ``fail_with(None)``;
``times=N`` fails the next N requests only.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

from .server import Reply

__all__ = ["FailureKnobs", "Failures"]


class Failures:
    """Replies a fake answers instead of its normal ones: the next ``times`` requests, or every one until cleared."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queued: deque[Reply] = deque()
        self._standing: Reply | None = None

    def set(self, reply: Reply | None, times: int | None = None) -> None:
        """Answer ``reply`` (None: stop failing) for the next ``times`` requests, or until cleared."""
        with self._lock:
            if reply is None:
                self._queued.clear()
                self._standing = None
            elif times is None:
                self._standing = reply
            else:
                self._queued.extend([reply] * times)

    def take(self) -> Reply | None:
        """The reply to answer instead of the normal one, if any (consuming a counted one)."""
        with self._lock:
            if self._queued:
                return self._queued.popleft()
            return self._standing


class FailureKnobs:
    """``answer_with`` and ``outage`` for a fake whose token endpoint consults ``self.failures`` first; the fake adds
    ``fail_with``, which shapes the error as its provider does."""

    failures: Failures

    def answer_with(self, reply: Reply | None, *, times: int | None = None) -> None:
        """Answer the token endpoint's requests with ``reply`` (None: normally again), ``times`` times or until
        cleared."""
        self.failures.set(reply, times)

    @contextmanager
    def outage(self, status: int = 503) -> Iterator[None]:
        """While inside, the token endpoint answers ``status`` (requests are still logged)."""
        self.answer_with(Reply.text("Service Unavailable", status))
        try:
            yield
        finally:
            self.answer_with(None)
