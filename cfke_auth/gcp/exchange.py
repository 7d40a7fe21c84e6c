"""The Google exchange, sans-IO: STS token exchange, then optionally IAM Credentials ``generateAccessToken``.

Direct resource access stops after STS: its federated access token is what Google APIs take. With a service account
to impersonate, the STS token is requested with the IAM scope only, and the caller's scopes go to IAM Credentials,
which mints the service account's token. Both steps are pure ``build_*``/``parse_*`` functions chained by
:func:`exchange_flow`, which the shared drivers run with threads or asyncio.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import quote

import httpx

from ..engine import Issued
from ..errors import ExchangeError
from ..flow import Flow, send, subject_token
from ..rfc8693 import TokenExchange, build_request, positive_seconds
from .errors import IAM, STS, iam_error, sts_error
from .names import WorkloadProvider

__all__ = [
    "CLOUD_PLATFORM_SCOPE",
    "DEFAULT_IAM_URL",
    "DEFAULT_STS_URL",
    "IAM_SCOPE",
    "AccessToken",
    "GcpExchange",
    "build_iam_request",
    "build_sts_request",
    "exchange_flow",
    "generate_access_token_url",
    "parse_iam_response",
    "parse_sts_response",
]

DEFAULT_STS_URL = "https://sts.googleapis.com"
DEFAULT_IAM_URL = "https://iamcredentials.googleapis.com"
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
IAM_SCOPE = "https://www.googleapis.com/auth/iam"
#: What generateAccessToken is asked for: Google's default and maximum without an org policy exception.
IMPERSONATION_LIFETIME = "3600s"


@dataclass(frozen=True)
class GcpExchange:
    """Everything one exchange needs besides the token: hashable, so it keys the shared credential."""

    provider: WorkloadProvider
    scopes: tuple[str, ...]
    service_account: str | None = None
    sts_url: str = DEFAULT_STS_URL
    iam_url: str = DEFAULT_IAM_URL


class AccessToken:
    """An issued Google access token, with what the google-auth adapter needs precomputed."""

    __slots__ = ("expiry", "header", "token")

    def __init__(self, token: str, expires_at: float) -> None:
        self.token = token
        self.header = f"Bearer {token}"
        self.expiry = datetime.fromtimestamp(expires_at, timezone.utc).replace(tzinfo=None)  # google-auth: naive UTC

    def __repr__(self) -> str:  # never the token
        return f"AccessToken(expiry={self.expiry.isoformat()}Z)"


def build_sts_request(exchange: GcpExchange, token: str) -> httpx.Request:
    """The STS token-exchange form POST for the pod's ``token``: plain RFC 8693, with the provider as audience."""
    scopes = (IAM_SCOPE,) if exchange.service_account else exchange.scopes
    request = TokenExchange(f"{exchange.sts_url}/v1/token", audience=exchange.provider.audience, scopes=scopes)
    return build_request(request, token)


def _malformed(provider: str, what: str) -> ExchangeError:
    return ExchangeError(f"unexpected answer: {what}", provider=provider, code="malformed-response", retryable=True)


def parse_sts_response(response: httpx.Response, exchange: GcpExchange, token: str) -> Issued[AccessToken]:
    """The federated access token from an STS answer, or the :class:`ExchangeError` it amounts to."""
    if response.status_code != 200:
        raise sts_error(response, exchange.provider, token)
    try:
        body = response.json()
        access_token, expires_in = body["access_token"], positive_seconds(body["expires_in"])
    except (ValueError, KeyError, TypeError):
        raise _malformed(STS, "no access_token and expires_in in the JSON body") from None
    if not isinstance(access_token, str) or not access_token or expires_in is None:
        raise _malformed(STS, "access_token or expires_in of the wrong type")
    expires_at = time.time() + expires_in  # parsed right after receiving: now is when it was issued
    return Issued(AccessToken(access_token, expires_at), expires_at)


def generate_access_token_url(iam_url: str, service_account: str) -> str:
    """IAM Credentials' ``generateAccessToken`` URL for ``service_account`` under the base URL ``iam_url``."""
    return f"{iam_url}/v1/projects/-/serviceAccounts/{quote(service_account, safe='@')}:generateAccessToken"


def build_iam_request(exchange: GcpExchange, sts_token: str) -> httpx.Request:
    """``generateAccessToken`` for the service account, authorized by the federated STS token."""
    assert exchange.service_account is not None
    url = generate_access_token_url(exchange.iam_url, exchange.service_account)
    body = {"scope": list(exchange.scopes), "lifetime": IMPERSONATION_LIFETIME}
    return httpx.Request("POST", url, json=body, headers={"Authorization": f"Bearer {sts_token}"})


_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z")


def _rfc3339(value: object) -> float | None:
    """Epoch seconds of Google's ``expireTime`` (``2026-01-02T03:04:05.123456789Z``), or None if malformed."""
    found = _RFC3339.fullmatch(value) if isinstance(value, str) else None
    if found is None:
        return None
    whole = datetime.fromisoformat(found.group(1)).replace(tzinfo=timezone.utc).timestamp()
    return whole + float(f"0.{found.group(2) or 0}")


def parse_iam_response(response: httpx.Response, exchange: GcpExchange, token: str) -> Issued[AccessToken]:
    """The service account's access token from a ``generateAccessToken`` answer, or the error it amounts to."""
    assert exchange.service_account is not None
    if response.status_code != 200:
        raise iam_error(response, exchange.provider, exchange.service_account, token)
    try:
        body = response.json()
        access_token, expires_at = body.get("accessToken"), _rfc3339(body.get("expireTime"))
    except (ValueError, AttributeError):
        raise _malformed(IAM, "the body is not a JSON object") from None
    if not isinstance(access_token, str) or not access_token or expires_at is None:
        raise _malformed(IAM, "no accessToken and RFC 3339 expireTime")
    expires_at = _on_local_clock(expires_at, response)
    return Issued(AccessToken(access_token, expires_at), expires_at)


def _on_local_clock(expires_at: float, response: httpx.Response) -> float:
    """``expireTime`` is on Google's clock: carry its distance from the response's ``Date`` over to this machine's
    clock, so a node whose clock is off neither serves an expired token nor refuses a fresh one."""
    try:
        sent = parsedate_to_datetime(response.headers["date"]).timestamp()
    except (KeyError, TypeError, ValueError, IndexError):
        return expires_at
    return time.time() + (expires_at - sent)


def exchange_flow(exchange: GcpExchange) -> Flow[AccessToken]:
    """The whole exchange as one flow: STS, then IAM Credentials when a service account is impersonated."""
    token = yield from subject_token()
    response = yield from send(build_sts_request(exchange, token))
    federated = parse_sts_response(response, exchange, token)
    if exchange.service_account is None:
        return federated
    response = yield from send(build_iam_request(exchange, federated.value.token))
    return parse_iam_response(response, exchange, token)
