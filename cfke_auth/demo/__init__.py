"""The end-to-end demo behind ``make demo``: a local cluster issuer, a kubelet-style token file, and cfke-auth
reading and exchanging it, with nothing but loopback servers.

Each ``step_*`` module in this package has a ``run(ctx)`` function; they run in name order on one shared
:class:`Context`.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import tempfile
from dataclasses import dataclass

from ..testing import OidcIssuer, TokenFile

__all__ = ["Context", "main", "say"]


@dataclass
class Context:
    """What every demo step shares: the running issuer and the token file it signs into."""

    issuer: OidcIssuer
    token_file: TokenFile


def say(title: str, *lines: str) -> None:
    """Print a step heading and its lines, indented."""
    print(f"\n== {title}")
    for line in lines:
        print(f"   {line}")


def main() -> int:
    # Steps that show a refused exchange print the error themselves; keep the engine's retry warnings out of it.
    logging.getLogger("cfke_auth").setLevel(logging.ERROR)
    with OidcIssuer() as issuer, tempfile.TemporaryDirectory(prefix="cfke-demo-") as tmp:
        token_file = TokenFile(tmp, issuer, namespace="shop", service_account="checkout", extended=True)
        token_file.rotate()
        ctx = Context(issuer, token_file)
        steps = sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name.startswith("step_"))
        for name in steps:
            importlib.import_module(f"{__name__}.{name}").run(ctx)
    print("\ndemo finished: every step above ran against loopback servers only.")
    return 0
