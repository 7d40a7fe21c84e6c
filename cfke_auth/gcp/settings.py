"""What callers pass to ``get_gcp_credentials``, checked and completed before any request.

The provider's names are validated by :mod:`.names`; scopes must be scope URLs; endpoints must be https (http only
to loopback); an impersonation lifetime and delegation chain need a service account to impersonate. The result is a
hashable :class:`GcpSettings`, which keys the process-wide refreshing credential.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypedDict

from .._errors import ConfigurationError
from .._http import HttpOptions, check_endpoint
from .._source import SubjectTokenSource, subject_token_source
from .names import WorkloadProvider, parse_provider, service_account_email

__all__ = [
    "CLOUD_PLATFORM_SCOPE",
    "DEFAULT_IAM_URL",
    "DEFAULT_STS_URL",
    "IAM_SCOPE",
    "MAX_LIFETIME",
    "MIN_LIFETIME",
    "GcpIdTokenOptions",
    "GcpOptions",
    "GcpSettings",
    "check_audience",
    "check_delegates",
    "check_lifetime",
    "check_scopes",
    "delegate_names",
    "resolve",
]

DEFAULT_STS_URL = "https://sts.googleapis.com"
DEFAULT_IAM_URL = "https://iamcredentials.googleapis.com"
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
IAM_SCOPE = "https://www.googleapis.com/auth/iam"
#: The longest impersonated token Google issues (12 h), where the org policy allows more than its default hour.
MAX_LIFETIME = 43200
#: The shortest lifetime asked for: the engine renews at 75-80 % of it, so less would mean exchanging all the time.
MIN_LIFETIME = 60
_DELEGATE_PREFIX = "projects/-/serviceAccounts/"


class GcpIdTokenOptions(TypedDict, total=False):
    """The keyword parameters every Google entry point takes (all optional).

    ``project_number`` (the project *number*, when the names do not carry it); ``delegates`` (the service accounts
    chained through on the way to the impersonated one); ``token_path`` or ``token_source``; ``sts_endpoint_url`` /
    ``iam_endpoint_url`` (base URLs, default Google's); ``http`` (:class:`~cfke_auth.HttpOptions`).
    """

    project_number: str | int | None
    delegates: str | Iterable[str] | None
    token_path: str | os.PathLike[str] | None
    token_source: SubjectTokenSource | None
    sts_endpoint_url: str | None
    iam_endpoint_url: str | None
    http: HttpOptions | None


class GcpOptions(GcpIdTokenOptions, total=False):
    """:class:`GcpIdTokenOptions` and those of access tokens: ``service_account`` (impersonate it,
    ``NAME@PROJECT.iam.gserviceaccount.com``), ``scopes`` (default ``cloud-platform``, or a client library's) and
    ``lifetime`` (seconds an impersonated token lives, 60-43200, above 3600 only where the org policy allows)."""

    service_account: str | None
    scopes: str | Sequence[str] | None
    lifetime: int | None


@dataclass(frozen=True)
class GcpSettings:
    """Everything one exchange needs besides the token: the provider, the scopes, whom to impersonate (if anyone),
    the endpoints, where the token comes from and how to reach the network; when impersonating, the token lifetime
    asked for (None: Google's default hour) and the chain of service accounts ``delegates`` between the pod's
    principal and the service account (emails, first link first). Hashable."""

    provider: WorkloadProvider
    scopes: tuple[str, ...]
    source: SubjectTokenSource
    service_account: str | None = None
    sts_url: str = DEFAULT_STS_URL
    iam_url: str = DEFAULT_IAM_URL
    http: HttpOptions | None = None
    lifetime: int | None = None
    delegates: tuple[str, ...] = ()

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


def check_lifetime(lifetime: int | None, service_account: str | None, what: str = "lifetime") -> int | None:
    """``lifetime`` (whole seconds, :data:`MIN_LIFETIME` to :data:`MAX_LIFETIME`) if an impersonated token can be
    asked for that long; None for None. Google's default maximum is an hour: more needs the org policy
    ``constraints/iam.allowServiceAccountCredentialLifetimeExtension`` to list the service account."""
    if lifetime is None:
        return None
    if isinstance(lifetime, bool) or not isinstance(lifetime, int) or not MIN_LIFETIME <= lifetime <= MAX_LIFETIME:
        raise ConfigurationError(
            f"{what} must be whole seconds from {MIN_LIFETIME} to {MAX_LIFETIME} (12 h), not {lifetime!r}"
        )
    if service_account is None:
        raise ConfigurationError(
            f"{what} applies to impersonated tokens: pass service_account too (a federated token lives as long as "
            "Google STS decides, an hour)"
        )
    return lifetime


def check_delegates(delegates: str | Iterable[str] | None, service_account: str | None) -> tuple[str, ...]:
    """The delegation chain as service account emails, first link first (a string is one delegate; the
    ``projects/-/serviceAccounts/EMAIL`` form is accepted too)."""
    if delegates is None:
        return ()
    values = [delegates] if isinstance(delegates, str) else list(delegates)
    emails = tuple(
        service_account_email(d.removeprefix(_DELEGATE_PREFIX) if isinstance(d, str) else d, "each delegate") or ""
        for d in values
    )
    if emails and service_account is None:
        raise ConfigurationError("delegates chain to a service account: pass service_account too")
    if service_account in emails or len(set(emails)) != len(emails):
        raise ConfigurationError(
            "delegates are the service accounts between the pod's principal and service_account, each once: "
            f"{list(emails)} repeats one or names service_account itself"
        )
    return emails


def delegate_names(settings: GcpSettings) -> list[str]:
    """The delegates as IAM Credentials takes them: ``projects/-/serviceAccounts/EMAIL``."""
    return [_DELEGATE_PREFIX + email for email in settings.delegates]


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
    lifetime: int | None = None,
    delegates: str | Iterable[str] | None = None,
) -> GcpSettings:
    """The checked settings; :class:`~cfke_auth.ConfigurationError` names the first bad argument."""
    workload: WorkloadProvider = parse_provider(pool, provider, project_number)
    email = service_account_email(service_account)
    return GcpSettings(
        provider=workload,
        scopes=check_scopes(scopes),
        source=subject_token_source(token_path, token_source),
        service_account=email,
        sts_url=check_endpoint(sts_endpoint_url or DEFAULT_STS_URL, what="sts_endpoint_url"),
        iam_url=check_endpoint(iam_endpoint_url or DEFAULT_IAM_URL, what="iam_endpoint_url"),
        http=http,
        lifetime=check_lifetime(lifetime, email),
        delegates=check_delegates(delegates, email),
    )
