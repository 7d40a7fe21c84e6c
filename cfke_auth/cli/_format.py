"""Small formatting helpers shared by the commands."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from typing import Any

__all__ = ["duration", "print_json", "relative"]


def duration(seconds: float) -> str:
    """``3725`` -> ``'1h 2m 5s'``; ``'0s'`` for anything under a second."""
    total = int(abs(seconds))
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if total >= size or (unit == "s" and not parts):
            parts.append(f"{total // size}{unit}")
            total %= size
    return " ".join(parts[:2])


def relative(moment: datetime, now: datetime | None = None) -> str:
    """``moment`` in ISO form with how far it is from ``now``: ``'... (in 59m 3s)'`` or ``'... (2h 1m ago)'``."""
    delta = (moment - (now or datetime.now(timezone.utc))).total_seconds()
    when = f"in {duration(delta)}" if delta >= 0 else f"{duration(delta)} ago"
    return f"{moment.isoformat()} ({when})"


def print_json(value: Any) -> None:
    """Pretty JSON on stdout, keys in a stable order."""
    json.dump(value, sys.stdout, indent=2, sort_keys=True, default=str)
    sys.stdout.write("\n")
