"""The ``cfke-auth`` command line.

Each module in this package that defines ``register(subcommands)`` adds the command named like the module (and its
subcommands) to the parser; the parsed arguments carry the function to run as ``func``. Only the module of the
command being run is imported, so ``cfke-auth aws credential-process`` does not load the Google or Azure code.
Typed errors become one line on stderr and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import pkgutil
import sys
from collections.abc import Sequence

from .._errors import CfkeAuthError, ConfigurationError

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


def _stdout_closed() -> int:
    """The reader of stdout went away (``cfke-auth token --json | head -1``): quietly, as Unix tools do."""
    with contextlib.suppress(OSError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit-time flush cannot fail again
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status: 0 ok, 1 a failure (a refused exchange, an unusable token), 2 a
    bad argument or setting. No input ends in a traceback: an error that is not cfke-auth's own is reported by its
    type alone (its text might hold anything) as an internal error."""
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    args = build_parser(command).parse_args(argv)
    try:
        status: int = args.func(args)
        sys.stdout.flush()
    except ConfigurationError as exc:
        print(f"cfke-auth: {exc}", file=sys.stderr)
        return 2
    except CfkeAuthError as exc:
        print(f"cfke-auth: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return _stdout_closed()
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        print(f"cfke-auth: internal error ({type(exc).__name__}); please report it", file=sys.stderr)
        return 1
    return status
