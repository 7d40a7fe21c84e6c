"""The Google exchange, sans-IO: STS token exchange, then optionally IAM Credentials ``generateAccessToken``.

Direct resource access stops after STS: its federated access token is what Google APIs take. With a service account
to impersonate, the STS token is requested with the IAM scope only, and the caller's scopes go to IAM Credentials,
which mints the service account's token. Both steps are pure ``build_*``/``parse_*`` functions chained by
:func:`exchange_flow`, which the shared drivers run with threads or asyncio.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import quote

import httpx

from .._engine import Issued
from .._flow import Flow, send, subject_token
from .._protocol import Context, json_object, lifetime, malformed, timestamp
from ..rfc8693.protocol import ExchangeRequest
from ..rfc8693.protocol import build_request as build_exchange_request
from .errors import IAM, STS, iam_error, sts_error
from .settings import IAM_SCOPE, GcpSettings

__all__ = [
    "IMPERSONATION_LIFETIME",
    "GoogleToken",
    "build_iam_request",
    "build_sts_request",
    "exchange_flow",
    "generate_access_token_url",
    "parse_iam_response",
    "parse_sts_response",
]

#: What generateAccessToken is asked for: Google's default and maximum without an org policy exception.
IMPERSONATION_LIFETIME = "3600s"


class GoogleToken:
    """An issued Google access token, with what the google-auth adapter needs precomputed. Not picklable."""

    __slots__ = ("expiry", "header", "token")

    def __init__(self, token: str, expires_at: float) -> None:
        self.token = token
        self.header = f"Bearer {token}"
        self.expiry = datetime.fromtimestamp(expires_at, timezone.utc).replace(tzinfo=None)  # google-auth: naive UTC

    def __repr__(self) -> str:  # never the token
        return f"GoogleToken(expiry={self.expiry.isoformat()}Z)"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a GoogleToken holds an access token and is not pickled")


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


def generate_access_token_url(iam_url: str, service_account: str) -> str:
    """IAM Credentials' ``generateAccessToken`` URL for ``service_account`` under the base URL ``iam_url``."""
    return f"{iam_url}/v1/projects/-/serviceAccounts/{quote(service_account, safe='@')}:generateAccessToken"


def build_iam_request(settings: GcpSettings, sts_token: str) -> httpx.Request:
    """``generateAccessToken`` for the service account, authorized by the federated STS token."""
    assert settings.service_account is not None
    url = generate_access_token_url(settings.iam_url, settings.service_account)
    body = {"scope": list(settings.scopes), "lifetime": IMPERSONATION_LIFETIME}
    return httpx.Request("POST", url, json=body, headers={"Authorization": f"Bearer {sts_token}"})


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
    """``expireTime`` is on Google's clock: carry its distance from the response's ``Date`` over to this machine's
    clock, so a node whose clock is off neither serves an expired token nor refuses a fresh one."""
    try:
        sent = parsedate_to_datetime(response.headers["date"]).timestamp()
    except (KeyError, TypeError, ValueError, IndexError, OverflowError):
        return expires_at
    return now + (expires_at - sent)


def exchange_flow(settings: GcpSettings) -> Flow[GoogleToken]:
    """The whole exchange as one flow: STS, then IAM Credentials when a service account is impersonated."""
    token = yield from subject_token()
    request = build_sts_request(settings, token)
    response = yield from send(request)
    federated = parse_sts_response(response, Context.of(settings, str(request.url), token), now=time.time())
    if settings.service_account is None:
        return federated
    request = build_iam_request(settings, federated.value.token)
    response = yield from send(request)
    context = Context.of(settings, str(request.url), token, federated.value.token)
    return parse_iam_response(response, context, now=time.time())
