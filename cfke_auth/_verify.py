"""Checking a token's signature against the cluster issuer's published keys.

The clouds do this on every exchange; doing it locally answers "would a cloud accept this token?" without asking
one: is the issuer's discovery document reachable, does it name the same issuer, is the token signed by one of its
keys, and does the audience match. It is an explicit, networked call, never part of reading the token.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import jwt

from ._claims import TokenClaims, decode_claims
from ._errors import ExchangeError, TokenError
from ._http import Http, HttpOptions, check_endpoint
from ._protocol import json_object, transient
from ._transport import deadline

__all__ = ["verify_token"]

_ALGORITHMS = ["RS256", "ES256"]  # what Kubernetes signs service-account tokens with


PROVIDER = "oidc-issuer"


def _get_json(http: Http, url: str, what: str, until: float) -> dict[str, Any]:
    response = http.send(
        httpx.Request("GET", url, headers={"Accept": "application/json"}), provider=PROVIDER, until=until
    )
    if response.status_code != 200:
        raise ExchangeError(
            f"GET {url} answered HTTP {response.status_code}: the {what} is not published there",
            provider=PROVIDER,
            code=f"http-{response.status_code}",
            status=response.status_code,
            retryable=transient(response.status_code),
        )
    body = json_object(response)
    if body is None:
        raise ExchangeError(f"GET {url}: the {what} is not a JSON object", provider=PROVIDER, code="malformed")
    return body


def _unverified(message: str, path: str) -> TokenError:
    return TokenError(message, path=path, reason="unverified")


def verify_token(
    token: str, *, audience: str | None = None, path: str = "<token>", http: HttpOptions | None = None
) -> TokenClaims:
    """Verify ``token`` against its issuer's OIDC discovery document and JWKS; return its claims.

    ``audience``, when given, must be one of the token's audiences. Raises :class:`~cfke_auth.TokenError` (reason
    ``"unverified"``) when the token does not check out and :class:`~cfke_auth.ExchangeError` when the issuer
    cannot be asked. ``http`` as for every exchange (proxies, CAs, deadline).
    """
    claims = decode_claims(token, path)
    issuer = check_endpoint(claims.issuer, what="token issuer")
    client = Http(http)
    until = time.monotonic() + client.options.deadline
    with deadline(until):
        discovery = _get_json(client, f"{issuer}/.well-known/openid-configuration", "OIDC discovery document", until)
        if discovery.get("issuer") != claims.issuer:
            raise _unverified(
                f"token {path}: the issuer's discovery document names issuer {discovery.get('issuer')!r}, "
                f"not {claims.issuer!r}",
                path,
            )
        jwks_uri = check_endpoint(str(discovery.get("jwks_uri", "")), what="jwks_uri")
        keys = _get_json(client, jwks_uri, "JSON Web Key Set", until).get("keys") or []
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.DecodeError:
        raise _unverified(f"token {path}: its JWT header cannot be decoded", path) from None
    matching = [k for k in keys if isinstance(k, dict) and k.get("kid") == kid]
    if not matching:
        raise _unverified(
            f"token {path}: signed with key id {kid!r}, which {jwks_uri} does not publish "
            "(the token comes from another cluster, or the issuer rotated its keys)",
            path,
        )
    try:
        key = jwt.PyJWK(matching[0]).key
    except jwt.PyJWKError as exc:
        raise ExchangeError(
            f"{jwks_uri} publishes key {kid!r} in a form that cannot be used: {exc}",
            provider=PROVIDER,
            code="malformed",
        ) from None
    try:
        jwt.decode(
            token,
            key,
            algorithms=_ALGORITHMS,
            audience=audience,
            issuer=claims.issuer,
            options={"verify_aud": audience is not None, "verify_exp": True},
        )
    except jwt.InvalidTokenError as exc:
        failure = _unverified(f"token {path}: {type(exc).__name__}: {exc}{_audience_note(exc, claims, audience)}", path)
    else:
        return claims
    raise failure


def _audience_note(exc: jwt.InvalidTokenError, claims: TokenClaims, audience: str | None) -> str:
    """For an audience mismatch, the audience wanted and those the token has."""
    if isinstance(exc, jwt.InvalidAudienceError):
        return f" (expected {audience!r}; the token's audiences are {list(claims.audiences)})"
    return ""
