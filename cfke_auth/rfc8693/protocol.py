"""RFC 8693 token exchange, sans-IO: the form POST, and the answer as an issued token or a typed error."""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from urllib.parse import quote_plus

import httpx

from .._engine import Issued
from .._flow import Flow, send, subject_token
from .._protocol import Context, json_object, lifetime, malformed
from .errors import PROVIDER, error_from_response

__all__ = [
    "ACCESS_TOKEN_TYPE",
    "DEFAULT_LIFETIME",
    "JWT_TOKEN_TYPE",
    "TOKEN_EXCHANGE_GRANT",
    "ExchangeRequest",
    "ExchangedToken",
    "build_request",
    "exchange_flow",
    "parse_response",
]

TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
#: RFC 8693 only recommends ``expires_in``; without it the token is assumed to live this long.
DEFAULT_LIFETIME = 300.0


@dataclass(frozen=True, repr=False)
class ExchangeRequest:
    """What the token endpoint is asked for, besides the subject token. Hashable. Its repr hides the client secret,
    and it does not pickle with one."""

    token_url: str
    audience: str | None = None
    scopes: tuple[str, ...] = ()
    resource: str | None = None
    requested_token_type: str = ACCESS_TOKEN_TYPE
    subject_token_type: str = JWT_TOKEN_TYPE
    client_id: str | None = None
    client_secret: str | None = None

    def __repr__(self) -> str:
        return (
            f"ExchangeRequest(token_url={self.token_url!r}, audience={self.audience!r}, client_id={self.client_id!r})"
        )

    def __reduce__(self) -> tuple[object, ...]:
        if self.client_secret:
            raise TypeError("an ExchangeRequest with a client secret is not pickled (the secret would be written out)")
        return (
            ExchangeRequest,
            (
                self.token_url,
                self.audience,
                self.scopes,
                self.resource,
                self.requested_token_type,
                self.subject_token_type,
                self.client_id,
            ),
        )


class ExchangedToken:
    """An access token the endpoint issued; its repr never shows the token, and it does not pickle."""

    __slots__ = ("expires_at", "issued_token_type", "token")

    def __init__(self, token: str, expires_at: float, issued_token_type: str) -> None:
        self.token = token
        self.expires_at = expires_at
        self.issued_token_type = issued_token_type

    def __repr__(self) -> str:
        return f"ExchangedToken(issued_token_type={self.issued_token_type!r}, expires_at={self.expires_at!r})"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("an ExchangedToken holds an access token and is not pickled")


def _basic_auth(client_id: str, secret: str) -> str:
    """HTTP Basic client credentials, each part form-urlencoded first as RFC 6749 2.3.1 requires."""
    pair = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return f"Basic {base64.b64encode(pair).decode()}"


def build_request(exchange: ExchangeRequest, token: str) -> httpx.Request:
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


def parse_response(
    response: httpx.Response, context: Context[ExchangeRequest], *, now: float
) -> Issued[ExchangedToken]:
    """The access token from a successful response, or the :class:`~cfke_auth.ExchangeError` the answer means."""
    if response.status_code != 200:
        raise error_from_response(response, context, now=now)
    body = json_object(response)
    if body is None:
        raise malformed(PROVIDER, "the success response is not a JSON object")
    token, seconds = body.get("access_token"), lifetime(body.get("expires_in", DEFAULT_LIFETIME))
    if not isinstance(token, str) or not token or seconds is None:
        raise malformed(PROVIDER, "the success response lacks a string 'access_token' or a positive 'expires_in'")
    issued_type = str(body.get("issued_token_type") or ACCESS_TOKEN_TYPE)
    return Issued(ExchangedToken(token, now + seconds, issued_type), now + seconds)


def exchange_flow(exchange: ExchangeRequest) -> Flow[ExchangedToken]:
    """One exchange: the subject token in, the issued token out."""
    token = yield from subject_token()
    response = yield from send(build_request(exchange, token))
    secrets = (exchange.client_secret,) if exchange.client_secret else ()
    return parse_response(response, Context.of(exchange, exchange.token_url, token, *secrets), now=time.time())
