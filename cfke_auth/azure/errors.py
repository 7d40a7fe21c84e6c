"""Turning an Entra ID error answer into an :class:`~cfke_auth.ExchangeError` that says what to fix.

Entra ID answers a refused token request with ``{"error": ..., "error_description": "AADSTSnnnnn: ...",
"error_codes": [nnnnn], ...}``. The AADSTS number is what identifies the misconfiguration, so it becomes the error's
``code``; the hint names the setting to check, with the pod token's own ``iss``/``sub``/``aud`` where the federated
identity credential has to match them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import httpx

from .._claims import TokenClaims
from .._errors import ExchangeError
from .._protocol import Context, json_object, retry_after, transient
from .settings import AZURE_AUDIENCE

if TYPE_CHECKING:
    from .protocol import EntraRequest

__all__ = ["NO_MATCH_CODES", "PROVIDER", "error_from_response"]

PROVIDER = "entra"
_CODE = re.compile(r"AADSTS(\d+)")
_PREFIX = re.compile(r"^\s*AADSTS\d+:\s*")

_PROJECTED_TOKEN = (
    "the default CFKE token lives a year and Entra ID refuses it: mount a projected serviceAccountToken volume with "
    f"audience {AZURE_AUDIENCE} and expirationSeconds 3600 and point AZURE_FEDERATED_TOKEN_FILE at it "
    "(`cfke-auth azure token-volume` prints the pod-spec snippet)"
)


#: "No matching federated identity record" (70021) and its newer, more specific forms: issuer (700211), audience
#: (700212), subject (700213) do not match, or the subject differs only in case (7002137, 7002138).
NO_MATCH_CODES = frozenset({70021, 700211, 700212, 700213, 7002137, 7002138})
#: Which of the presented token's values the specific no-match codes name as the one that differs.
_MISMATCHED = {700211: "issuer", 700212: "audience", 700213: "subject", 7002137: "subject", 7002138: "subject"}


def _must_hold(claims: TokenClaims) -> str:
    return (
        f"the credential on the app or managed identity must hold issuer {claims.issuer!r}, subject "
        f"{claims.subject!r} and audience {AZURE_AUDIENCE!r} exactly (`cfke-auth azure federated-credential` prints "
        "the az command)"
    )


def _no_matching_credential(code: int, claims: TokenClaims | None) -> str:
    """What the federated identity credential must hold, exactly: the presented token's issuer, subject and audience.

    For the default (extended) token, its own audience is the issuer URL and Entra ID refuses its lifetime anyway:
    the credential must hold ``api://AzureADTokenExchange`` and the pod must present a projected token with it."""
    if claims is None:
        return (
            "the presented assertion is not a JWT, so no federated identity credential can match it: "
            "AZURE_FEDERATED_TOKEN_FILE must name the pod's projected service-account token"
        )
    audiences = ", ".join(claims.audiences) or "(none)"
    presented = f"issuer {claims.issuer!r}, subject {claims.subject!r}, audience {audiences!r}"
    which = _MISMATCHED.get(code)
    if which is None:
        head = "no federated identity credential matches the presented token"
    else:
        head = f"no federated identity credential has the presented token's {which}"
    if code in (7002137, 7002138):
        head += " (Entra ID compares the subject case-sensitively)"
    hint = f"{head} ({presented}); {_must_hold(claims)}"
    if claims.is_extended:  # the default token cannot match what Entra accepts, whatever the credential holds
        return f"{_PROJECTED_TOKEN}; and {hint}"
    if AZURE_AUDIENCE not in claims.audiences:
        hint += f"; the token's audience must be {AZURE_AUDIENCE}: set it on the projected token volume"
    return hint


def _hint(code: int, subject: TokenClaims | None) -> str | None:
    """The misconfiguration that usually causes AADSTS ``code``."""
    if code in NO_MATCH_CODES:
        return _no_matching_credential(code, subject)
    if code == 70023:
        return f"{_PROJECTED_TOKEN}; {_must_hold(subject)}" if subject is not None else _PROJECTED_TOKEN
    if code == 700024:
        return "the pod token is expired or not yet valid: check the node clock and that the kubelet rotates the file"
    if code == 700016:
        return "no application with this client id in the tenant: check AZURE_CLIENT_ID and AZURE_TENANT_ID"
    if code == 90002:
        return (
            "tenant not found: check AZURE_TENANT_ID, and AZURE_AUTHORITY_HOST for a sovereign cloud "
            "(for example https://login.microsoftonline.us)"
        )
    if code in (70011, 1002012):
        return "client-credential requests take one resource scope ending in /.default, e.g. https://storage.azure.com/.default"
    return None


def _aadsts_code(body: dict[str, Any]) -> int | None:
    codes = body.get("error_codes")
    if isinstance(codes, list) and codes and isinstance(codes[0], int) and not isinstance(codes[0], bool):
        return codes[0] if 0 < codes[0] < 10**9 else None
    match = _CODE.match(str(body.get("error_description", "")))
    return int(match.group(1)) if match else None


def _first_line(description: str) -> str:
    """Entra's description without its ``AADSTSnnnnn:`` prefix (the error's code says it) and without its
    ``Trace ID``/``Correlation ID``/``Timestamp`` tail lines."""
    lines = _PREFIX.sub("", description, count=1).splitlines()
    return lines[0].strip() if lines else ""


def error_from_response(response: httpx.Response, context: Context[EntraRequest], *, now: float) -> ExchangeError:
    """The typed error for a non-200 answer; the claims of the assertion sent feed the hints."""
    status = response.status_code
    retryable = transient(status)
    body = json_object(response)
    code = _aadsts_code(body) if body else None
    if body is None or code is None:
        error = context.redact(str(body.get("error", ""))) if body else ""
        return ExchangeError(
            f"{context.url} answered HTTP {status}" + (f" ({error})" if error else ""),
            provider=PROVIDER,
            code=f"http-{status}",
            retryable=retryable,
            retry_after=retry_after(response, now),
            status=status,
            hint="Entra ID is unavailable or throttling; retried with backoff" if retryable else None,
        )
    description = context.redact(_first_line(str(body.get("error_description", "")))) or f"AADSTS{code}"
    return ExchangeError(
        description,
        provider=PROVIDER,
        code=f"AADSTS{code}",
        retryable=retryable or code == 700024,
        retry_after=retry_after(response, now),
        hint=_hint(code, context.claims),
        status=status,
        stale_token=code == 700024,
    )
