"""``make bench``: run every ``bench_*.py`` module beside this file, print one table, and fail when a count goal is
missed (see README.md beside this file)."""

from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from harness import Row, format_table  # noqa: E402 - needs the path above


def main() -> int:
    # Outage rows make the engine log each failed refresh; the table is the output here.
    logging.getLogger("cfke_auth").setLevel(logging.ERROR)
    rows: list[Row] = []
    for path in sorted(HERE.glob("bench_*.py")):
        module = importlib.import_module(path.stem)
        print(f"running {path.stem} ...", file=sys.stderr, flush=True)
        rows.extend(module.rows())
    print(format_table(rows))
    missed = [row.metric for row in rows if row.goal.strict and not row.met]
    if missed:
        print(f"count goals missed: {'; '.join(missed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
