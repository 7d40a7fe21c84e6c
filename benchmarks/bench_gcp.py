"""Google Cloud figures, side by side with google-auth's own ``identity_pool.Credentials`` (a subject-token supplier
reading the same token file), both against the same loopback Google STS in the same run: the per-request cost of
``before_request``, how many STS calls 64 threads cause, and how many requests fail while STS is down."""

from __future__ import annotations

import contextlib
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import time_machine
from google.auth import identity_pool
from google.auth.transport.requests import Request
from harness import Row, count, per_call_us, ratio, settle

import cfke_auth
from cfke_auth.gcp.settings import CLOUD_PLATFORM_SCOPE
from cfke_auth.rfc8693.protocol import JWT_TOKEN_TYPE
from cfke_auth.testing import OidcIssuer, TokenFile
from cfke_auth.testing.gcp import GoogleFake

ANCHOR = "google-auth identity_pool.Credentials"
#: Past cfke-auth's refresh point (75-80 % of the hour) and inside google-auth's 3 min 45 s pre-expiry window.
NEAR_EXPIRY = 57 * 60
OUTAGE_REQUESTS = 50


class _FileSupplier(identity_pool.SubjectTokenSupplier):  # type: ignore[misc]
    """What a google-auth user writes to read the pod token: the file, afresh each time."""

    def __init__(self, path: str) -> None:
        self.path = path

    def get_subject_token(self, context: Any, request: Any) -> str:
        return Path(self.path).read_text().strip()


class _Pair:
    """A fresh cfke-auth credential and a fresh google-auth one, for the same fake and token file."""

    def __init__(self, fake: GoogleFake, token_path: str, run: int) -> None:
        # a distinct scope per run so the process-wide registry hands out a cold credential each time
        scopes = [CLOUD_PLATFORM_SCOPE, f"https://www.googleapis.com/auth/bench.run{run}"]
        self.ours = cfke_auth.get_gcp_credentials(**fake.credential_kwargs(), scopes=scopes, token_path=token_path)
        self.theirs = identity_pool.Credentials(
            audience=fake.provider.audience,
            subject_token_type=JWT_TOKEN_TYPE,
            token_url=f"{fake.url}/v1/token",
            subject_token_supplier=_FileSupplier(token_path),
            scopes=scopes,
        )


def _before_request(creds: Any) -> Callable[[], None]:
    request, headers = Request(), {}
    return lambda: creds.before_request(request, "GET", "https://storage.googleapis.com/", headers)


def _sts_calls_from_64_threads(fake: GoogleFake, creds: Any) -> int:
    call = _before_request(creds)
    before = len(fake.sts_calls())
    barrier = threading.Barrier(64)

    def worker() -> None:
        barrier.wait()
        with contextlib.suppress(Exception):  # a failed refresh is still a call the server counted
            call()

    threads = [threading.Thread(target=worker) for _ in range(64)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    settle(creds)
    return len(fake.sts_calls()) - before


def _failures(creds: Any) -> int:
    call, failed = _before_request(creds), 0
    for _ in range(OUTAGE_REQUESTS):
        try:
            call()
        except Exception:
            failed += 1
        settle(creds)
    return failed


def rows() -> Iterator[Row]:
    with OidcIssuer() as issuer, tempfile.TemporaryDirectory() as tmp:
        fake = GoogleFake(issuer, str(Path(tmp) / "token"))
        token_file = TokenFile(tmp, issuer, audience=fake.provider.audience, lifetime=2 * 3600)
        token_file.rotate()
        with fake:
            warm = _Pair(fake, token_file.path, 0)
            ours, theirs = _before_request(warm.ours), _before_request(warm.theirs)
            ours()
            theirs()
            yield Row(
                "gcp before_request, hot",
                per_call_us(ours, calls=100_000),
                per_call_us(theirs, calls=100_000),
                ANCHOR,
                "us",
                ratio(0.25),
            )

            cold = _Pair(fake, token_file.path, 1)
            yield Row(
                "gcp STS calls, 64 threads cold",
                _sts_calls_from_64_threads(fake, cold.ours),
                _sts_calls_from_64_threads(fake, cold.theirs),
                ANCHOR,
                "",
                count(1),
            )

            due, down = _Pair(fake, token_file.path, 2), _Pair(fake, token_file.path, 3)
            for pair in (due, down):
                _before_request(pair.ours)()
                _before_request(pair.theirs)()
            with time_machine.travel(time.time() + NEAR_EXPIRY, tick=True):
                yield Row(
                    "gcp STS calls, 64 threads at the refresh point",
                    _sts_calls_from_64_threads(fake, due.ours),
                    _sts_calls_from_64_threads(fake, due.theirs),
                    ANCHOR,
                    "",
                    count(1),
                )
                with fake.server.outage(503):
                    yield Row(
                        f"gcp requests failing of {OUTAGE_REQUESTS}, STS down, token valid 3 min more",
                        _failures(down.ours),
                        _failures(down.theirs),
                        ANCHOR,
                        "",
                        count(0),
                    )
