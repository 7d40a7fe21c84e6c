"""What every benchmark module shares: the row type, timing helpers and the table printer.

A benchmark module is a ``bench_*.py`` file beside this one with a ``rows()`` function yielding :class:`Row` s.
Each row puts a cfke-auth figure beside its anchor -- the same figure for the SDK's own mechanism, measured in the
same process run -- and the goal the figure is held to.
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

__all__ = ["Row", "format_table", "import_cost", "per_call_us"]


@dataclass(frozen=True)
class Row:
    """One measured figure: ``ours`` against ``anchor`` (what ``anchor_name`` does), with the ``goal`` it meets."""

    metric: str
    ours: float
    anchor: float | None
    anchor_name: str
    unit: str
    goal: str

    @property
    def ratio(self) -> str:
        if self.anchor is None:
            return "-"
        if self.anchor == 0:
            return "n/a" if self.ours else "equal (0)"
        return f"{self.ours / self.anchor:.2f}x"


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if float(value).is_integer():
        return f"{int(value)} {unit}"
    return f"{value:.3g} {unit}"


def format_table(rows: list[Row]) -> str:
    """A Markdown table: metric, cfke-auth, anchor, ratio (ours / anchor), goal."""
    header = ("metric", "cfke-auth", "anchor", "ratio", "goal")
    lines = [
        (r.metric, _fmt(r.ours, r.unit), f"{_fmt(r.anchor, r.unit)} ({r.anchor_name})", r.ratio, r.goal) for r in rows
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines, strict=True)]
    out = ["| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |"]
    out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    out += ["| " + " | ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)) + " |" for line in lines]
    return "\n".join(out)


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
