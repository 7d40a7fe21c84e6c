"""``cfke-auth serve``: one credential broker for every process and language in the pod.

A loopback server on the async engine that speaks the endpoints each cloud's SDKs already know -- AWS container
credentials (:mod:`.aws`), the GCE metadata server (:mod:`.gce`), Azure App Service managed identity
(:mod:`.azure`) -- with per-protocol secrets (:mod:`.secrets`), health, readiness and Prometheus metrics
(:mod:`.health`, :mod:`.metrics`). Each credential is exchanged once per lifetime for the whole pod and refreshed
ahead of expiry (:mod:`.keeper`). :mod:`.config` reads the flags, :mod:`.env` prints what app containers need,
:mod:`.server` runs it. Needs the ``serve`` extra (aiohttp, prometheus-client).
"""

from __future__ import annotations

from .config import BrokerConfig
from .server import Broker, serve

__all__ = ["Broker", "BrokerConfig", "serve"]
