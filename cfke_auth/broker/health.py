"""``/healthz`` (the process answers), ``/readyz`` (every configured credential obtained and valid for at least
:data:`READY_LEFT` seconds: what a startup probe waits for before the app containers start) and ``/metrics``."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from .keeper import Keeper
from .metrics import Metrics

__all__ = ["READY_LEFT", "routes"]

#: A credential with less than this left does not count as ready: a client starting now must get a useful one.
READY_LEFT = 300.0


def routes(required: Callable[[], Iterable[Keeper[object]]], metrics: Metrics) -> list[web.RouteDef]:
    """The probe and metrics paths over the ``required`` keepers and ``metrics``."""

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(request: web.Request) -> web.Response:
        waiting = []
        for keeper in required():
            left = keeper.seconds_left()
            if left is None or left < READY_LEFT:
                state = "not obtained" if left is None else f"{max(left, 0):.0f} s left"
                waiting.append(f"{keeper.provider} {keeper.label}: {state}")
        if waiting:
            return web.Response(status=503, text="not ready:\n" + "".join(f"  {w}\n" for w in waiting))
        return web.Response(text="ready\n")

    async def metrics_page(request: web.Request) -> web.Response:
        response = web.Response(body=metrics.render())
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    return [
        web.get("/healthz", healthz, name="healthz"),
        web.get("/readyz", readyz, name="readyz"),
        web.get("/metrics", metrics_page, name="metrics"),
    ]
