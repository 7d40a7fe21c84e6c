"""Google's refusals, turned into :class:`~cfke_auth.ExchangeError` s whose hints name the misconfiguration.

Google STS answers OAuth-style (``{"error": "invalid_grant", "error_description": ...}``); IAM Credentials answers
with a Google API error (``{"error": {"code": 403, "status": "PERMISSION_DENIED", "message": ...}}``). Neither body
ever carries a token, so their descriptions can be quoted.
"""

from __future__ import annotations

from typing import Any

import httpx

from ..claims import decode_claims
from ..errors import ExchangeError
from .names import WorkloadProvider

__all__ = ["IAM", "STS", "iam_error", "sts_error"]

STS = "gcp-sts"
IAM = "gcp-iam"


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _transient(response: httpx.Response, provider: str) -> ExchangeError | None:
    """5xx and 429 are Google's way of saying "later": retryable, whatever the body."""
    if response.status_code == 429 or response.status_code >= 500:
        return ExchangeError(
            f"HTTP {response.status_code} from {response.request.url.copy_with(query=None)}",
            provider=provider,
            code=f"http-{response.status_code}",
            status=response.status_code,
            retryable=True,
            hint="Google is overloaded or unavailable; the exchange is retried with backoff",
        )
    return None


def _token_facts(subject_token: str) -> str:
    claims = decode_claims(subject_token)
    facts = f"the pod token has aud {list(claims.audiences)} and iss {claims.issuer!r}"
    if claims.is_extended:
        facts += (
            "; it is the default extended token (valid a year), which Google STS refuses as too long-lived: "
            "mount a projected token (expirationSeconds 3600) with the provider's audience"
        )
    return facts


def _sts_hint(code: str, description: str, provider: WorkloadProvider, subject_token: str) -> str | None:
    if code == "invalid_grant":
        return (
            f"{_token_facts(subject_token)}; provider {provider.provider_id!r} accepts its allowed audiences "
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


def sts_error(response: httpx.Response, provider: WorkloadProvider, subject_token: str) -> ExchangeError:
    """The error for a non-200 answer from Google STS."""
    transient = _transient(response, STS)
    if transient is not None:
        return transient
    body = _json_object(response)
    code = str(body.get("error") or f"http-{response.status_code}")
    description = str(body.get("error_description") or response.reason_phrase)
    stale = code == "invalid_grant" and any(word in description.lower() for word in ("expired", "stale"))
    return ExchangeError(
        description,
        provider=STS,
        code=code,
        status=response.status_code,
        hint=_sts_hint(code, description, provider, subject_token),
        stale_token=stale,
    )


def iam_error(
    response: httpx.Response, provider: WorkloadProvider, service_account: str, subject_token: str
) -> ExchangeError:
    """The error for a non-200 answer from IAM Credentials ``generateAccessToken``."""
    transient = _transient(response, IAM)
    if transient is not None:
        return transient
    error = _json_object(response).get("error")
    error = error if isinstance(error, dict) else {}
    status = str(error.get("status") or f"http-{response.status_code}")
    message = str(error.get("message") or response.reason_phrase)
    hint = None
    if status == "PERMISSION_DENIED":
        member = provider.principal(decode_claims(subject_token).subject)
        hint = (
            f"grant roles/iam.workloadIdentityUser on {service_account} to {member}: `gcloud iam service-accounts "
            f"add-iam-policy-binding {service_account} --role=roles/iam.workloadIdentityUser --member='{member}'`"
        )
    elif response.status_code == 404:
        hint = f"service account {service_account} does not exist (check the email and its project)"
    return ExchangeError(message, provider=IAM, code=status, status=response.status_code, hint=hint)
