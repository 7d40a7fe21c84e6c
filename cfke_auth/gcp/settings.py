"""What callers pass to ``get_gcp_credentials``, checked and completed before any request.

The provider's names are validated by :mod:`.names`; scopes must be scope URLs; endpoints must be https (http only
to loopback). The result is a hashable :class:`GcpSettings`, which keys the process-wide refreshing credential.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from .._errors import ConfigurationError
from .._http import HttpOptions, check_endpoint
from .._source import SubjectTokenSource, subject_token_source
from .names import WorkloadProvider, parse_provider, service_account_email

__all__ = [
    "CLOUD_PLATFORM_SCOPE",
    "DEFAULT_IAM_URL",
    "DEFAULT_STS_URL",
    "IAM_SCOPE",
    "GcpSettings",
    "check_audience",
    "check_scopes",
    "resolve",
]

DEFAULT_STS_URL = "https://sts.googleapis.com"
DEFAULT_IAM_URL = "https://iamcredentials.googleapis.com"
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
IAM_SCOPE = "https://www.googleapis.com/auth/iam"


@dataclass(frozen=True)
class GcpSettings:
    """Everything one exchange needs besides the token: the provider, the scopes, whom to impersonate (if anyone),
    the endpoints, where the token comes from and how to reach the network. Hashable."""

    provider: WorkloadProvider
    scopes: tuple[str, ...]
    source: SubjectTokenSource
    service_account: str | None = None
    sts_url: str = DEFAULT_STS_URL
    iam_url: str = DEFAULT_IAM_URL
    http: HttpOptions | None = None

    @property
    def who(self) -> str:
        """The identity the tokens are for, for log lines: the service account, else the pool and provider."""
        return self.service_account or f"{self.provider.pool_id}/{self.provider.provider_id}"


def check_scopes(scopes: str | Sequence[str] | None) -> tuple[str, ...]:
    """``scopes`` as a tuple of distinct scope URLs (a string is one scope); ``cloud-platform`` for None."""
    if scopes is None:
        return (CLOUD_PLATFORM_SCOPE,)
    values = [scopes] if isinstance(scopes, str) else list(scopes)
    if not values or not all(isinstance(s, str) and s.strip() and " " not in s for s in values):
        raise ConfigurationError(
            "scopes must be one or more scope URLs, e.g. 'https://www.googleapis.com/auth/devstorage.read_only'"
        )
    return tuple(dict.fromkeys(values))


def check_audience(audience: str) -> str:
    """``audience`` if it can be an ID token's audience (a URL such as a Cloud Run service's, or an OAuth client ID
    for IAP): a non-empty string without whitespace."""
    if not isinstance(audience, str) or not audience or any(c.isspace() for c in audience):
        raise ConfigurationError(
            f"audience must be the receiving service's URL or client ID (no spaces), not {audience!r}"
        )
    return audience


def resolve(
    pool: str,
    provider: str,
    *,
    project_number: str | int | None = None,
    service_account: str | None = None,
    scopes: str | Sequence[str] | None = None,
    token_path: str | os.PathLike[str] | None = None,
    token_source: SubjectTokenSource | None = None,
    sts_endpoint_url: str | None = None,
    iam_endpoint_url: str | None = None,
    http: HttpOptions | None = None,
) -> GcpSettings:
    """The checked settings; :class:`~cfke_auth.ConfigurationError` names the first bad argument."""
    workload: WorkloadProvider = parse_provider(pool, provider, project_number)
    return GcpSettings(
        provider=workload,
        scopes=check_scopes(scopes),
        source=subject_token_source(token_path, token_source),
        service_account=service_account_email(service_account),
        sts_url=check_endpoint(sts_endpoint_url or DEFAULT_STS_URL, what="sts_endpoint_url"),
        iam_url=check_endpoint(iam_endpoint_url or DEFAULT_IAM_URL, what="iam_endpoint_url"),
        http=http,
    )
