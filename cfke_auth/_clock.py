"""The two clocks cfke-auth reads, behind one small protocol so tests and embedders can supply their own.

Expiry is an instant on the issuer's wall clock, so it is compared with ``time()``. But the wall clock can be
stepped (NTP, an operator, a VM restored from a snapshot), so how long ago something happened -- a value's arrival,
a failed attempt -- is also measured with ``monotonic()``, which never steps but stops while the machine is
suspended. Each decision reads both and takes the safe side (see :mod:`cfke_auth._engine`). botocore's
``time_fetcher`` is the model.
"""

from __future__ import annotations

import time as _time
from typing import Protocol

__all__ = ["SYSTEM_CLOCK", "Clock", "SystemClock"]


class Clock(Protocol):
    """Wall-clock and monotonic seconds."""

    def time(self) -> float:
        """Seconds since the epoch, as ``time.time()``."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin that never go backwards, as ``time.monotonic()``."""
        ...


class SystemClock:
    """The machine's clocks (``time.time`` and ``time.monotonic``)."""

    __slots__ = ()
    time = staticmethod(_time.time)
    monotonic = staticmethod(_time.monotonic)

    def __repr__(self) -> str:
        return "SystemClock()"


SYSTEM_CLOCK: Clock = SystemClock()
