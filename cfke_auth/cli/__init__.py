"""The ``cfke-auth`` command line.

Each module in this package that defines ``register(subcommands)`` adds the command named like the module (and its
subcommands) to the parser; the parsed arguments carry the function to run as ``func``. Only the module of the
command being run is imported, so ``cfke-auth aws credential-process`` does not load the Google or Azure code.
Typed errors become one line on stderr and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from ..errors import CfkeAuthError

__all__ = ["build_parser", "main"]


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser with the module of ``command`` registered, or every command module when ``command`` is None or
    not one of them (for ``--help`` and for argparse's own error message)."""
    parser = argparse.ArgumentParser(
        prog="cfke-auth", description="Keyless cloud credentials from a CFKE pod's service-account token."
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    names = sorted(info.name for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_"))
    for name in [command] if command in names else names:
        module = importlib.import_module(f"{__name__}.{name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 a typed cfke-auth error, 2 bad arguments)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    args = build_parser(command).parse_args(argv)
    try:
        status: int = args.func(args)
    except CfkeAuthError as exc:
        print(f"cfke-auth: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"cfke-auth: {exc}", file=sys.stderr)
        return 2
    return status
