"""Google's refusals, turned into :class:`~cfke_auth.ExchangeError` s whose hints name the misconfiguration.

Google STS answers OAuth-style (``{"error": "invalid_grant", "error_description": ...}``); IAM Credentials answers
with a Google API error (``{"error": {"code": 403, "status": "PERMISSION_DENIED", "message": ...}}``). Their text is
quoted with every secret the request carried redacted, in case a server (or a proxy in its place) echoes it.
"""

from __future__ import annotations

import httpx

from .._claims import TokenClaims
from .._errors import ExchangeError
from .._protocol import Context, json_object, retry_after, transient
from .settings import GcpSettings

__all__ = ["DEFAULT_MAX_LIFETIME", "IAM", "STS", "TOKEN_CREATOR", "iam_error", "sts_error"]

STS = "gcp-sts"
IAM = "gcp-iam"


def _transient(response: httpx.Response, context: Context[GcpSettings], provider: str, now: float) -> ExchangeError:
    """5xx and 429 are Google's way of saying "later": retryable, whatever the body."""
    return ExchangeError(
        f"HTTP {response.status_code} from {context.url}",
        provider=provider,
        code=f"http-{response.status_code}",
        status=response.status_code,
        retryable=True,
        retry_after=retry_after(response, now),
        hint="Google is overloaded or unavailable; the exchange is retried with backoff",
    )


def _token_facts(claims: TokenClaims | None) -> str:
    if claims is None:
        return "the subject token is not a JWT"
    facts = f"the pod token has aud {list(claims.audiences)} and iss {claims.issuer!r}"
    if claims.is_extended:
        facts += (
            "; it is the default extended token (valid a year), which Google STS refuses as too long-lived: "
            "mount a projected token (expirationSeconds 3600) with the provider's audience"
        )
    return facts


def _sts_hint(code: str, description: str, context: Context[GcpSettings]) -> str | None:
    provider = context.settings.provider
    if code == "invalid_grant":
        return (
            f"{_token_facts(context.claims)}; provider {provider.provider_id!r} accepts its allowed audiences "
            f"(default {provider.audience!r}) from the issuer configured on it -- make the two match"
        )
    if code == "invalid_target":
        return (
            f"pool {provider.pool_id!r} or provider {provider.provider_id!r} does not exist in project "
            f"{provider.project_number} or is disabled: check `gcloud iam workload-identity-pools providers describe "
            f"{provider.provider_id} --workload-identity-pool={provider.pool_id} --location=global "
            f"--project={provider.project_number}`"
        )
    if code == "invalid_request" and "audience" in description:
        return (
            f"the audience {provider.audience!r} is malformed or names an unknown project: it needs the project "
            "number (not the ID) and the pool and provider IDs"
        )
    if code == "invalid_scope":
        return "a requested scope is unknown to Google; use https://www.googleapis.com/auth/... scope URLs"
    return None


def sts_error(response: httpx.Response, context: Context[GcpSettings], *, now: float) -> ExchangeError:
    """The error for a non-200 answer from Google STS."""
    if transient(response.status_code):
        return _transient(response, context, STS, now)
    body = json_object(response) or {}
    code = context.redact(str(body.get("error") or f"http-{response.status_code}"))
    description = context.redact(str(body.get("error_description") or response.reason_phrase))
    stale = code == "invalid_grant" and any(word in description.lower() for word in ("expired", "stale"))
    return ExchangeError(
        description,
        provider=STS,
        code=code,
        status=response.status_code,
        hint=_sts_hint(code, description, context),
        stale_token=stale,
    )


#: The role that lets a principal sign as a service account and act as it in a delegation chain.
TOKEN_CREATOR = "roles/iam.serviceAccountTokenCreator"
#: The longest impersonated token Google issues without an org policy exception.
DEFAULT_MAX_LIFETIME = 3600


def _grant(role: str, service_account: str, member: str) -> str:
    return (
        f"grant {role} on {service_account} to {member}: `gcloud iam service-accounts add-iam-policy-binding "
        f"{service_account} --role={role} --member='{member}'`"
    )


def _permission_hint(method: str, context: Context[GcpSettings]) -> str:
    settings = context.settings
    service_account = settings.service_account or "SERVICE_ACCOUNT"
    member = settings.provider.principal(context.claims.subject if context.claims else "SUBJECT")
    if settings.delegates:
        links = [member, *(f"serviceAccount:{email}" for email in settings.delegates)]
        targets = [*settings.delegates, service_account]
        chain = "; ".join(f"{TOKEN_CREATOR} on {target} to {link}" for link, target in zip(links, targets, strict=True))
        return f"through delegates, each link must be allowed to act as the next -- grant {chain}"
    if method == "signBlob":
        return (
            "signing needs iam.serviceAccounts.signBlob, which roles/iam.workloadIdentityUser does not include; "
            + _grant(TOKEN_CREATOR, service_account, member)
        )
    return _grant("roles/iam.workloadIdentityUser", service_account, member)


def _iam_hint(status: str, http_status: int, context: Context[GcpSettings]) -> str | None:
    settings, method = context.settings, context.url.rpartition(":")[2]
    if status == "PERMISSION_DENIED":
        return _permission_hint(method, context)
    if http_status == 400 and method == "generateAccessToken" and (settings.lifetime or 0) > DEFAULT_MAX_LIFETIME:
        return (
            f"a lifetime of {settings.lifetime} s is more than Google's default maximum of an hour: list "
            f"{settings.service_account} in the org policy "
            "constraints/iam.allowServiceAccountCredentialLifetimeExtension "
            "(see https://cloud.google.com/iam/help/credentials/lifetime), or ask for 3600 s or less"
        )
    if http_status == 404:
        return f"service account {settings.service_account} does not exist (check the email and its project)"
    return None


def iam_error(response: httpx.Response, context: Context[GcpSettings], *, now: float) -> ExchangeError:
    """The error for a non-200 answer from IAM Credentials."""
    if transient(response.status_code):
        return _transient(response, context, IAM, now)
    error = (json_object(response) or {}).get("error")
    error = error if isinstance(error, dict) else {}
    status = context.redact(str(error.get("status") or f"http-{response.status_code}"))
    message = context.redact(str(error.get("message") or response.reason_phrase))
    return ExchangeError(
        message,
        provider=IAM,
        code=status,
        status=response.status_code,
        hint=_iam_hint(status, response.status_code, context),
    )
