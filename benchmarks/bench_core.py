"""Core figures: the cost of ``import cfke_auth`` and of the two hot paths every credential call goes through."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator

from harness import Row, at_most, count, import_cost, per_call_us

from cfke_auth import Issued, RefreshingCredential, TokenSource
from cfke_auth.aws.protocol import format_expiration
from cfke_auth.testing import OidcIssuer, TokenFile

HEAVY = {"boto3", "botocore", "google", "azure", "httpx", "jwt", "cryptography"}


def _import_rows() -> Iterator[Row]:
    ours, loaded = import_cost("cfke_auth")
    heavy = sorted(HEAVY & set(loaded))
    anchors = {
        "boto3": "boto3",
        "google.auth.identity_pool": "google-auth",
        "azure.identity": "azure-identity",
    }
    for module, name in anchors.items():
        anchor, _ = import_cost(module)
        yield Row(f"import time vs import {module}", round(ours, 1), round(anchor, 1), name, "ms", at_most(15))
    yield Row(
        "heavy modules pulled in by import cfke_auth",
        len(heavy),
        None,
        "-",
        "",
        count(0),
        ", ".join(heavy) or "none",
    )


def _hot_rows() -> Iterator[Row]:
    from botocore.credentials import RefreshableCredentials

    with OidcIssuer() as issuer, tempfile.TemporaryDirectory() as tmp:
        token_file = TokenFile(tmp, issuer)
        token_file.rotate()
        source = TokenSource(token_file.path)
        source.token()
        yield Row("TokenSource.token(), warm", per_call_us(source.token), None, "-", "us", at_most(1))

        engine: RefreshingCredential[str] = RefreshingCredential(
            lambda: Issued("value", time.time() + 3600), name="bench"
        )
        engine.get()
        botocore_creds = RefreshableCredentials.create_from_metadata(
            {"access_key": "A", "secret_key": "S", "token": "T", "expiry_time": format_expiration(time.time() + 3600)},
            refresh_using=lambda: {},
            method="bench",
        )
        yield Row(
            "engine hot path, get()",
            per_call_us(engine.get),
            per_call_us(botocore_creds.get_frozen_credentials, calls=50_000),
            "botocore RefreshableCredentials.get_frozen_credentials",
            "us",
            at_most(0.5),
        )


def rows() -> Iterator[Row]:
    yield from _import_rows()
    yield from _hot_rows()
