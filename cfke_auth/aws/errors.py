"""STS error answers turned into :class:`~cfke_auth.ExchangeError` s that say what to fix.

Each ``ErrorResponse`` code STS returns for ``AssumeRoleWithWebIdentity`` maps to a hint naming the usual cause,
filled in with the token's own ``iss``/``aud``/``sub`` (claims, never the token) so the user can compare them with
the IAM configuration. Anything that is not STS XML is reported by status and content type only: a proxy's error
page could echo the request, and the request holds the token.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx

from .._claims import TokenClaims
from .._errors import ExchangeError
from .._protocol import Context, retry_after, transient
from . import xmldoc
from .policy import create_provider_command, issuer_host_path, oidc_provider_arn

if TYPE_CHECKING:
    from .settings import AwsSettings

__all__ = ["PROVIDER", "RETRYABLE_CODES", "error_from_response", "unexpected_response"]

PROVIDER = "aws-sts"
#: Codes after which the same request may succeed later: the engine retries them with backoff.
RETRYABLE_CODES = frozenset(
    {"IDPCommunicationError", "Throttling", "ThrottlingException", "ServiceUnavailable", "InternalFailure"}
)
#: ``InvalidIdentityToken`` with this message means STS could not reach the issuer's keys: transient, as the other
#: AWS SDKs treat it.
_KEYS_UNREACHABLE = "couldn't retrieve verification key"


def _audiences(claims: TokenClaims) -> str:
    return ", ".join(claims.audiences) or "(none)"


def _account(role_arn: str) -> str:
    return role_arn.split(":")[4]


def _access_denied(claims: TokenClaims, role_arn: str) -> str:
    key = issuer_host_path(claims.issuer)
    return (
        f"the trust policy of {role_arn} must allow sts:AssumeRoleWithWebIdentity for the federated principal "
        f"{oidc_provider_arn(_account(role_arn), claims.issuer)} with StringEquals conditions "
        f'"{key}:aud" = one of [{_audiences(claims)}] and "{key}:sub" = "{claims.subject}" '
        f"(this token: iss {claims.issuer}, aud [{_audiences(claims)}], sub {claims.subject}); "
        "`cfke-auth aws trust-policy` prints a matching policy"
    )


def _invalid_identity_token(claims: TokenClaims, role_arn: str) -> str:
    audience = claims.audiences[0] if claims.audiences else "AUDIENCE"
    return (
        f"account {_account(role_arn)} needs an IAM OIDC identity provider for {claims.issuer} whose client-id "
        f"(audience) list includes one of the token's audiences [{_audiences(claims)}]; create it with "
        f"`{create_provider_command(claims.issuer, audience)}`"
    )


def _expired(claims: TokenClaims, role_arn: str) -> str:
    return (
        f"STS saw the token as expired (fresh until {claims.lifetime_end.isoformat()}); the file was re-read and the "
        "exchange retried once: if this persists the kubelet is not rotating the token, or the clock is off"
    )


def _idp_rejected_claim(claims: TokenClaims, role_arn: str) -> str:
    return (
        f"the OIDC provider for {claims.issuer} rejected a claim of the token (aud [{_audiences(claims)}], "
        f"sub {claims.subject}): check its client-id list and the trust policy's conditions"
    )


def _idp_communication(claims: TokenClaims, role_arn: str) -> str:
    return (
        f"STS could not fetch {claims.issuer}/.well-known/openid-configuration or its JWKS in time; the issuer must "
        "be reachable from the internet. Retried with backoff"
    )


def _throttling(claims: TokenClaims, role_arn: str) -> str:
    return "STS is rate-limiting this account: retried with backoff; share credentials instead of exchanging often"


def _region_disabled(claims: TokenClaims, role_arn: str) -> str:
    return (
        "STS is not activated in this region for the account: activate it under IAM > Account settings, or pick "
        "another region (region_name / AWS_REGION) or the global endpoint"
    )


def _bad_parameters(claims: TokenClaims, role_arn: str) -> str:
    return (
        "STS refused the request's parameters: check role_arn, session_name and duration_seconds (above 3600 the "
        "role's maximum session duration must allow it)"
    )


_HINTS: dict[str, Callable[[TokenClaims, str], str]] = {
    "AccessDenied": _access_denied,
    "InvalidIdentityToken": _invalid_identity_token,
    "ExpiredTokenException": _expired,
    "IDPRejectedClaim": _idp_rejected_claim,
    "IDPCommunicationError": _idp_communication,
    "Throttling": _throttling,
    "ThrottlingException": _throttling,
    "RegionDisabledException": _region_disabled,
    "ValidationError": _bad_parameters,
    "MalformedPolicyDocument": _bad_parameters,
    "PackedPolicyTooLarge": _bad_parameters,
}


def _content_type(response: httpx.Response) -> str:
    return response.headers.get("content-type", "").partition(";")[0].strip() or "no content type"


def unexpected_response(
    response: httpx.Response, context: Context[AwsSettings], what: str, *, now: float
) -> ExchangeError:
    """An answer that is not STS XML: described by status, content type and size, never by its body."""
    status = response.status_code
    return ExchangeError(
        f"{context.url} answered HTTP {status} ({_content_type(response)}, {len(response.content)} bytes), "
        f"which {what}",
        provider=PROVIDER,
        code="unexpected-response",
        retryable=transient(status),
        retry_after=retry_after(response, now),
        status=status,
        hint="check the STS endpoint (sts_endpoint_url, AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL): something other "
        "than STS, such as a proxy or a wrong URL, answered",
    )


def error_from_response(response: httpx.Response, context: Context[AwsSettings], *, now: float) -> ExchangeError:
    """The typed error for a non-200 answer: STS's own code and message with a hint, or an unexpected response."""
    root = xmldoc.parse(response.content)
    error = xmldoc.child(root, "Error")
    code = xmldoc.text(error, "Code")
    if root is None or xmldoc.local_name(root) != "ErrorResponse" or code is None:
        return unexpected_response(response, context, "is not an STS ErrorResponse", now=now)
    status = response.status_code
    role_arn = context.settings.role_arn
    message = context.redact(xmldoc.text(error, "Message") or f"STS refused the role assumption for {role_arn}")
    keys_unreachable = code == "InvalidIdentityToken" and _KEYS_UNREACHABLE in message.lower()
    hint_of = _idp_communication if keys_unreachable else _HINTS.get(code)
    return ExchangeError(
        message,
        provider=PROVIDER,
        code=code,
        retryable=code in RETRYABLE_CODES or code == "ExpiredTokenException" or keys_unreachable or transient(status),
        retry_after=retry_after(response, now),
        hint=hint_of(context.claims, role_arn) if hint_of and context.claims else None,
        status=status,
        stale_token=code == "ExpiredTokenException",
    )
