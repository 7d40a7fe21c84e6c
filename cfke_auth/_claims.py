"""Decoding a service-account JWT into :class:`TokenClaims`, without verifying it.

The receiving cloud verifies the signature against the cluster issuer's JWKS; the client only needs the claims to
schedule re-reads and to explain failures. Decoding uses the standard library alone, so ``import cfke_auth`` stays
cheap (see :func:`cfke_auth.verify_token` for an explicit signature check).
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime, timezone
from typing import Any, NamedTuple

from ._errors import TokenError

__all__ = ["CFKE_ISSUER_PREFIX", "TokenClaims", "decode_claims", "issuer_for_cluster", "service_account_subject"]

_CLUSTERS_PATH = "/v1/clusters/"
#: What every CFKE cluster's issuer URL starts with; the cluster id follows.
CFKE_ISSUER_PREFIX = "https://api.cloudfleet.ai/v1/clusters/"


def issuer_for_cluster(cluster_id: str) -> str:
    """The OIDC issuer URL of a CFKE cluster."""
    return f"{CFKE_ISSUER_PREFIX}{cluster_id}"


def service_account_subject(namespace: str, service_account: str) -> str:
    """The ``sub`` Kubernetes gives a service account's tokens: what trust policies and federated credentials match."""
    return f"system:serviceaccount:{namespace}:{service_account}"


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


class TokenClaims(NamedTuple):
    """The claims of a Kubernetes service-account token that cfke-auth and its users act on.

    Times are timezone-aware UTC datetimes. ``warn_after`` is present only on the default (extended) token, and is
    its real freshness limit; ``lifetime_end`` picks it over ``expires_at`` for that reason.
    """

    issuer: str
    subject: str
    audiences: tuple[str, ...]
    issued_at: datetime | None
    not_before: datetime | None
    expires_at: datetime
    warn_after: datetime | None
    namespace: str | None
    pod_name: str | None
    pod_uid: str | None
    service_account: str | None
    service_account_uid: str | None
    cluster_id: str | None

    @property
    def lifetime_end(self) -> datetime:
        """When the token stops being fresh: ``warn_after`` when the token has one, else ``expires_at``."""
        return self.warn_after or self.expires_at

    @property
    def is_extended(self) -> bool:
        """True for the kubelet's default token: valid for a year, but stale after ``warn_after``."""
        return self.warn_after is not None


def _b64_json(segment: str, what: str, path: str) -> dict[str, Any]:
    try:
        raw = base64.b64decode(segment + "=" * (-len(segment) % 4), altchars=b"-_", validate=True)
        value = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError):  # RecursionError: JSON nested deeper than it can parse
        raise TokenError(
            f"token file {path}: the JWT {what} is not base64url-encoded JSON", path=path, reason="format"
        ) from None
    if not isinstance(value, dict):
        raise TokenError(f"token file {path}: the JWT {what} is not a JSON object", path=path, reason="format")
    return value


def _time_claim(payload: dict[str, Any], name: str, path: str, *, required: bool) -> datetime | None:
    value = payload.get(name)
    if value is None:
        if required:
            raise TokenError(f"token file {path}: the JWT has no {name!r} claim", path=path, reason="claims")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TokenError(f"token file {path}: claim {name!r} is not a number of seconds", path=path, reason="claims")
    try:
        return _utc(value)
    except (OverflowError, OSError, ValueError):
        raise TokenError(f"token file {path}: claim {name!r} is out of range", path=path, reason="claims") from None


def _str_claim(payload: dict[str, Any], name: str, path: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value:
        raise TokenError(
            f"token file {path}: the JWT has no {name!r} claim (or it is not a string)", path=path, reason="claims"
        )
    return value


def _audiences(payload: dict[str, Any], path: str) -> tuple[str, ...]:
    aud = payload.get("aud", [])
    if isinstance(aud, str):
        return (aud,)
    if isinstance(aud, list) and all(isinstance(a, str) for a in aud):
        return tuple(aud)
    raise TokenError(
        f"token file {path}: claim 'aud' is neither a string nor a list of strings", path=path, reason="claims"
    )


def _nested_str(obj: Any, *keys: str) -> str | None:
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj if isinstance(obj, str) else None


def _cluster_id(issuer: str) -> str | None:
    """``CLUSTER`` from an issuer shaped like CFKE's, ``https://api.cloudfleet.ai/v1/clusters/CLUSTER``."""
    scheme, _, rest = issuer.partition("://")
    _, slash, path = rest.partition("/")
    prefix, _, cluster = f"{slash}{path}".rstrip("/").rpartition(_CLUSTERS_PATH)
    if scheme in ("http", "https") and prefix == "" and cluster and "/" not in cluster:
        return cluster
    return None


def decode_claims(token: str, path: str = "<token>") -> TokenClaims:
    """Parse ``token``'s header and payload and return its claims; ``path`` only labels error messages.

    Raises :class:`~cfke_auth.TokenError` with reason ``"format"`` when it is not a JWT and ``"claims"`` when a
    required claim is missing or malformed. The signature is not checked.
    """
    parts = token.split(".")
    if len(parts) != 3 or not all(parts[:2]):
        raise TokenError(
            f"token file {path}: content is not a JWT (expected three dot-separated parts)", path=path, reason="format"
        )
    _b64_json(parts[0], "header", path)
    payload = _b64_json(parts[1], "payload", path)
    issuer = _str_claim(payload, "iss", path)
    expires_at = _time_claim(payload, "exp", path, required=True)
    assert expires_at is not None  # required=True guarantees it
    k8s = payload.get("kubernetes.io")
    warn_after = _time_claim(k8s, "warnafter", path, required=False) if isinstance(k8s, dict) else None
    return TokenClaims(
        issuer=issuer,
        subject=_str_claim(payload, "sub", path),
        audiences=_audiences(payload, path),
        issued_at=_time_claim(payload, "iat", path, required=False),
        not_before=_time_claim(payload, "nbf", path, required=False),
        expires_at=expires_at,
        warn_after=warn_after,
        namespace=_nested_str(k8s, "namespace"),
        pod_name=_nested_str(k8s, "pod", "name"),
        pod_uid=_nested_str(k8s, "pod", "uid"),
        service_account=_nested_str(k8s, "serviceaccount", "name"),
        service_account_uid=_nested_str(k8s, "serviceaccount", "uid"),
        cluster_id=_cluster_id(issuer),
    )
