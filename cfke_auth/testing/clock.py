"""A clock moved by hand, for the engine's and the token source's ``clock=``.

time-machine moves the wall clock only; the engine also reads the monotonic clock (to bound how long a value is
trusted and to schedule retries whatever the wall clock does). :class:`ManualClock` moves both together, or the wall
clock alone, as NTP, an operator or a suspended machine would.
"""

from __future__ import annotations

__all__ = ["ManualClock"]


class ManualClock:
    """Wall-clock and monotonic seconds that change only when told: :meth:`advance` moves both (time passing),
    :meth:`step` only the wall clock (set forward or back; also what a suspend looks like, since the monotonic
    clock stops while the machine sleeps)."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._wall = start
        self._mono = 1_000.0

    def __repr__(self) -> str:
        return f"ManualClock(time={self._wall}, monotonic={self._mono})"

    def time(self) -> float:
        return self._wall

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass on both clocks."""
        if seconds < 0:
            raise ValueError("time passes forward: use step() to set the wall clock back")
        self._wall += seconds
        self._mono += seconds

    def step(self, seconds: float) -> None:
        """Set the wall clock forward (or back, when negative) by ``seconds``; the monotonic clock does not move."""
        self._wall += seconds
