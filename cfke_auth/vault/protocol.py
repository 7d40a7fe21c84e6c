"""The JWT login and ``renew-self``, sans-IO: the requests, the answers, and the flow that picks one of them.

Both answers carry the same ``auth`` object (``client_token``, ``lease_duration``, ``renewable``, ...); the top-level
``lease_duration``/``renewable`` describe a secret and are ignored. A token is renewed while it is renewable and each
renewal still grants its full TTL; once Vault caps a renewal at the role's ``token_max_ttl`` (it grants less than
asked, and never fails while the token lives) the next refresh logs in afresh, before the token dies. The flow
decides from the token it issued last, which its :class:`VaultSession` remembers: the engine schedules, the flow
chooses, and there is no second refresh loop.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from .._engine import Issued
from .._flow import Flow, send, subject_token
from .._protocol import Context, json_object, lifetime, malformed, transient
from .errors import PROVIDER, error_from_response
from .settings import VaultSettings

__all__ = [
    "VaultSession",
    "VaultToken",
    "build_login_request",
    "build_renew_request",
    "parse_login",
    "parse_renewal",
    "vault_flow",
]


class VaultToken:
    """A Vault token and what Vault said of it. ``lease_duration`` is what the last login or renewal granted,
    ``ttl`` what a renewal grants at most (the login's grant). Its repr never shows the token; it does not pickle."""

    __slots__ = ("accessor", "expires_at", "lease_duration", "policies", "renewable", "token", "token_type", "ttl")

    def __init__(
        self,
        token: str,
        *,
        expires_at: float,
        lease_duration: float,
        ttl: float,
        renewable: bool,
        token_type: str,
        accessor: str = "",
        policies: tuple[str, ...] = (),
    ) -> None:
        self.token = token
        self.expires_at = expires_at
        self.lease_duration = lease_duration
        self.ttl = ttl
        self.renewable = renewable
        self.accessor = accessor
        self.policies = policies
        self.token_type = token_type

    def __repr__(self) -> str:
        return (
            f"VaultToken(accessor={self.accessor!r}, policies={self.policies!r}, lease_duration="
            f"{self.lease_duration:.0f}, renewable={self.renewable!r})"
        )

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a VaultToken holds a Vault token and is not pickled")

    def can_renew(self, now: float) -> bool:
        """Whether ``renew-self`` would extend this token by its full TTL: renewable, alive, and not yet capped
        by the role's maximum TTL (a capped renewal means the next one cannot help)."""
        return self.renewable and self.lease_duration >= self.ttl and now < self.expires_at


class VaultSession:
    """What the flow remembers between refreshes of one credential: the token it issued last (None before the
    first login). Only the one exchange in flight reads or writes it."""

    __slots__ = ("token",)

    def __init__(self) -> None:
        self.token: VaultToken | None = None

    def __repr__(self) -> str:
        return f"VaultSession({self.token!r})"


def _headers(settings: VaultSettings, token: str | None = None) -> dict[str, str]:
    headers = {"Accept": "application/json", "X-Vault-Request": "true"}  # X-Vault-Request: Vault's SSRF guard
    if token is not None:
        headers["X-Vault-Token"] = token
    if settings.namespace:
        headers["X-Vault-Namespace"] = settings.namespace
    return headers


def build_login_request(settings: VaultSettings, jwt: str) -> httpx.Request:
    """``POST /v1/auth/<mount>/login`` with the role and the pod's token."""
    body = {"role": settings.role, "jwt": jwt}
    return httpx.Request("POST", settings.login_url, json=body, headers=_headers(settings))


def build_renew_request(settings: VaultSettings, token: str) -> httpx.Request:
    """``POST /v1/auth/token/renew-self`` for ``token``, asking for no particular increment (the token's TTL)."""
    return httpx.Request("POST", settings.renew_url, json={}, headers=_headers(settings, token))


def _issued(body: dict[str, Any] | None, *, now: float, ttl: float | None = None) -> Issued[VaultToken]:
    """The token in a login or renewal answer's ``auth``; ``ttl`` carries the login's grant across renewals."""
    auth = body.get("auth") if body is not None else None
    if not isinstance(auth, dict):
        raise malformed(PROVIDER, "the answer has no 'auth' object")
    token, seconds = auth.get("client_token"), lifetime(auth.get("lease_duration"))
    if not isinstance(token, str) or not token or seconds is None:
        raise malformed(
            PROVIDER,
            "the answer's 'auth' lacks a string 'client_token' or a positive 'lease_duration'",
            hint="a token without a TTL (a root token) is not what a JWT login issues: check the url",
        )
    policies = auth.get("policies")
    value = VaultToken(
        token,
        expires_at=now + seconds,
        lease_duration=seconds,
        ttl=seconds if ttl is None else ttl,
        renewable=auth.get("renewable") is True,
        accessor=str(auth.get("accessor") or ""),
        policies=tuple(str(p) for p in policies) if isinstance(policies, list) else (),
        token_type=str(auth.get("token_type") or "service"),
    )
    return Issued(value, value.expires_at)


def parse_login(response: httpx.Response, context: Context[VaultSettings], *, now: float) -> Issued[VaultToken]:
    """The token a successful login issued; an :class:`~cfke_auth.ExchangeError` for anything else."""
    if response.status_code != 200:
        raise error_from_response(response, context, now=now)
    return _issued(json_object(response), now=now)


def parse_renewal(
    response: httpx.Response, context: Context[VaultSettings], *, now: float, previous: VaultToken
) -> Issued[VaultToken] | None:
    """``previous`` renewed, or None when renewing cannot keep it (revoked, expired, refused, or nothing left of its
    maximum TTL: the flow logs in instead). A server failing (429, 5xx) is an error: logging in would fail the same
    way, and the engine retries while the token it holds is still valid."""
    if transient(response.status_code):
        raise error_from_response(response, context, now=now)
    body = json_object(response) if response.status_code == 200 else None
    auth = body.get("auth") if body is not None else None
    if not isinstance(auth, dict) or lifetime(auth.get("lease_duration")) is None:
        return None
    return _issued(body, now=now, ttl=previous.ttl)


def vault_flow(settings: VaultSettings, session: VaultSession) -> Flow[VaultToken]:
    """One refresh: renew the token issued last while that extends it by its full TTL, else log in with the pod's
    token."""
    held = session.token
    if held is not None and held.can_renew(time.time()):
        response = yield from send(build_renew_request(settings, held.token))
        context = Context(settings, settings.renew_url, (held.token,))
        renewed = parse_renewal(response, context, now=time.time(), previous=held)
        if renewed is not None:
            session.token = renewed.value
            return renewed
    jwt = yield from subject_token()
    response = yield from send(build_login_request(settings, jwt))
    issued = parse_login(response, Context.of(settings, settings.login_url, jwt), now=time.time())
    session.token = issued.value
    return issued
