"""Vault's refusals (``{"errors": ["..."]}``, no codes) turned into :class:`~cfke_auth.ExchangeError` s that say
what to fix.

Vault answers a refused JWT login with a sentence; each known sentence becomes a stable ``code`` and a hint naming
what the role or the auth method's configuration must hold -- ``bound_subject``, ``bound_audiences``,
``bound_issuer``, the issuer's keys -- filled in with the token's own ``iss``/``aud``/``sub`` (claims, never the
token) and the command that sets it. Anything that is not Vault's JSON is reported by status and content type only:
a proxy's error page could echo the request, and the request held the token.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx

from .._claims import TokenClaims
from .._errors import ExchangeError
from .._protocol import Context, json_object, retry_after, transient
from .setup import DEFAULT_AUDIENCE, RoleSpec, Target, config_command, enable_command, jwks_url, role_command

if TYPE_CHECKING:
    from .settings import VaultSettings

__all__ = ["PROVIDER", "error_from_response"]

PROVIDER = "vault"

Hint = Callable[["VaultSettings", "TokenClaims | None"], str]


def _audiences(claims: TokenClaims | None) -> str:
    return ", ".join(claims.audiences) if claims and claims.audiences else "(none)"


def _facts(claims: TokenClaims | None) -> str:
    if claims is None:
        return "the token file does not hold a JWT"
    return f"this token: iss {claims.issuer}, aud [{_audiences(claims)}], sub {claims.subject}"


def _where(settings: VaultSettings) -> str:
    namespace = f" in namespace {settings.namespace}" if settings.namespace else ""
    return f"auth/{settings.mount}{namespace}"


def _target(settings: VaultSettings) -> Target:
    return Target(settings.mount, settings.namespace)


def _role_fix(settings: VaultSettings, claims: TokenClaims | None, policies: str = "POLICY") -> str:
    """The ``vault write`` admitting this token to the role (its subject and first audience)."""
    subject = claims.subject if claims else "system:serviceaccount:NAMESPACE:SERVICE_ACCOUNT"
    audience = claims.audiences[0] if claims and claims.audiences else DEFAULT_AUDIENCE
    return role_command(_target(settings), RoleSpec(settings.role, subject, audience, (policies,)))


def _subject(settings: VaultSettings, claims: TokenClaims | None) -> str:
    subject = claims.subject if claims else "SUBJECT"
    path = f"auth/{settings.mount}/role/{settings.role}"
    fix = _target(settings).command("write", path, "role_type=jwt", f"bound_subject={subject}")
    return (
        f"role {settings.role!r} at {_where(settings)} must have bound_subject={subject} ({_facts(claims)}); "
        f"`{fix}` sets it and keeps the role's other fields"
    )


def _audience(settings: VaultSettings, claims: TokenClaims | None) -> str:
    hint = (
        f"role {settings.role!r} at {_where(settings)} must list one of the token's audiences in bound_audiences "
        f"({_facts(claims)})"
    )
    if claims is not None and claims.is_extended:
        hint += (
            "; this is the pod's default token, whose audience is the cluster issuer: mount a projected "
            f"serviceAccountToken with audience: {DEFAULT_AUDIENCE} and pass its path as token_path"
        )
    return hint


def _issuer(settings: VaultSettings, claims: TokenClaims | None) -> str:
    issuer = claims.issuer if claims else "ISSUER"
    return (
        f"auth/{settings.mount}/config must have bound_issuer={issuer}, the token's iss ({_facts(claims)}): "
        f"`{config_command(_target(settings), issuer)}`"
    )


def _signature(settings: VaultSettings, claims: TokenClaims | None) -> str:
    issuer = claims.issuer if claims else "ISSUER"
    return (
        f"{_where(settings)} does not trust the key that signed the token: its config must name this cluster's "
        f"issuer, oidc_discovery_url={issuer} (or jwks_url={jwks_url(issuer)}); a token from another cluster, "
        f"or pasted jwt_validation_pubkeys that no longer match, fail this way ({_facts(claims)})"
    )


def _keys_unreachable(settings: VaultSettings, claims: TokenClaims | None) -> str:
    issuer = claims.issuer if claims else "the issuer"
    return (
        f"Vault could not fetch the keys of {issuer}: the Vault server must reach {issuer}/.well-known/"
        f"openid-configuration and {jwks_url(issuer)} (egress rules, proxy, or a CA in oidc_discovery_ca_pem). "
        "Retried with backoff"
    )


def _expired(settings: VaultSettings, claims: TokenClaims | None) -> str:
    fresh = f" (fresh until {claims.lifetime_end.isoformat()})" if claims else ""
    return (
        f"Vault saw the pod token as expired{fresh}; the file was re-read and the login retried once: if this "
        "persists the kubelet is not rotating the token, or a clock is off (the role's clock_skew_leeway, 60 s by "
        "default, is the tolerance)"
    )


def _not_yet_valid(settings: VaultSettings, claims: TokenClaims | None) -> str:
    return (
        "the token's nbf is ahead of Vault's clock: check the time synchronisation of the node and of the Vault "
        "server (the role's clock_skew_leeway is the tolerance). Retried with backoff"
    )


def _malformed_token(settings: VaultSettings, claims: TokenClaims | None) -> str:
    return "Vault could not parse the token as a JWT: point token_path at the pod's service-account token file"


def _role_missing(settings: VaultSettings, claims: TokenClaims | None) -> str:
    return (
        f"there is no role {settings.role!r} at {_where(settings)}: check the role name, or create it with "
        f"`{_role_fix(settings, claims)}` (`cfke-auth vault setup` prints the whole setup)"
    )


def _not_jwt_role(settings: VaultSettings, claims: TokenClaims | None) -> str:
    return (
        f"role {settings.role!r} at {_where(settings)} is an oidc role (browser logins): a pod logs in with a "
        f"role_type=jwt role: `{_role_fix(settings, claims)}`"
    )


def _user_claim(settings: VaultSettings, claims: TokenClaims | None) -> str:
    return (
        f"role {settings.role!r} names a user_claim the token does not have: service-account tokens carry sub, "
        "so set user_claim=sub"
    )


def _bound_claims(settings: VaultSettings, claims: TokenClaims | None) -> str:
    return (
        f"role {settings.role!r} has bound_claims the token does not satisfy: compare them with the token's "
        "claims (`cfke-auth token` shows them; nested ones are JSON pointers such as /kubernetes.io/namespace)"
    )


def _not_configured(settings: VaultSettings, claims: TokenClaims | None) -> str:
    issuer = claims.issuer if claims else "ISSUER"
    return (
        f"the JWT auth method at {_where(settings)} has no configuration yet: "
        f"`{config_command(_target(settings), issuer)}`"
    )


def _no_method(settings: VaultSettings, claims: TokenClaims | None) -> str:
    return (
        f"no auth method is enabled at {_where(settings)} (Vault answers 'permission denied' for a path that does "
        f"not exist): check mount= and namespace= (VAULT_NAMESPACE), or enable it with "
        f"`{enable_command(_target(settings))}`"
    )


def _namespace(settings: VaultSettings, claims: TokenClaims | None) -> str:
    return (
        f"the server has no namespace {settings.namespace!r}: check namespace= / VAULT_NAMESPACE (namespaces exist "
        "on Vault Enterprise, HCP Vault and OpenBao; leave it unset for the root namespace)"
    )


def _sealed(settings: VaultSettings, claims: TokenClaims | None) -> str:
    return "the Vault server is sealed and serves nothing until it is unsealed; retried with backoff"


#: (what Vault's sentence contains, code, hint, retryable, stale_token), first match wins: the key-fetch and
#: malformed-JWT failures are also signature failures, so they come before it.
_RULES: tuple[tuple[str, str, Hint, bool, bool], ...] = (
    ("fetching keys", "keys-unreachable", _keys_unreachable, True, False),
    ("malformed jwt", "malformed-token", _malformed_token, False, False),
    ("invalid subject (sub) claim", "invalid-subject", _subject, False, False),
    ("invalid audience (aud) claim", "invalid-audience", _audience, False, False),
    ("no audiences bound to the role", "no-bound-audiences", _audience, False, False),
    ("invalid issuer (iss) claim", "invalid-issuer", _issuer, False, False),
    ("token is expired", "token-expired", _expired, True, True),
    ("token not yet valid", "token-not-yet-valid", _not_yet_valid, True, False),
    ("error verifying token signature", "invalid-signature", _signature, False, False),
    ("could not be found", "role-not-found", _role_missing, False, False),
    ("role_type is not allowed", "not-a-jwt-role", _not_jwt_role, False, False),
    ("not found in token", "missing-claim", _user_claim, False, False),
    ("error validating claims", "bound-claims", _bound_claims, False, False),
    ("could not load configuration", "not-configured", _not_configured, False, False),
    ("namespace not found", "namespace-not-found", _namespace, False, False),
    ("vault is sealed", "sealed", _sealed, True, False),
    ("permission denied", "permission-denied", _no_method, False, False),
)


def _content_type(response: httpx.Response) -> str:
    return response.headers.get("content-type", "").partition(";")[0].strip() or "no content type"


def _unexpected(response: httpx.Response, context: Context[VaultSettings], *, now: float) -> ExchangeError:
    status = response.status_code
    return ExchangeError(
        f"{context.url} answered HTTP {status} ({_content_type(response)}, {len(response.content)} bytes), which "
        "is not a Vault error answer",
        provider=PROVIDER,
        code="unexpected-response",
        retryable=transient(status),
        retry_after=retry_after(response, now),
        status=status,
        hint="check url / VAULT_ADDR: something other than Vault, such as a proxy or a wrong address, answered",
    )


def error_from_response(response: httpx.Response, context: Context[VaultSettings], *, now: float) -> ExchangeError:
    """The typed error for a non-200 answer: a code and hint for each sentence Vault is known to say, the
    status for others, or an unexpected response when the body is not Vault's ``{"errors": [...]}``."""
    body = json_object(response)
    errors = body.get("errors") if body is not None else None
    if not isinstance(errors, list) or not errors:
        return _unexpected(response, context, now=now)
    status = response.status_code
    message = context.redact("; ".join(str(error) for error in errors))
    lowered = message.lower()
    rule = next((rule for rule in _RULES if rule[0] in lowered), None)
    code, hint_of, retryable, stale = rule[1:] if rule else (f"http-{status}", None, False, False)
    return ExchangeError(
        message,
        provider=PROVIDER,
        code=code,
        retryable=retryable or transient(status),
        retry_after=retry_after(response, now),
        hint=hint_of(context.settings, context.claims) if hint_of else None,
        status=status,
        stale_token=stale,
    )
