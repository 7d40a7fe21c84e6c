"""The ``cfke-auth`` command line.

Each module in this package that defines ``register(subcommands)`` adds one command (and its subcommands) to the
parser; the parsed arguments carry the function to run as ``func``. Typed errors become one line on stderr and a
non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from ..errors import CfkeAuthError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The parser with every command module of this package registered."""
    parser = argparse.ArgumentParser(
        prog="cfke-auth", description="Keyless cloud credentials from a CFKE pod's service-account token."
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 a typed cfke-auth error, 2 bad arguments)."""
    args = build_parser().parse_args(argv)
    try:
        status: int = args.func(args)
    except CfkeAuthError as exc:
        print(f"cfke-auth: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"cfke-auth: {exc}", file=sys.stderr)
        return 2
    return status
