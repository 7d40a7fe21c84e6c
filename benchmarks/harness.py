"""What every benchmark module shares: the row type, timing helpers and the table printer.

A benchmark module is a ``bench_*.py`` file beside this one with a ``rows()`` function yielding :class:`Row` s.
Each row puts a cfke-auth figure beside its anchor -- the same figure for the SDK's own mechanism, measured in the
same process run -- and the :class:`Goal` the figure is held to. Goals are data: a count goal (exchanges, failures)
that is missed fails ``make bench``; a time or memory goal is reported MET or MISS, but timings on a shared machine
are noisy, so a miss does not fail the run.
"""

from __future__ import annotations

import gc
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "Goal",
    "Row",
    "at_most",
    "count",
    "fewer_than_anchor",
    "format_table",
    "import_cost",
    "per_call_us",
    "ratio",
    "reported",
    "settle",
]


@dataclass(frozen=True)
class Goal:
    """What a figure is held to: ``ours <= limit``, or ``ours / anchor <= limit`` when ``of_anchor``, or
    ``ours < anchor`` when ``below_anchor``. ``strict`` goals (exact counts) fail ``make bench`` when missed."""

    limit: float = 0.0
    of_anchor: bool = False
    below_anchor: bool = False
    strict: bool = False

    def met(self, ours: float, anchor: float | None) -> bool:
        if self.below_anchor:
            return anchor is not None and ours < anchor
        if self.of_anchor:
            return anchor is not None and anchor > 0 and ours / anchor <= self.limit
        return ours <= self.limit

    def describe(self, unit: str) -> str:
        if self.limit == float("inf"):
            return "- (a figure, no goal)"
        if self.below_anchor:
            return "< anchor"
        if self.of_anchor:
            return f"<= {self.limit:g}x"
        return f"<= {self.limit:g}{f' {unit}' if unit else ''}" if not self.strict else f"<= {self.limit:g} (exact)"


def count(limit: int) -> Goal:
    """An exact count (exchanges, failures, connections): missing it fails the run."""
    return Goal(limit, strict=True)


def at_most(limit: float) -> Goal:
    """An absolute bound on a time or size: reported, never failing the run."""
    return Goal(limit)


def ratio(limit: float) -> Goal:
    """A bound on ours / anchor: reported, never failing the run."""
    return Goal(limit, of_anchor=True)


def reported() -> Goal:
    """No goal: a figure reported for context (a throughput beside its latencies, say)."""
    return Goal(float("inf"))


def fewer_than_anchor(*, strict: bool = True) -> Goal:
    """Fewer than the anchor (a count, so strict by default)."""
    return Goal(below_anchor=True, strict=strict)


@dataclass(frozen=True)
class Row:
    """One measured figure: ``ours`` against ``anchor`` (what ``anchor_name`` does), with the ``goal`` it is held to
    and an optional ``note`` for the table."""

    metric: str
    ours: float
    anchor: float | None
    anchor_name: str
    unit: str
    goal: Goal
    note: str = ""

    @property
    def ratio(self) -> str:
        if self.anchor is None:
            return "-"
        if self.anchor == 0:
            return "n/a" if self.ours else "equal (0)"
        return f"{self.ours / self.anchor:.2f}x"

    @property
    def met(self) -> bool:
        return self.goal.met(self.ours, self.anchor)

    @property
    def status(self) -> str:
        if self.met:
            return "MET"
        return "MISS" if self.goal.strict else "miss (timing, not failing)"


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if float(value).is_integer():
        return f"{int(value)} {unit}"
    return f"{value:.3g} {unit}"


def format_table(rows: list[Row]) -> str:
    """A Markdown table: metric, cfke-auth, anchor, ratio (ours / anchor), goal, status."""
    header = ("metric", "cfke-auth", "anchor", "ratio", "goal", "status")
    lines = [
        (
            r.metric,
            _fmt(r.ours, r.unit),
            f"{_fmt(r.anchor, r.unit)} ({r.anchor_name})",
            r.ratio,
            r.goal.describe(r.unit) + (f" ({r.note})" if r.note else ""),
            r.status,
        )
        for r in rows
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines, strict=True)]
    out = ["| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |"]
    out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    out += ["| " + " | ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)) + " |" for line in lines]
    return "\n".join(out)


def settle(credentials: object, *scopes: str) -> None:
    """Wait for a background refresh of cfke-auth credentials (their engine refreshes behind the caller), so that
    what it sent is counted; a no-op for the SDKs' own credentials, which refresh in the caller."""
    refreshing = getattr(credentials, "refreshing", None)
    if refreshing is None:
        return
    engine = refreshing(*scopes) if callable(refreshing) else refreshing
    engine.settle()


def per_call_us(fn: Callable[[], object], *, calls: int = 200_000, repeats: int = 5) -> float:
    """Median microseconds per call of ``fn`` over ``repeats`` loops of ``calls`` calls, with GC off."""
    gc.disable()
    try:
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(calls):
                fn()
            samples.append((time.perf_counter() - start) / calls * 1e6)
    finally:
        gc.enable()
    return statistics.median(samples)


def import_cost(module: str, *, runs: int = 7) -> tuple[float, list[str]]:
    """Median milliseconds to import ``module`` in a fresh interpreter (after one warm-up run that leaves the
    bytecode caches a deployed package has), and the top-level packages it loaded."""
    code = (
        "import sys, time; before = set(sys.modules); t = time.perf_counter(); "
        f"import {module}; ms = (time.perf_counter() - t) * 1e3; "
        "print(ms); print(' '.join(sorted({m.split('.')[0] for m in set(sys.modules) - before})))"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # time it as deployed: with .pyc
    samples, loaded = [], []
    for run in range(runs + 1):
        out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env).stdout
        if run == 0:
            continue  # the first run writes the bytecode caches
        ms, mods = out.splitlines()
        samples.append(float(ms))
        loaded = mods.split()
    return statistics.median(samples), loaded
