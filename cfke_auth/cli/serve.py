"""``cfke-auth serve``: the pod-wide credential broker (AWS container credentials, GCE metadata server, Azure managed
identity on loopback), or with ``--print-env`` the environment the app containers need to use it."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .._errors import ConfigurationError


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "serve",
        help="run the pod's credential broker on loopback (AWS, Google Cloud and Azure endpoints)",
        description="Serve the pod's cloud credentials on loopback through the endpoints the clouds' SDKs know: AWS "
        "container credentials, the GCE metadata server and Azure App Service managed identity. Each cloud is "
        "enabled by its flags (or the library's environment variables). SIGTERM drains and exits 0.",
    )
    from ..broker.config import add_arguments

    add_arguments(parser)
    parser.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    try:
        from ..broker import config, env, server
    except ImportError as exc:  # aiohttp or prometheus-client missing
        raise ConfigurationError(
            f"cfke-auth serve needs the serve extra: pip install 'cfke-auth[serve]' ({exc.name})"
        ) from None
    settings = config.from_args(args)
    if args.print_env:
        if settings.port == 0:
            raise ConfigurationError("--print-env needs the port the broker listens on: pass --port")
        sys.stdout.write(env.render(settings))
        return 0
    import asyncio

    server.configure_logging()
    return asyncio.run(server.serve(settings))
