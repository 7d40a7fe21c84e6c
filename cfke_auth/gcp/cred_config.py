"""The ``external_account`` credential configuration for the same identity, for other processes and languages.

google-auth (``load_credentials_from_file``, ``GOOGLE_APPLICATION_CREDENTIALS``), the other Google client libraries
and gcloud read this JSON and run the exchange themselves from the token file: the format ``gcloud iam
workload-identity-pools create-cred-config`` writes, with a file-sourced, text-format subject token. An
impersonation lifetime goes in ``service_account_impersonation.token_lifetime_seconds``, the one impersonation
option google-auth's ``external_account`` loader reads; the format has no field for a delegation chain.
"""

from __future__ import annotations

from typing import Any

from ..rfc8693.protocol import JWT_TOKEN_TYPE
from .names import WorkloadProvider
from .protocol import generate_access_token_url
from .settings import DEFAULT_IAM_URL, DEFAULT_STS_URL

__all__ = ["cred_config"]


def cred_config(
    provider: WorkloadProvider,
    token_path: str,
    *,
    service_account: str | None = None,
    sts_url: str = DEFAULT_STS_URL,
    iam_url: str = DEFAULT_IAM_URL,
    lifetime: int | None = None,
) -> dict[str, Any]:
    """The configuration as a JSON-ready dict (no secret in it: it points at the token file); ``lifetime`` (seconds,
    checked by the caller) asks for longer- or shorter-lived impersonated tokens."""
    config: dict[str, Any] = {
        "universe_domain": "googleapis.com",
        "type": "external_account",
        "audience": provider.audience,
        "subject_token_type": JWT_TOKEN_TYPE,
        "token_url": f"{sts_url}/v1/token",
        "credential_source": {"file": token_path, "format": {"type": "text"}},
    }
    if service_account:
        config["service_account_impersonation_url"] = generate_access_token_url(iam_url, service_account)
    if service_account and lifetime:
        config["service_account_impersonation"] = {"token_lifetime_seconds": lifetime}
    return config
