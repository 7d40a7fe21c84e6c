"""The ``cfke-auth`` command line.

Each module in this package that defines ``register(subcommands)`` adds the command named like the module (and its
subcommands) to the parser; the parsed arguments carry the function to run as ``func``. Only the module of the
command being run is imported, so ``cfke-auth aws credential-process`` does not load the Google or Azure code.
Typed errors become one line on stderr (a JSON object on stdout for ``--json``) and a non-zero exit status, never a
traceback. Help text is plain text: every parser formats its description and option help with
:class:`~cfke_auth.cli._format.HelpFormatter`.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import pkgutil
import sys
from collections.abc import Sequence
from typing import Any

from .._errors import CfkeAuthError, ConfigurationError, ExchangeError, TokenError
from .._version import __version__
from ._format import HelpFormatter

__all__ = ["build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose help is plain text (subcommand parsers are of this class too)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser with the module of ``command`` registered, or every command module when ``command`` is None or
    not one of them (for ``--help`` and for argparse's own error message)."""
    parser = _Parser(prog="cfke-auth", description="Keyless cloud credentials from a CFKE pod's service-account token.")
    parser.add_argument("--version", action="version", version=f"cfke-auth {__version__}")
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


def _error_json(exc: CfkeAuthError) -> dict[str, Any]:
    """A typed error as ``--json`` commands print it: its kind, message and the fields a script acts on."""
    error: dict[str, Any] = {"type": type(exc).__name__, "message": str(exc)}
    if isinstance(exc, ExchangeError):
        error.update(provider=exc.provider, code=exc.code, message=exc.message, hint=exc.hint, retryable=exc.retryable)
    elif isinstance(exc, TokenError):
        error.update(path=exc.path, reason=exc.reason)
    return {"error": error}


def _report(exc: CfkeAuthError, as_json: bool) -> None:
    if as_json:
        json.dump(_error_json(exc), sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    print(f"cfke-auth: {exc}", file=sys.stderr)


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
        _report(exc, getattr(args, "json", False))
        return 2
    except CfkeAuthError as exc:
        _report(exc, getattr(args, "json", False))
        return 1
    except BrokenPipeError:
        return _stdout_closed()
    except OSError as exc:  # a file named on the command line (an --output) cannot be written: name it, no traceback
        print(f"cfke-auth: {exc.filename or 'I/O error'}: {exc.strerror or type(exc).__name__}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        print(f"cfke-auth: internal error ({type(exc).__name__}); please report it", file=sys.stderr)
        return 1
    return status
