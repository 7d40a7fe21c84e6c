"""The Entra ID exchange, sans-IO: the client-credentials grant with the pod token as a federated assertion.

``build_request`` and ``parse_response`` are pure; :func:`token_flow` chains them into a flow that
:mod:`cfke_auth._flow` drives with threads or asyncio, so both worlds share every line of protocol code.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

from .._engine import Issued
from .._errors import ConfigurationError
from .._flow import Flow, send, subject_token
from .._protocol import Context, json_object, lifetime, malformed, number
from .errors import PROVIDER, error_from_response
from .settings import EntraSettings

__all__ = [
    "ASSERTION_TYPE",
    "CAE_CLAIMS",
    "EntraRequest",
    "EntraToken",
    "build_request",
    "merge_claims",
    "parse_response",
    "token_flow",
]

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: What a client capable of continuous access evaluation declares (merged into any claims challenge).
CAE_CLAIMS: dict[str, Any] = {"access_token": {"xms_cc": {"values": ["CP1"]}}}
_HINT = "the authority host may not be Entra ID: check authority_host / AZURE_AUTHORITY_HOST"


class EntraToken:
    """An Entra ID access token with its expiry and Entra's refresh advice (epoch seconds). The repr hides it, and
    it does not pickle."""

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

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("an EntraToken holds an access token and is not pickled")


@dataclass(frozen=True)
class EntraRequest:
    """One token request: the credential's settings, the tenant, the scope set, and the ``claims`` form field."""

    settings: EntraSettings
    tenant_id: str
    scopes: tuple[str, ...]
    claims: str | None = None

    @property
    def url(self) -> str:
        return f"{self.settings.authority}/{self.tenant_id}/oauth2/v2.0/token"


def merge_claims(claims: str | None, enable_cae: bool) -> str | None:
    """The ``claims`` form field: a challenge's claims, with the CAE capability added when ``enable_cae``."""
    if not enable_cae:
        return claims or None
    try:
        merged: Any = json.loads(claims) if claims else {}
    except (ValueError, RecursionError):
        merged = None
    if not isinstance(merged, dict) or not isinstance(merged.setdefault("access_token", {}), dict):
        raise ConfigurationError("claims must be a JSON object (as a claims challenge carries it)")
    merged["access_token"].update(CAE_CLAIMS["access_token"])
    return json.dumps(merged, separators=(",", ":"))


def build_request(request: EntraRequest, assertion: str) -> httpx.Request:
    """``POST {authority}/{tenant}/oauth2/v2.0/token`` with the federated assertion."""
    form = {
        "grant_type": "client_credentials",
        "client_id": request.settings.client_id,
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
        "scope": " ".join(request.scopes),
    }
    if request.claims:
        form["claims"] = request.claims
    return httpx.Request("POST", request.url, data=form, headers={"Accept": "application/json"})


def _seconds_from_now(body: dict[str, Any], name: str, now: float, *, absolute: bool = False) -> int | None:
    """When ``name`` says (seconds from now, or an epoch instant with ``absolute``), as epoch seconds; None when
    absent. Entra sends numbers or numeric strings; anything else, or a time outside the coming year, is malformed."""
    if body.get(name) is None:
        return None
    value = number(body[name], strings=True)
    seconds = lifetime(value - now if absolute and value is not None else value)
    if seconds is None:
        raise malformed(PROVIDER, f"{name!r} is not a sensible number of seconds", hint=_HINT)
    return int(now + seconds)


def parse_response(response: httpx.Response, context: Context[EntraRequest], *, now: float) -> Issued[EntraToken]:
    """The access token from a 200 answer, or the typed error for any other; ``now`` anchors ``expires_in``."""
    if response.status_code != 200:
        raise error_from_response(response, context, now=now)
    body = json_object(response)
    if body is None:
        raise malformed(PROVIDER, "the body is not a JSON object", hint=_HINT)
    if not isinstance(body.get("access_token"), str) or not body["access_token"]:
        raise malformed(PROVIDER, "there is no access_token in it", hint=_HINT)
    expires_on = _seconds_from_now(body, "expires_in", now) or _seconds_from_now(body, "expires_on", now, absolute=True)
    if expires_on is None:
        raise malformed(PROVIDER, "it says neither expires_in nor expires_on", hint=_HINT)
    advice = lifetime(body.get("refresh_in"), strings=True)  # only advice: a nonsensical one is ignored, not fatal
    refresh_on = int(now + advice) if advice is not None else None
    token = EntraToken(body["access_token"], expires_on, refresh_on, str(body.get("token_type") or "Bearer"))
    return Issued(token, float(expires_on), None if refresh_on is None else float(refresh_on))


def token_flow(request: EntraRequest) -> Flow[EntraToken]:
    """One exchange of the pod's current token for an access token to ``request.scopes``."""
    assertion = yield from subject_token()
    response = yield from send(build_request(request, assertion))
    return parse_response(response, Context.of(request, request.url, assertion), now=time.time())
