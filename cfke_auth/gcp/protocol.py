"""The Google exchange, sans-IO: STS token exchange, then optionally an IAM Credentials call for a service account.

Direct resource access stops after STS: its federated access token is what Google APIs take. With a service account
to impersonate, the STS token is requested with the IAM scope only, and authorizes the IAM Credentials call:
``generateAccessToken`` (the caller's scopes, :func:`exchange_flow`) or ``generateIdToken`` (an OpenID Connect ID
token for one audience, :func:`id_token_flow`). Every step is a pure ``build_*``/``parse_*`` pair chained by a flow,
which the shared drivers run with threads or asyncio.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Generator
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import quote

import httpx

from .._engine import Issued
from .._flow import Flow, Reply, Step, send, subject_token
from .._protocol import Context, json_object, lifetime, malformed, number, timestamp
from ..rfc8693.protocol import ExchangeRequest
from ..rfc8693.protocol import build_request as build_exchange_request
from .errors import IAM, STS, iam_error, sts_error
from .settings import IAM_SCOPE, GcpSettings

__all__ = [
    "IMPERSONATION_LIFETIME",
    "GoogleIdToken",
    "GoogleToken",
    "build_iam_request",
    "build_id_token_request",
    "build_sts_request",
    "exchange_flow",
    "generate_access_token_url",
    "iam_url",
    "id_token_flow",
    "parse_iam_response",
    "parse_id_token_response",
    "parse_sts_response",
]

#: What generateAccessToken is asked for: Google's default and maximum without an org policy exception.
IMPERSONATION_LIFETIME = "3600s"


class _Bearer:
    """A token Google issued, with what the google-auth adapters need precomputed: the ``Authorization`` header,
    ``expiry`` as google-auth holds it (naive UTC) and ``expires_at`` (epoch seconds). Not picklable."""

    __slots__ = ("expires_at", "expiry", "header", "token")

    def __init__(self, token: str, expires_at: float) -> None:
        self.token = token
        self.header = f"Bearer {token}"
        self.expires_at = expires_at
        self.expiry = datetime.fromtimestamp(expires_at, timezone.utc).replace(tzinfo=None)  # google-auth: naive UTC

    def __repr__(self) -> str:  # never the token
        return f"{type(self).__name__}(expiry={self.expiry.isoformat()}Z)"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError(f"a {type(self).__name__} holds a bearer token and is not pickled")


class GoogleToken(_Bearer):
    """An issued Google access token (federated, or a service account's)."""

    __slots__ = ()


class GoogleIdToken(_Bearer):
    """A Google-signed OpenID Connect ID token for one audience (what Cloud Run, Cloud Functions and IAP take).

    ``expires_at`` is the token's ``exp`` carried over to this machine's clock (see :func:`parse_id_token_response`);
    the token itself still says ``exp`` on Google's clock, which is what its receiver checks.
    """

    __slots__ = ()


def build_sts_request(settings: GcpSettings, token: str) -> httpx.Request:
    """The STS token-exchange form POST for the pod's ``token``: plain RFC 8693, with the provider as audience."""
    scopes = (IAM_SCOPE,) if settings.service_account else settings.scopes
    request = ExchangeRequest(f"{settings.sts_url}/v1/token", audience=settings.provider.audience, scopes=scopes)
    return build_exchange_request(request, token)


def parse_sts_response(response: httpx.Response, context: Context[GcpSettings], *, now: float) -> Issued[GoogleToken]:
    """The federated access token from an STS answer, or the :class:`~cfke_auth.ExchangeError` it amounts to."""
    if response.status_code != 200:
        raise sts_error(response, context, now=now)
    body = json_object(response) or {}
    access_token, expires_in = body.get("access_token"), lifetime(body.get("expires_in"))
    if not isinstance(access_token, str) or not access_token or expires_in is None:
        raise malformed(STS, "no string access_token and positive expires_in in a JSON body")
    return Issued(GoogleToken(access_token, now + expires_in), now + expires_in)


def iam_url(base_url: str, service_account: str, method: str) -> str:
    """The IAM Credentials URL of ``method`` (``generateAccessToken``, ``generateIdToken``, ``signBlob``) for
    ``service_account`` under the base URL ``base_url``."""
    return f"{base_url}/v1/projects/-/serviceAccounts/{quote(service_account, safe='@')}:{method}"


def generate_access_token_url(base_url: str, service_account: str) -> str:
    """IAM Credentials' ``generateAccessToken`` URL for ``service_account`` under the base URL ``base_url``."""
    return iam_url(base_url, service_account, "generateAccessToken")


def _iam_call(settings: GcpSettings, method: str, body: dict[str, object], sts_token: str) -> httpx.Request:
    """An IAM Credentials ``method`` call for the settings' service account, authorized by ``sts_token``."""
    assert settings.service_account is not None
    url = iam_url(settings.iam_url, settings.service_account, method)
    return httpx.Request("POST", url, json=body, headers={"Authorization": f"Bearer {sts_token}"})


def build_iam_request(settings: GcpSettings, sts_token: str) -> httpx.Request:
    """``generateAccessToken`` for the service account, authorized by the federated STS token."""
    body: dict[str, object] = {"scope": list(settings.scopes), "lifetime": IMPERSONATION_LIFETIME}
    return _iam_call(settings, "generateAccessToken", body, sts_token)


def build_id_token_request(settings: GcpSettings, sts_token: str, audience: str, include_email: bool) -> httpx.Request:
    """``generateIdToken`` for the service account and ``audience``, authorized by the federated STS token;
    ``include_email`` asks for the ``email`` and ``email_verified`` claims."""
    body: dict[str, object] = {"audience": audience, "includeEmail": include_email}
    return _iam_call(settings, "generateIdToken", body, sts_token)


def parse_iam_response(response: httpx.Response, context: Context[GcpSettings], *, now: float) -> Issued[GoogleToken]:
    """The service account's access token from a ``generateAccessToken`` answer, or the error it amounts to."""
    if response.status_code != 200:
        raise iam_error(response, context, now=now)
    body = json_object(response) or {}
    access_token, expires_at = body.get("accessToken"), timestamp(body.get("expireTime"))
    if not isinstance(access_token, str) or not access_token or expires_at is None:
        raise malformed(IAM, "no accessToken and RFC 3339 expireTime in a JSON body")
    expires_at = _on_local_clock(expires_at, response, now)
    if lifetime(expires_at - now) is None:
        raise malformed(IAM, "an expireTime that is not in the coming year")
    return Issued(GoogleToken(access_token, expires_at), expires_at)


def _on_local_clock(expires_at: float, response: httpx.Response, now: float) -> float:
    """An expiry on Google's clock (``expireTime``, an ID token's ``exp``): carry its distance from the response's
    ``Date`` over to this machine's clock, so a node whose clock is off neither serves an expired token nor refuses
    a fresh one. Without a ``Date`` the instant is taken as it is."""
    try:
        sent = parsedate_to_datetime(response.headers["date"]).timestamp()
    except (KeyError, TypeError, ValueError, IndexError, OverflowError):
        return expires_at
    return now + (expires_at - sent)


def _jwt_expiry(token: str) -> float | None:
    """The ``exp`` of a JWT, decoded without verifying (its receiver verifies it), or None when there is none."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (binascii.Error, ValueError, RecursionError):
        return None
    return number(payload.get("exp")) if isinstance(payload, dict) else None


def parse_id_token_response(
    response: httpx.Response, context: Context[GcpSettings], *, now: float
) -> Issued[GoogleIdToken]:
    """The ID token from a ``generateIdToken`` answer, or the error it amounts to.

    Google states no lifetime beside the token: its expiry is the JWT's ``exp``, on Google's clock, carried over to
    this machine's clock by the answer's ``Date`` as ``expireTime`` is, so the refresh schedule holds on a node
    whose clock is off (the token still carries Google's ``exp`` for its receiver to check)."""
    if response.status_code != 200:
        raise iam_error(response, context, now=now)
    token = (json_object(response) or {}).get("token")
    expires_at = _jwt_expiry(token) if isinstance(token, str) else None
    if not isinstance(token, str) or expires_at is None:
        raise malformed(IAM, "no token that is a JWT with an exp claim in a JSON body")
    expires_at = _on_local_clock(expires_at, response, now)
    if lifetime(expires_at - now) is None:
        raise malformed(IAM, "an ID token whose exp is not in the coming year")
    return Issued(GoogleIdToken(token, expires_at), expires_at)


def _federated(settings: GcpSettings) -> Generator[Step, Reply, tuple[str, Issued[GoogleToken]]]:
    """``subject, federated = yield from _federated(settings)``: the pod's token and the STS answer for it."""
    token = yield from subject_token()
    request = build_sts_request(settings, token)
    response = yield from send(request)
    return token, parse_sts_response(response, Context.of(settings, str(request.url), token), now=time.time())


def exchange_flow(settings: GcpSettings) -> Flow[GoogleToken]:
    """The whole exchange as one flow: STS, then IAM Credentials when a service account is impersonated."""
    token, federated = yield from _federated(settings)
    if settings.service_account is None:
        return federated
    request = build_iam_request(settings, federated.value.token)
    response = yield from send(request)
    context = Context.of(settings, str(request.url), token, federated.value.token)
    return parse_iam_response(response, context, now=time.time())


def id_token_flow(settings: GcpSettings, audience: str, include_email: bool) -> Flow[GoogleIdToken]:
    """An ID token for the settings' service account and ``audience``: STS, then ``generateIdToken``."""
    token, federated = yield from _federated(settings)
    request = build_id_token_request(settings, federated.value.token, audience, include_email)
    response = yield from send(request)
    context = Context.of(settings, str(request.url), token, federated.value.token)
    return parse_id_token_response(response, context, now=time.time())
