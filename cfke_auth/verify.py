"""Checking a token's signature against the cluster issuer's published keys.

The clouds do this on every exchange; doing it locally answers "would a cloud accept this token?" without asking
one: is the issuer's discovery document reachable, does it name the same issuer, is the token signed by one of its
keys, and does the audience match. It is an explicit, networked call, never part of reading the token.
"""

from __future__ import annotations

from typing import Any

import httpx
import jwt

from .claims import TokenClaims, decode_claims
from .errors import ExchangeError, TokenVerificationError
from .http import check_endpoint, sync_client

__all__ = ["verify_token"]

_ALGORITHMS = ["RS256", "ES256"]  # what Kubernetes signs service-account tokens with


def _get_json(url: str, what: str) -> dict[str, Any]:
    try:
        response = sync_client().get(url)
    except httpx.TransportError as exc:
        raise ExchangeError(
            f"GET {url} failed: {type(exc).__name__}", provider="oidc-issuer", code="connection", retryable=True
        ) from None
    if response.status_code != 200:
        raise ExchangeError(
            f"GET {url} answered HTTP {response.status_code}: the {what} is not published there",
            provider="oidc-issuer",
            code=f"http-{response.status_code}",
            status=response.status_code,
            retryable=response.status_code >= 500,
        )
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ExchangeError(f"GET {url}: the {what} is not a JSON object", provider="oidc-issuer", code="malformed")
    return body


def verify_token(token: str, *, audience: str | None = None, path: str = "<token>") -> TokenClaims:
    """Verify ``token`` against its issuer's OIDC discovery document and JWKS; return its claims.

    ``audience``, when given, must be one of the token's audiences. Raises :class:`TokenVerificationError` when the
    token does not check out and :class:`ExchangeError` when the issuer cannot be asked.
    """
    claims = decode_claims(token, path)
    issuer = check_endpoint(claims.issuer, what="token issuer")
    discovery = _get_json(f"{issuer}/.well-known/openid-configuration", "OIDC discovery document")
    if discovery.get("issuer") != claims.issuer:
        raise TokenVerificationError(
            f"token {path}: the issuer's discovery document names issuer {discovery.get('issuer')!r}, "
            f"not {claims.issuer!r}",
            path=path,
        )
    jwks_uri = check_endpoint(str(discovery.get("jwks_uri", "")), what="jwks_uri")
    keys = _get_json(jwks_uri, "JSON Web Key Set").get("keys") or []
    kid = jwt.get_unverified_header(token).get("kid")
    matching = [k for k in keys if isinstance(k, dict) and k.get("kid") == kid]
    if not matching:
        raise TokenVerificationError(
            f"token {path}: signed with key id {kid!r}, which {jwks_uri} does not publish "
            "(the token comes from another cluster, or the issuer rotated its keys)",
            path=path,
        )
    try:
        jwt.decode(
            token,
            jwt.PyJWK(matching[0]).key,
            algorithms=_ALGORITHMS,
            audience=audience,
            issuer=claims.issuer,
            options={"verify_aud": audience is not None, "verify_exp": True},
        )
    except jwt.InvalidTokenError as exc:
        raise TokenVerificationError(f"token {path}: {type(exc).__name__}: {exc}", path=path) from None
    return claims
