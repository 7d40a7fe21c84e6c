"""Generic OAuth 2.0 Token Exchange (RFC 8693): the pod's token in, an access token for any OIDC-trusting service out.

For services that are not AWS, Google Cloud or Azure but run an RFC 8693 token endpoint (Keycloak, Dex, Zitadel,
Vault's OIDC provider, an in-house STS). The exchange is sans-IO like every other; :class:`TokenExchangeAuth` plugs
the refreshing access token into :mod:`httpx` as an ``Authorization: Bearer`` header.
"""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncGenerator, Generator
from dataclasses import dataclass
from urllib.parse import quote_plus

import httpx

from .engine import Issued, RefreshingCredential
from .errors import ExchangeError
from .flow import Flow, refreshing, send, subject_token
from .http import check_endpoint
from .registry import shared
from .source import TokenSource, resolve_token_path

__all__ = [
    "ACCESS_TOKEN_TYPE",
    "JWT_TOKEN_TYPE",
    "TOKEN_EXCHANGE_GRANT",
    "AccessToken",
    "TokenExchange",
    "TokenExchangeAuth",
    "build_request",
    "get_token_exchange_auth",
    "parse_response",
    "positive_seconds",
]

TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
PROVIDER = "token-exchange"
#: RFC 8693 only recommends ``expires_in``; without it the token is assumed to live this long.
DEFAULT_LIFETIME = 300.0

_HINTS = {
    "invalid_grant": "the endpoint rejected the pod token: check that it trusts the cluster issuer and accepts the "
    "token's audience (see 'cfke-auth token')",
    "invalid_target": "the endpoint does not serve the requested audience or resource",
    "invalid_scope": "a requested scope is unknown or not granted to this client",
    "invalid_client": "client authentication failed: check client_id / client_secret",
    "unauthorized_client": "this client may not use the token-exchange grant",
    "unsupported_grant_type": "the endpoint does not implement RFC 8693 token exchange",
    "invalid_request": "the endpoint refused the request's shape: check audience, resource and token types",
}


class AccessToken:
    """An issued access token; its repr never shows the token."""

    __slots__ = ("expires_at", "issued_token_type", "token")

    def __init__(self, token: str, expires_at: float, issued_token_type: str) -> None:
        self.token = token
        self.expires_at = expires_at
        self.issued_token_type = issued_token_type

    def __repr__(self) -> str:
        return f"AccessToken(issued_token_type={self.issued_token_type!r}, expires_at={self.expires_at!r})"


@dataclass(frozen=True)
class TokenExchange:
    """What the token endpoint is asked for, besides the subject token. Hashable: it keys the shared credential."""

    token_url: str
    audience: str | None = None
    scopes: tuple[str, ...] = ()
    resource: str | None = None
    requested_token_type: str = ACCESS_TOKEN_TYPE
    subject_token_type: str = JWT_TOKEN_TYPE
    client_id: str | None = None
    client_secret: str | None = None

    def __repr__(self) -> str:  # the dataclass default would print the client secret
        return f"TokenExchange(token_url={self.token_url!r}, audience={self.audience!r}, client_id={self.client_id!r})"


def _basic_auth(client_id: str, secret: str) -> str:
    """HTTP Basic client credentials, each part form-urlencoded first as RFC 6749 2.3.1 requires."""
    pair = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return f"Basic {base64.b64encode(pair).decode()}"


def build_request(exchange: TokenExchange, token: str) -> httpx.Request:
    """The RFC 8693 form POST; the client authenticates with HTTP Basic when it has a secret (RFC 6749 2.3.1)."""
    form = {
        "grant_type": TOKEN_EXCHANGE_GRANT,
        "subject_token": token,
        "subject_token_type": exchange.subject_token_type,
        "requested_token_type": exchange.requested_token_type,
    }
    optional = {"audience": exchange.audience, "resource": exchange.resource, "scope": " ".join(exchange.scopes)}
    form.update({key: value for key, value in optional.items() if value})
    headers = {"Accept": "application/json"}
    if exchange.client_id and exchange.client_secret:
        headers["Authorization"] = _basic_auth(exchange.client_id, exchange.client_secret)
    elif exchange.client_id:
        form["client_id"] = exchange.client_id
    return httpx.Request("POST", exchange.token_url, data=form, headers=headers)


def positive_seconds(value: object) -> float | None:
    """``expires_in`` as a float when it is a positive number (not a bool, not a string), else None."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


def _body(response: httpx.Response) -> dict[str, object] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def parse_response(response: httpx.Response, *, now: float | None = None) -> Issued[AccessToken]:
    """The access token from a successful response, or the :class:`ExchangeError` its error body describes."""
    body = _body(response)
    if body is None:
        raise ExchangeError(
            f"HTTP {response.status_code} with a {response.headers.get('content-type', 'missing')!r} body, "
            "not an OAuth JSON response",
            provider=PROVIDER,
            code=f"http-{response.status_code}",
            status=response.status_code,
            retryable=response.status_code == 429 or response.status_code >= 500,
        )
    if response.status_code != 200:
        code = str(body.get("error") or f"http-{response.status_code}")
        description = str(body.get("error_description") or "no description")
        raise ExchangeError(
            description[:300],
            provider=PROVIDER,
            code=code,
            status=response.status_code,
            retryable=response.status_code == 429 or response.status_code >= 500,
            hint=_HINTS.get(code),
            stale_token=code == "invalid_grant" and "expired" in description.lower(),
        )
    token, lifetime = body.get("access_token"), positive_seconds(body.get("expires_in", DEFAULT_LIFETIME))
    if not isinstance(token, str) or not token or lifetime is None:
        raise ExchangeError(
            "the success response lacks a string 'access_token' or a positive 'expires_in'",
            provider=PROVIDER,
            code="malformed-response",
            status=response.status_code,
        )
    issued_at = time.time() if now is None else now
    issued_type = str(body.get("issued_token_type") or ACCESS_TOKEN_TYPE)
    return Issued(AccessToken(token, issued_at + lifetime, issued_type), issued_at + lifetime)


def _flow(exchange: TokenExchange) -> Flow[AccessToken]:
    token = yield from subject_token()
    response = yield from send(build_request(exchange, token))
    return parse_response(response)


class TokenExchangeAuth(httpx.Auth):
    """An :class:`httpx.Auth` that sends the exchanged token as ``Authorization: Bearer``, for sync and async
    clients alike. A 401 from the service drops the token and the request is retried once with a fresh one."""

    def __init__(self, credential: RefreshingCredential[AccessToken]) -> None:
        self.credential = credential

    def __repr__(self) -> str:
        return f"TokenExchangeAuth({self.credential!r})"

    def token(self) -> str:
        """The current access token (exchanging first when needed)."""
        return self.credential.get().token

    async def atoken(self) -> str:
        """The current access token, for asyncio."""
        return (await self.credential.aget()).token

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        sent = self.credential.get()
        request.headers["Authorization"] = f"Bearer {sent.token}"
        response = yield request
        if response.status_code == 401:
            self.credential.invalidate(sent)
            request.headers["Authorization"] = f"Bearer {self.token()}"
            yield request

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        sent = await self.credential.aget()
        request.headers["Authorization"] = f"Bearer {sent.token}"
        response = yield request
        if response.status_code == 401:
            self.credential.invalidate(sent)
            request.headers["Authorization"] = f"Bearer {await self.atoken()}"
            yield request


def get_token_exchange_auth(
    token_url: str,
    *,
    audience: str | None = None,
    scopes: str | tuple[str, ...] | list[str] = (),
    resource: str | None = None,
    requested_token_type: str = ACCESS_TOKEN_TYPE,
    client_id: str | None = None,
    client_secret: str | None = None,
    token_path: str | None = None,
) -> TokenExchangeAuth:
    """An ``httpx.Auth`` for a service behind an RFC 8693 token endpoint at ``token_url``.

    The same parameters in one process share one refreshing token. ``token_url`` must be https (http only to
    loopback).
    """
    exchange = TokenExchange(
        check_endpoint(token_url, what="token_url"),
        audience,
        (scopes,) if isinstance(scopes, str) else tuple(scopes),
        resource,
        requested_token_type,
        JWT_TOKEN_TYPE,
        client_id,
        client_secret,
    )
    source = TokenSource(resolve_token_path(token_path))

    def make() -> TokenExchangeAuth:
        credential = refreshing(lambda: _flow(exchange), source, provider=PROVIDER, name=f"{PROVIDER} {token_url}")
        return TokenExchangeAuth(credential)

    return shared(("rfc8693", exchange, source.path), make)
