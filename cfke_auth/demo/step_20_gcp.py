"""Demo step: Google Cloud through Workload Identity Federation, against a loopback Google STS and IAM Credentials."""

from __future__ import annotations

import json
import tempfile
import warnings
from pathlib import Path
from typing import Any

from .._errors import CfkeAuthError
from ..gcp.cred_config import cred_config
from ..testing import TokenFile
from ..testing.gcp import DEFAULT_PROVIDER, RESOURCE_PATH, GoogleFake
from . import Context, say

SERVICE_ACCOUNT = "checkout@shop-prod.iam.gserviceaccount.com"


def _api_sees(credentials: Any, fake: GoogleFake) -> dict[str, Any]:
    """What the stand-in Google API reports about the caller, reached through google-auth's AuthorizedSession."""
    from google.auth.transport.requests import AuthorizedSession

    answer: dict[str, Any] = AuthorizedSession(credentials).get(fake.url + RESOURCE_PATH).json()  # type: ignore[no-untyped-call]
    return answer


def _extended_token_refused(ctx: Context) -> None:
    from google.auth.transport.requests import Request

    from ..gcp.credentials import get_gcp_credentials

    with GoogleFake(ctx.issuer, ctx.token_file.path) as fake:
        try:
            get_gcp_credentials(**fake.credential_kwargs(), token_path=ctx.token_file.path).refresh(Request())
        except CfkeAuthError as exc:
            say("Google STS and the default (extended) token: refused, and the error says why", *str(exc).splitlines())


def _exchanges(fake: GoogleFake, token_path: str) -> None:
    from ..gcp.credentials import get_gcp_credentials

    direct = get_gcp_credentials(**fake.credential_kwargs(), token_path=token_path)
    seen = _api_sees(direct, fake)
    say(
        "a projected token (audience = the provider) through get_gcp_credentials: direct resource access",
        f"audience:      {DEFAULT_PROVIDER.audience}",
        f"the API sees:  {seen['principal']}",
        f"token expiry:  {direct.expiry.isoformat() if direct.expiry else '-'} (naive UTC, as google-auth)",
    )
    impersonating = get_gcp_credentials(
        **fake.credential_kwargs(), token_path=token_path, service_account=SERVICE_ACCOUNT
    )
    seen = _api_sees(impersonating, fake)
    say(
        "the same pod impersonating a service account (STS, then IAM Credentials generateAccessToken)",
        f"the API sees:  {seen['service_account']}",
        f"exchanges:     {len(fake.sts_calls())} STS, {len(fake.generate_calls())} generateAccessToken",
    )


def _google_auth_loads_cred_config(fake: GoogleFake, token_path: str, directory: str) -> None:
    import google.auth
    from google.auth.transport.requests import Request

    config = Path(directory) / "gcp.json"
    config.write_text(json.dumps(cred_config(fake.provider, token_path, sts_url=fake.url)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # google-auth's advice to use a type-specific loader
        loaded, _ = google.auth.load_credentials_from_file(str(config))  # type: ignore[no-untyped-call]
    loaded = loaded.with_scopes(["https://www.googleapis.com/auth/cloud-platform"])
    loaded.refresh(Request())
    say(
        "cfke-auth gcp cred-config: google-auth's own loader runs the exchange from the same file",
        f"{type(loaded).__module__}.{type(loaded).__name__} got a token: {loaded.token in fake.issued}",
    )


def run(ctx: Context) -> None:
    _extended_token_refused(ctx)
    with tempfile.TemporaryDirectory(prefix="cfke-demo-gcp-") as tmp:
        projected = TokenFile(Path(tmp) / "gcp-token", ctx.issuer, namespace="shop", service_account="checkout")
        projected.rotate(audience=DEFAULT_PROVIDER.audience, lifetime=3600)
        with GoogleFake(ctx.issuer, projected.path) as fake:
            fake.bind(SERVICE_ACCOUNT, DEFAULT_PROVIDER.principal("system:serviceaccount:shop:checkout"))
            _exchanges(fake, projected.path)
            _google_auth_loads_cred_config(fake, projected.path, tmp)
