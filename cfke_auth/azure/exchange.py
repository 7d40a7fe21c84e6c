"""The Entra ID exchange, sans-IO: the client-credentials grant with the pod token as a federated assertion.

``build_request`` and ``parse_response`` are pure; :func:`token_flow` chains them into a flow that
:mod:`cfke_auth.flow` drives with threads or asyncio, so both worlds share every line of protocol code.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import httpx

from ..claims import TokenClaims, decode_claims
from ..engine import Issued
from ..errors import ExchangeError, TokenError
from ..flow import Flow, FlowFactory, send, subject_token
from .aadsts import PROVIDER, error_from_response
from .config import EntraSettings

__all__ = ["ASSERTION_TYPE", "CAE_CLAIMS", "EntraToken", "build_request", "parse_response", "token_flow"]

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: What a client capable of continuous access evaluation declares (merged into any claims challenge).
CAE_CLAIMS: dict[str, Any] = {"access_token": {"xms_cc": {"values": ["CP1"]}}}


class EntraToken:
    """An Entra ID access token with its expiry and Entra's refresh advice (epoch seconds). The repr hides it."""

    __slots__ = ("expires_on", "refresh_on", "token", "token_type")

    def __init__(
        self,
        token: str,
        expires_on: int,
        refresh_on: int | None = None,
        token_type: str = "Bearer",  # noqa: S107 - a scheme, not a secret
    ) -> None:
        self.token = token
        self.expires_on = expires_on
        self.refresh_on = refresh_on
        self.token_type = token_type

    def __repr__(self) -> str:
        return f"EntraToken(token=<hidden>, expires_on={self.expires_on}, refresh_on={self.refresh_on})"


def merge_claims(claims: str | None, enable_cae: bool) -> str | None:
    """The ``claims`` form field: a challenge's claims, with the CAE capability added when ``enable_cae``."""
    if not enable_cae:
        return claims or None
    merged: dict[str, Any] = json.loads(claims) if claims else {}
    if not isinstance(merged, dict):
        raise ValueError("claims must be a JSON object")
    access = merged.setdefault("access_token", {})
    access.update(CAE_CLAIMS["access_token"])
    return json.dumps(merged, separators=(",", ":"))


def build_request(
    settings: EntraSettings, tenant_id: str, scopes: Sequence[str], assertion: str, claims: str | None = None
) -> httpx.Request:
    """``POST {authority}/{tenant}/oauth2/v2.0/token`` with the federated assertion."""
    form = {
        "grant_type": "client_credentials",
        "client_id": settings.client_id,
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
        "scope": " ".join(scopes),
    }
    if claims:
        form["claims"] = claims
    return httpx.Request(
        "POST",
        f"{settings.authority}/{tenant_id}/oauth2/v2.0/token",
        data=form,
        headers={"Accept": "application/json"},
    )


def _seconds(body: dict[str, Any], name: str) -> int | None:
    """A number of seconds Entra sends as a number or a numeric string; None when absent."""
    value = body.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _malformed(f"{name!r} is not a number") from None


def _malformed(what: str) -> ExchangeError:
    return ExchangeError(
        f"token endpoint answered 200 but {what}",
        provider=PROVIDER,
        code="malformed-response",
        retryable=True,
        hint="the authority host may not be Entra ID: check authority_host / AZURE_AUTHORITY_HOST",
        status=200,
    )


def parse_response(
    response: httpx.Response, *, subject: TokenClaims | None = None, now: float | None = None
) -> Issued[EntraToken]:
    """The access token from a 200 answer, or the typed error for any other; ``now`` anchors ``expires_in``."""
    if response.status_code != 200:
        raise error_from_response(response, subject)
    try:
        body = response.json()
    except ValueError:
        raise _malformed("the body is not JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("access_token"), str) or not body["access_token"]:
        raise _malformed("there is no access_token in it")
    now = time.time() if now is None else now
    expires_in, expires_on, refresh_in = (_seconds(body, n) for n in ("expires_in", "expires_on", "refresh_in"))
    if expires_in is not None:
        expires_on = int(now) + expires_in
    if expires_on is None:
        raise _malformed("it says neither expires_in nor expires_on")
    refresh_on = int(now) + refresh_in if refresh_in is not None else None
    token = EntraToken(body["access_token"], expires_on, refresh_on, str(body.get("token_type") or "Bearer"))
    return Issued(token, float(expires_on), None if refresh_on is None else float(refresh_on))


def _claims_or_none(assertion: str) -> TokenClaims | None:
    """The assertion's claims for error hints; the token source already validated it, so failure is unexpected."""
    try:
        return decode_claims(assertion)
    except TokenError:
        return None


def token_flow(
    settings: EntraSettings, tenant_id: str, scopes: tuple[str, ...], claims: str | None = None
) -> FlowFactory[EntraToken]:
    """A factory of flows, each exchanging the pod's current token for an access token to ``scopes``."""

    def flow() -> Flow[EntraToken]:
        assertion = yield from subject_token()
        response = yield from send(build_request(settings, tenant_id, scopes, assertion, claims))
        return parse_response(response, subject=_claims_or_none(assertion))

    return flow
