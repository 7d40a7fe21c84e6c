"""STS error answers turned into :class:`~cfke_auth.ExchangeError` s that say what to fix.

Each ``ErrorResponse`` code STS returns for ``AssumeRoleWithWebIdentity`` maps to a hint naming the usual cause,
filled in with the token's own ``iss``/``aud``/``sub`` (claims, never the token) so the user can compare them with
the IAM configuration; the codes of a role chain's ``sts:AssumeRole`` calls get hints naming the hop's role and the
role whose keys signed the call. Anything that is not STS XML is reported by status and content type only: a proxy's
error page could echo the request, and the request holds the token (or the previous hop's session token).
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

__all__ = ["PROVIDER", "RETRYABLE_CODES", "error_from_response", "hop_label", "previous_role", "unexpected_response"]

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


_THROTTLING = "STS is rate-limiting this account: retried with backoff; share credentials instead of exchanging often"
_REGION_DISABLED = (
    "STS is not activated in this region for the account: activate it under IAM > Account settings, or pick "
    "another region (region_name / AWS_REGION) or the global endpoint"
)
_MALFORMED_POLICY = (
    "the call's session policy (policy) is not an IAM policy STS accepts: check its grammar (Version "
    '"2012-10-17", Statement entries with Effect, Action and Resource)'
)
_PACKED_TOO_LARGE = (
    "the call's session policies (policy and policy_arns) compress to more than STS's packed-size limit: shorten "
    "the inline policy or pass fewer policy ARNs"
)


def _bad_parameters(claims: TokenClaims, role_arn: str) -> str:
    return (
        "STS refused the request's parameters: check role_arn, session_name and duration_seconds (above 3600 the "
        "role's maximum session duration must allow it)"
    )


#: Hints for ``AssumeRoleWithWebIdentity``: a text, or a function of the token's claims and the role.
_HINTS: dict[str, str | Callable[[TokenClaims, str], str]] = {
    "AccessDenied": _access_denied,
    "InvalidIdentityToken": _invalid_identity_token,
    "ExpiredTokenException": _expired,
    "IDPRejectedClaim": _idp_rejected_claim,
    "IDPCommunicationError": _idp_communication,
    "Throttling": _THROTTLING,
    "ThrottlingException": _THROTTLING,
    "RegionDisabledException": _REGION_DISABLED,
    "ValidationError": _bad_parameters,
    "MalformedPolicyDocument": _MALFORMED_POLICY,
    "PackedPolicyTooLarge": _PACKED_TOO_LARGE,
}


def hop_label(settings: AwsSettings) -> str:
    """How errors name the role ``settings`` end in: ``role chain hop 2 (ARN)``; hop 1 is the web-identity role."""
    return f"role chain hop {len(settings.chain) + 1} ({settings.target_role_arn})"


def previous_role(settings: AwsSettings) -> str:
    """The role whose credentials sign the ``sts:AssumeRole`` into the last hop of ``settings``' chain."""
    return settings.chain[-2].role_arn if len(settings.chain) > 1 else settings.role_arn


def _hop_access_denied(settings: AwsSettings) -> str:
    target, previous = settings.target_role_arn, previous_role(settings)
    external = (
        "with its sts:ExternalId condition equal to this hop's external_id"
        if settings.chain[-1].external_id
        else "(if it requires sts:ExternalId, give this hop an external_id)"
    )
    return (
        f'the trust policy of {target} must allow sts:AssumeRole for the principal {{"AWS": "{previous}"}} '
        f"{external}, and the permissions of {previous} must allow sts:AssumeRole on {target}"
    )


def _hop_expired(settings: AwsSettings) -> str:
    return (
        f"the credentials of the previous hop ({previous_role(settings)}) expired before STS saw them; they are "
        "renewed and the call retried: if this persists, check this machine's clock"
    )


def _hop_invalid_key(settings: AwsSettings) -> str:
    return (
        f"STS did not recognise the keys of the previous hop ({previous_role(settings)}): the STS endpoint must be "
        "in that role's partition, with STS activated in its region"
    )


def _hop_parameters(settings: AwsSettings) -> str:
    return (
        f"STS refused the request's parameters: check the session_name and external_id of the hop into "
        f"{settings.target_role_arn}, and duration_seconds (at most 3600 in a role chain)"
    )


#: Hints for a role chain's ``sts:AssumeRole``: a text, or a function of the settings ending in that hop.
_HOP_HINTS: dict[str, str | Callable[[AwsSettings], str]] = {
    "AccessDenied": _hop_access_denied,
    "ExpiredToken": _hop_expired,
    "InvalidClientTokenId": _hop_invalid_key,
    "SignatureDoesNotMatch": "STS computed another signature for this request: check this machine's clock (a "
    "signature is valid for minutes) and any proxy that rewrites requests",
    "ValidationError": _hop_parameters,
    "MalformedPolicyDocument": _MALFORMED_POLICY,
    "PackedPolicyTooLarge": _PACKED_TOO_LARGE,
    "RegionDisabledException": _REGION_DISABLED,
    "Throttling": _THROTTLING,
    "ThrottlingException": _THROTTLING,
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
    """The typed error for a non-200 answer: STS's own code and message with a hint, or an unexpected response.

    ``context.settings`` with a chain means the call was the ``sts:AssumeRole`` into the chain's last hop."""
    root = xmldoc.parse(response.content)
    error = xmldoc.child(root, "Error")
    code = xmldoc.text(error, "Code")
    if root is None or xmldoc.local_name(root) != "ErrorResponse" or code is None:
        return unexpected_response(response, context, "is not an STS ErrorResponse", now=now)
    status = response.status_code
    settings = context.settings
    role_arn = settings.target_role_arn
    message = context.redact(xmldoc.text(error, "Message") or f"STS refused the role assumption for {role_arn}")
    retryable = code in RETRYABLE_CODES or transient(status)
    hint: str | None = None
    if settings.chain:
        hop_hint = _HOP_HINTS.get(code)
        hint = hop_hint if isinstance(hop_hint, str) or hop_hint is None else hop_hint(settings)
        return ExchangeError(
            message,
            provider=PROVIDER,
            code=code,
            retryable=retryable or code == "ExpiredToken",
            retry_after=retry_after(response, now),
            hint=hint,
            status=status,
        )
    keys_unreachable = code == "InvalidIdentityToken" and _KEYS_UNREACHABLE in message.lower()
    hint_of = _idp_communication if keys_unreachable else _HINTS.get(code)
    if isinstance(hint_of, str):
        hint = hint_of
    elif hint_of is not None and context.claims is not None:
        hint = hint_of(context.claims, role_arn)
    return ExchangeError(
        message,
        provider=PROVIDER,
        code=code,
        retryable=retryable or code == "ExpiredTokenException" or keys_unreachable,
        retry_after=retry_after(response, now),
        hint=hint,
        status=status,
        stale_token=code == "ExpiredTokenException",
    )
