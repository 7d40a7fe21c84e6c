"""Google Cloud figures, side by side with google-auth's own ``identity_pool.Credentials`` (a subject-token supplier
reading the same token file), both against the same loopback Google STS in the same run: the per-request cost of
``before_request``, how many STS calls 64 threads cause, and how many requests fail while STS is down. ID tokens
likewise, beside google-auth's ``impersonated_credentials.IDTokenCredentials`` over the same federated source."""

from __future__ import annotations

import contextlib
import functools
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import time_machine
from google.auth import iam, identity_pool, impersonated_credentials
from google.auth.transport.requests import Request
from harness import Row, count, per_call_us, ratio, settle

import cfke_auth
from cfke_auth.gcp.protocol import generate_access_token_url, iam_url
from cfke_auth.gcp.settings import CLOUD_PLATFORM_SCOPE
from cfke_auth.rfc8693.protocol import JWT_TOKEN_TYPE
from cfke_auth.testing import OidcIssuer, TokenFile
from cfke_auth.testing.gcp import GoogleFake

ANCHOR = "google-auth identity_pool.Credentials"
ID_ANCHOR = "google-auth impersonated IDTokenCredentials"
SERVICE_ACCOUNT = "bench@shop-prod.iam.gserviceaccount.com"
#: Past cfke-auth's refresh point (75-80 % of the hour) and inside google-auth's 3 min 45 s pre-expiry window.
NEAR_EXPIRY = 57 * 60
OUTAGE_REQUESTS = 50


class _FileSupplier(identity_pool.SubjectTokenSupplier):  # type: ignore[misc]
    """What a google-auth user writes to read the pod token: the file, afresh each time."""

    def __init__(self, path: str) -> None:
        self.path = path

    def get_subject_token(self, context: Any, request: Any) -> str:
        return Path(self.path).read_text().strip()


def _identity_pool(fake: GoogleFake, token_path: str, scopes: list[str]) -> identity_pool.Credentials:
    return identity_pool.Credentials(
        audience=fake.provider.audience,
        subject_token_type=JWT_TOKEN_TYPE,
        token_url=f"{fake.url}/v1/token",
        subject_token_supplier=_FileSupplier(token_path),
        scopes=scopes,
    )


class _Pair:
    """A fresh cfke-auth credential and a fresh google-auth one, for the same fake and token file."""

    def __init__(self, fake: GoogleFake, token_path: str, run: int) -> None:
        # a distinct scope per run so the process-wide registry hands out a cold credential each time
        scopes = [CLOUD_PLATFORM_SCOPE, f"https://www.googleapis.com/auth/bench.run{run}"]
        self.ours = cfke_auth.get_gcp_credentials(**fake.credential_kwargs(), scopes=scopes, token_path=token_path)
        self.theirs = _identity_pool(fake, token_path, scopes)


class _IdPair:
    """Fresh ID-token credentials of cfke-auth and of google-auth (impersonating over the same federated source),
    for the same fake, token file and service account."""

    def __init__(self, fake: GoogleFake, token_path: str, run: int) -> None:
        audience = f"https://bench-run{run}-ew.a.run.app"  # a distinct audience per run: a cold credential each time
        self.ours = cfke_auth.get_gcp_id_token_credentials(
            audience, service_account=SERVICE_ACCOUNT, token_path=token_path, **fake.credential_kwargs()
        )
        target = impersonated_credentials.Credentials(
            source_credentials=_identity_pool(fake, token_path, [CLOUD_PLATFORM_SCOPE]),
            target_principal=SERVICE_ACCOUNT,
            target_scopes=[CLOUD_PLATFORM_SCOPE],
            iam_endpoint_override=generate_access_token_url(fake.url, SERVICE_ACCOUNT),
        )
        self.theirs = impersonated_credentials.IDTokenCredentials(target, target_audience=audience)


def _before_request(creds: Any) -> Callable[[], None]:
    request, headers = Request(), {}
    return lambda: creds.before_request(request, "GET", "https://storage.googleapis.com/", headers)


def _calls_from_64_threads(creds: Any, calls: Callable[[], list[Any]]) -> int:
    """How many more requests ``calls()`` lists once 64 threads have made their first request at the same time."""
    call = _before_request(creds)
    before = len(calls())
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
    return len(calls()) - before


def _failures(creds: Any) -> int:
    call, failed = _before_request(creds), 0
    for _ in range(OUTAGE_REQUESTS):
        try:
            call()
        except Exception:
            failed += 1
        settle(creds)
    return failed


def _hot_row(metric: str, pair: _Pair | _IdPair, anchor: str) -> Row:
    """``before_request`` per call once both credentials hold a token, ours beside the anchor's."""
    ours, theirs = _before_request(pair.ours), _before_request(pair.theirs)
    ours()
    theirs()
    return Row(metric, per_call_us(ours, calls=100_000), per_call_us(theirs, calls=100_000), anchor, "us", ratio(0.25))


def rows() -> Iterator[Row]:
    with OidcIssuer() as issuer, tempfile.TemporaryDirectory() as tmp:
        fake = GoogleFake(issuer, str(Path(tmp) / "token"))
        token_file = TokenFile(tmp, issuer, audience=fake.provider.audience, lifetime=2 * 3600)
        token_file.rotate()
        with fake:
            yield _hot_row("gcp before_request, hot", _Pair(fake, token_file.path, 0), ANCHOR)

            cold = _Pair(fake, token_file.path, 1)
            yield Row(
                "gcp STS calls, 64 threads cold",
                _calls_from_64_threads(cold.ours, fake.sts_calls),
                _calls_from_64_threads(cold.theirs, fake.sts_calls),
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
                    _calls_from_64_threads(due.ours, fake.sts_calls),
                    _calls_from_64_threads(due.theirs, fake.sts_calls),
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
            yield from _id_token_rows(fake, token_file.path)


def _id_token_rows(fake: GoogleFake, token_path: str) -> Iterator[Row]:
    """The ID-token hot path and cold start; google-auth's generateIdToken URL is fixed to Google's host, so it is
    pointed at the fake for the run."""
    fake.bind(SERVICE_ACCOUNT, fake.provider.principal("system:serviceaccount:default:default"))
    endpoint = iam_url(fake.url, SERVICE_ACCOUNT, "generateIdToken").replace(SERVICE_ACCOUNT, "{}")  # a template
    with mock.patch.object(iam, "_IAM_IDTOKEN_ENDPOINT", endpoint):
        yield _hot_row("gcp ID token before_request, hot", _IdPair(fake, token_path, 0), ID_ANCHOR)
        cold = _IdPair(fake, token_path, 1)
        id_calls = functools.partial(fake.iam_calls, "generateIdToken")
        yield Row(
            "gcp generateIdToken calls, 64 threads cold",
            _calls_from_64_threads(cold.ours, id_calls),
            _calls_from_64_threads(cold.theirs, id_calls),
            ID_ANCHOR,
            "",
            count(1),
        )
