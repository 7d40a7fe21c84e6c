"""Azure figures: cfke-auth's credential beside azure-identity's ``WorkloadIdentityCredential``, both asking the
same loopback Entra ID endpoint for the same token file.

azure-identity insists on an https authority, so it is given ``https://127.0.0.1:PORT`` and a transport that sends
its requests to the same loopback server over plain http and skips the real-time sleeps between its retries
(5.6 s per refresh attempt): everything it decides and counts is unchanged.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import time_machine
from azure.core.pipeline.transport import RequestsTransport
from azure.identity import WorkloadIdentityCredential
from harness import Row, count, fewer_than_anchor, per_call_us, ratio, settle

import cfke_auth
from cfke_auth.azure.settings import AZURE_AUDIENCE
from cfke_auth.testing import OidcIssuer, TokenFile
from cfke_auth.testing.entra import FakeEntra

TENANT = "72f988bf-0000-4000-8000-00000000be4c"
CLIENT = "0c1d2e3f-0000-4000-8000-00000000be4c"
SCOPE = "https://storage.azure.com/.default"
ANCHOR = "azure-identity WorkloadIdentityCredential"


class _PlainLoopback(RequestsTransport):
    """Sends azure-identity's ``https://127.0.0.1`` requests to the loopback server over http."""

    def send(self, request: Any, **kwargs: Any) -> Any:
        request.url = request.url.replace("https://127.0.0.1", "http://127.0.0.1", 1)
        return super().send(request, **kwargs)

    def sleep(self, duration: float) -> None:
        """No real-time wait between retries: the clock is simulated, and the count of requests is what matters."""


class _Setup:
    """A fresh fake Entra and token file; ``ours()`` / ``theirs()`` build a cold credential on them."""

    def __init__(self, issuer: OidcIssuer, tmp: str, name: str) -> None:
        self.token_file = TokenFile(f"{tmp}/{name}", issuer, audience=AZURE_AUDIENCE)
        self.token_file.rotate()
        self.fake = FakeEntra(TENANT, CLIENT, self.token_file.path).start()

    def ours(self) -> Any:
        return cfke_auth.get_azure_credential(
            TENANT, CLIENT, token_path=self.token_file.path, authority_host=self.fake.url
        )

    def theirs(self) -> Any:
        return WorkloadIdentityCredential(
            tenant_id=TENANT,
            client_id=CLIENT,
            token_file_path=self.token_file.path,
            authority=self.fake.url.replace("http://", "https://"),
            transport=_PlainLoopback(),
        )

    def requests(self) -> int:
        return len(self.fake.token_requests())


def _cold_requests(setup: _Setup, credential: Any, threads: int = 64) -> int:
    """Token requests made when ``threads`` threads call ``get_token`` at once on a cold credential."""
    before = setup.requests()
    barrier = threading.Barrier(threads)

    def call() -> None:
        barrier.wait()
        credential.get_token(SCOPE)

    workers = [threading.Thread(target=call) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return setup.requests() - before


def _outage(setup: _Setup, make: Callable[[], Any]) -> tuple[int, int]:
    """(failed calls, token requests) for 60 calls 10 s apart over the last 17 % of a token's hour, Entra down."""
    credential = make()
    start = time.time()
    first = credential.get_token(SCOPE).token
    before = setup.requests()
    failures = 0
    with setup.fake.outage(503):
        for step in range(60):
            with time_machine.travel(start + 2900 + step * 10, tick=False):
                try:
                    failures += credential.get_token(SCOPE).token != first
                except Exception:
                    failures += 1
                settle(credential, SCOPE)
    return failures, setup.requests() - before


def rows() -> Iterator[Row]:
    logging.getLogger("cfke_auth").addHandler(logging.NullHandler())  # the outage's retry warnings are expected
    with OidcIssuer() as issuer, tempfile.TemporaryDirectory() as tmp:
        hot = _Setup(issuer, tmp, "hot")
        ours, theirs = hot.ours(), hot.theirs()
        ours.get_token(SCOPE)
        theirs.get_token(SCOPE)
        yield Row(
            "Azure get_token, warm",
            per_call_us(lambda: ours.get_token(SCOPE)),
            per_call_us(lambda: theirs.get_token(SCOPE), calls=50_000),
            ANCHOR,
            "us",
            ratio(0.2),
        )
        cold_ours, cold_theirs = _Setup(issuer, tmp, "cold-ours"), _Setup(issuer, tmp, "cold-theirs")
        yield Row(
            "Azure token requests, 64 threads on a cold credential",
            _cold_requests(cold_ours, cold_ours.ours()),
            _cold_requests(cold_theirs, cold_theirs.theirs()),
            ANCHOR,
            "",
            count(1),
        )
        down_ours, down_theirs = _Setup(issuer, tmp, "down-ours"), _Setup(issuer, tmp, "down-theirs")
        failed_ours, attempts_ours = _outage(down_ours, down_ours.ours)
        failed_theirs, attempts_theirs = _outage(down_theirs, down_theirs.theirs)
        yield Row("Azure failed calls, Entra down while the token is valid", failed_ours, failed_theirs, ANCHOR, "",
                  count(0))  # fmt: skip
        yield Row(
            "Azure token requests during that outage (60 calls)",
            attempts_ours,
            attempts_theirs,
            ANCHOR,
            "",
            fewer_than_anchor(),
        )
        for setup in (hot, cold_ours, cold_theirs, down_ours, down_theirs):
            setup.fake.stop()
