"""The broker itself: an aiohttp.web application on loopback with the endpoints of every configured cloud.

:class:`Broker` starts the keepers (so every configured credential is being obtained before the first request),
listens on each configured address, counts every answer, and turns anything unexpected into a bare 500 (the
error's type is logged, never a traceback in a response). :func:`serve` runs one until SIGTERM or SIGINT, then
stops accepting, lets requests in flight finish (for at most ``drain_seconds``) and returns 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Iterator
from typing import Any

from aiohttp import web

from .._errors import ConfigurationError
from ..aws.refresh import sts_credential
from ..aws.settings import AwsSettings
from ..azure.refresh import entra_credential, entra_request
from . import aws, azure, gce, health
from .config import BrokerConfig
from .gce import Handler
from .keeper import Keeper, Keepers
from .metrics import Metrics
from .secrets import AWS_SECRET, AZURE_SECRET, load_or_create

__all__ = ["MAX_FIELD", "MAX_HEADERS", "MAX_LINE", "Broker", "configure_logging", "serve"]

#: Limits on what a client may send: the request line, each header, the number of headers, a body.
MAX_LINE = 4096
MAX_FIELD = 4096
MAX_HEADERS = 32
MAX_BODY = 1024
_log = logging.getLogger("cfke_auth.broker")
_GCE_TOKEN_ENDPOINTS = ("gce-token", "gce-identity")


def _endpoint(request: web.Request) -> str:
    """The metrics label of the route a request reached: its name, the metadata server's lesser paths as one."""
    name = request.match_info.route.name
    if name is None:
        return "unknown"
    return "gce-metadata" if name.startswith("gce") and name not in _GCE_TOKEN_ENDPOINTS else name


def _counting(metrics: Metrics) -> Any:
    @web.middleware
    async def count(request: web.Request, handler: Handler) -> web.StreamResponse:
        """Count every answer by endpoint and status; answer routing errors and surprises in a plain line."""
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # no route (404), wrong method (405), body too large (413)
            allow = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
            response = web.Response(status=exc.status, text=f"{exc.reason}\n", headers=allow)
        except Exception as exc:
            _log.error("internal error answering %s %s: %s", request.method, request.path, type(exc).__name__)
            response = web.Response(status=500, text="internal error\n")
        metrics.requests.labels(_endpoint(request), str(response.status)).inc()
        return response

    return count


class Broker:
    """One broker for ``config``: ``await start()`` (the listening URLs are then in :attr:`urls`), ``await
    stop()``; or ``async with``."""

    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        self.metrics = Metrics(self._held)
        self.urls: list[str] = []
        self._groups: list[Keepers[Any, Any]] = []
        self._runner: web.AppRunner | None = None

    def _held(self) -> Iterator[tuple[str, str, float | None]]:
        for keeper in self._keepers():
            yield keeper.provider, keeper.label, keeper.credential.expires_at

    def _keepers(self) -> Iterator[Keeper[Any]]:
        for group in self._groups:
            yield from group

    def _required(self) -> Iterator[Keeper[Any]]:
        return (keeper for keeper in self._keepers() if keeper.required)

    def _group(self, group: Keepers[Any, Any]) -> Any:
        self._groups.append(group)
        return group

    def _routes(self) -> list[web.RouteDef]:
        """The routes of every configured cloud, each credential it needs at startup being obtained already."""
        config, metrics = self.config, self.metrics
        routes = health.routes(self._required, metrics)
        if config.aws is not None:
            roles: Keepers[AwsSettings, Any] = self._group(
                Keepers("aws", "roles", lambda s: (s.role_arn, sts_credential(s, min_left=aws.MIN_LEFT)), metrics)
            )
            secret = load_or_create(config.secrets_dir, AWS_SECRET)
            routes += aws.routes(roles.get(config.aws, required=True), secret, config.aws)
        if config.gcp is not None:
            part = config.gcp
            tokens: Keepers[tuple[str, ...], Any] = self._group(
                Keepers("gcp", "scope sets", lambda s: (gce.scope_label(s), gce.token_credential(part, s)), metrics)
            )
            tokens.get(tuple(sorted(part.settings.scopes)), required=True)
            identities: Keepers[tuple[str, bool], Any] | None = None
            if part.settings.service_account is not None:  # else the identity path explains why there are none
                identities = self._group(
                    Keepers(
                        "gcp",
                        "ID token audiences",
                        lambda key: (f"id-token {key[0]}", gce.id_token_credential(part, *key)),
                        metrics,
                    )
                )
            routes += gce.routes(part, tokens, identities)
        if config.azure is not None:
            settings = config.azure
            resources: Keepers[str, Any] = self._group(
                Keepers(
                    "azure",
                    "resources",
                    lambda r: (r, entra_credential(entra_request(settings, (azure.resource_scope(r),)))),
                    metrics,
                )
            )
            for resource in config.azure_resources:
                resources.get(resource, required=True)
            routes += azure.routes(resources, load_or_create(config.secrets_dir, AZURE_SECRET), settings)
        return routes

    async def start(self) -> list[str]:
        """Start obtaining the credentials and listen; returns the base URLs listened on."""
        app = web.Application(middlewares=[_counting(self.metrics), gce.metadata_rules], client_max_size=MAX_BODY)
        app.add_routes(self._routes())
        self._runner = web.AppRunner(
            app,
            access_log=None,
            shutdown_timeout=self.config.drain_seconds,
            max_line_size=MAX_LINE,
            max_field_size=MAX_FIELD,
            max_headers=MAX_HEADERS,
        )
        await self._runner.setup()
        port = self.config.port
        for host in self.config.hosts:
            try:
                await web.TCPSite(self._runner, host, port).start()
            except OSError as exc:
                await self.stop()
                raise ConfigurationError(f"cannot listen on {host} port {port}: {exc.strerror or exc}") from None
            port = port or int(self._runner.addresses[-1][1])  # --port 0: every address on the port the first got
            self.urls.append(f"http://{f'[{host}]' if ':' in host else host}:{port}")
        return self.urls

    async def stop(self) -> None:
        """Stop accepting, let requests in flight finish (at most ``drain_seconds``), stop the keepers."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        for group in self._groups:
            await group.stop()

    async def __aenter__(self) -> Broker:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class _OneLine(logging.Formatter):
    """Every record on one line (an error's hint, a traceback): a log line per event, and no forged lines."""

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).replace("\r", "").replace("\n", " | ")


def configure_logging() -> None:
    """cfke-auth's log lines (the engine's failures, the broker's exchanges) to stderr, one per event."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLine("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("cfke_auth")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


async def serve(config: BrokerConfig) -> int:
    """Run a broker until SIGTERM or SIGINT; then drain and return 0."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    broker = Broker(config)
    urls = await broker.start()
    _log.info("listening on %s for %s", " and ".join(urls), ", ".join(config.clouds))
    try:
        await stopping.wait()
    finally:
        _log.info("stopping: no new connections, finishing requests in flight")
        await broker.stop()
    return 0
