"""The broker's Prometheus metrics, in a registry of its own (several brokers in one process do not collide).

* ``cfke_broker_exchanges_total{provider}`` -- exchanges that issued a credential;
* ``cfke_broker_exchange_failures_total{provider,code}`` -- failed ones, by the provider's error code (``background``
  for a failed refresh while the current credential was still served: its reason is in the log line);
* ``cfke_broker_credential_expiry_seconds{provider,credential}`` -- seconds until each held credential expires;
* ``cfke_broker_requests_total{endpoint,status}`` -- requests answered, by endpoint and HTTP status.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["Held", "Metrics"]

#: What the expiry gauge reads: (provider, credential label, expiry in epoch seconds or None) for each credential.
Held = Callable[[], Iterable[tuple[str, str, float | None]]]


class _Expiry(Collector):
    """Seconds to expiry of every held credential, computed when scraped."""

    def __init__(self, held: Held) -> None:
        self._held = held

    def collect(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily(
            "cfke_broker_credential_expiry_seconds",
            "Seconds until the credential the broker holds expires",
            labels=["provider", "credential"],
        )
        now = time.time()
        for provider, label, expires_at in self._held():
            if expires_at is not None:
                gauge.add_metric([provider, label], round(expires_at - now, 3))
        yield gauge


class Metrics:
    """The counters the broker updates and the registry ``/metrics`` renders."""

    def __init__(self, held: Held) -> None:
        self.registry = CollectorRegistry()
        self.exchanges = Counter(
            "cfke_broker_exchanges", "Exchanges that issued a credential", ["provider"], registry=self.registry
        )
        self.failures = Counter(
            "cfke_broker_exchange_failures",
            "Exchanges that failed, by the provider's error code",
            ["provider", "code"],
            registry=self.registry,
        )
        self.requests = Counter(
            "cfke_broker_requests",
            "Requests answered, by endpoint and status",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.registry.register(_Expiry(held))

    def render(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)
