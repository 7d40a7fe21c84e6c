"""Naming a Workload Identity Federation provider: IDs, resource names and audiences, checked before any request.

Google identifies a provider by ``projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER``
and its STS audience is that name behind ``//iam.googleapis.com/``. People hold these in several shapes (bare IDs,
the pool's name, the full audience), and the most common mistake -- a project *ID* where the number belongs -- only
shows up as a puzzling ``invalid_request`` from Google, so it is caught here with a message that says how to fix it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .._errors import ConfigurationError

__all__ = ["IAM_HOST", "WorkloadProvider", "parse_provider", "service_account_email"]

#: The service name prefixed to resource names in audiences and principal identifiers.
IAM_HOST = "//iam.googleapis.com/"

_ID = re.compile(r"[a-z0-9-]{4,32}")
_NUMBER = re.compile(r"[0-9]{1,20}")
_PROJECT_ID = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")
_POOL_NAME = re.compile(r"projects/([^/]+)/locations/([^/]+)/workloadIdentityPools/([^/]+)")
_PROVIDER_NAME = re.compile(_POOL_NAME.pattern + r"/providers/([^/]+)")


@dataclass(frozen=True)
class WorkloadProvider:
    """A validated workload identity pool provider: the project number and the pool and provider IDs."""

    project_number: str
    pool_id: str
    provider_id: str

    @property
    def pool_name(self) -> str:
        """``projects/N/locations/global/workloadIdentityPools/POOL``."""
        return f"projects/{self.project_number}/locations/global/workloadIdentityPools/{self.pool_id}"

    @property
    def name(self) -> str:
        """The provider's resource name."""
        return f"{self.pool_name}/providers/{self.provider_id}"

    @property
    def audience(self) -> str:
        """The STS ``audience``: ``//iam.googleapis.com/projects/N/.../providers/PROVIDER``."""
        return IAM_HOST + self.name

    def principal(self, subject: str) -> str:
        """The IAM member for one Kubernetes identity (``google.subject`` is the token's ``sub``)."""
        return f"principal:{IAM_HOST}{self.pool_name}/subject/{subject}"

    def principal_set(self, attribute: str, value: str) -> str:
        """The IAM member for every identity whose mapped ``attribute.NAME`` equals ``value``."""
        return f"principalSet:{IAM_HOST}{self.pool_name}/attribute.{attribute}/{value}"


def _check_project_number(value: str, where: str) -> str:
    if _NUMBER.fullmatch(value):
        return value
    if _PROJECT_ID.fullmatch(value):
        raise ConfigurationError(
            f"{where} {value!r} is a project ID, but Workload Identity Federation names the project by its number; "
            f"find it with `gcloud projects describe {value} --format='value(projectNumber)'` "
            "(or on the project's dashboard in the console)"
        )
    raise ConfigurationError(f"{where} {value!r} is not a project number (digits only, e.g. '123456789012')")


def _check_id(value: str, what: str) -> str:
    if not _ID.fullmatch(value):
        raise ConfigurationError(f"{what} ID {value!r} must be 4-32 lowercase letters, digits or hyphens")
    return value


def _split(value: str, what: str) -> tuple[str | None, str | None, str | None]:
    """``(project, pool, provider)`` from an ID, a pool name, a provider name or an audience (unknown parts None)."""
    name = value.removeprefix("https:").removeprefix(IAM_HOST)
    if "/" not in name:
        return None, None, name
    for pattern in (_PROVIDER_NAME, _POOL_NAME):
        found = pattern.fullmatch(name)
        if found:
            project, location, pool, *provider = found.groups()
            if location != "global":
                raise ConfigurationError(
                    f"{what} {value!r}: workload identity pools live in location 'global', not {location!r}"
                )
            return project, pool, provider[0] if provider else None
    raise ConfigurationError(
        f"{what} {value!r} is neither an ID nor a resource name like "
        "'projects/123456789012/locations/global/workloadIdentityPools/POOL[/providers/PROVIDER]'"
    )


def _agree(name: str, *values: str | None) -> str | None:
    known = {v for v in values if v is not None}
    if len(known) > 1:
        raise ConfigurationError(f"the arguments name different {name}s: {', '.join(sorted(known))}")
    return known.pop() if known else None


def parse_provider(pool: str, provider: str, project_number: str | int | None = None) -> WorkloadProvider:
    """Validate the three ways of naming a provider and return it; a ConfigurationError says what is wrong.

    ``pool`` is a pool ID or the pool's resource name; ``provider`` a provider ID, its resource name or its full
    audience (``//iam.googleapis.com/...``). ``project_number`` is needed only when neither names the project, and
    must agree with them when it is given too.
    """
    if not isinstance(pool, str) or not isinstance(provider, str) or not pool or not provider:
        raise ConfigurationError("both pool and provider are needed (IDs, resource names or the provider's audience)")
    pool_project, pool_id, pool_rest = _split(pool, "pool")
    if pool_id is None:  # a bare pool ID
        pool_id, pool_rest = pool_rest, None
    provider_project, provider_pool, provider_id = _split(provider, "provider")
    number = _agree(
        "project",
        *(
            _check_project_number(str(v), where) if v is not None else None
            for v, where in ((project_number, "project_number"), (pool_project, "pool"), (provider_project, "provider"))
        ),
    )
    if number is None:
        raise ConfigurationError(
            "the project number is missing: pass project_number (digits, e.g. '123456789012') or name the pool or "
            "provider by its full resource name"
        )
    pool_id = _agree("pool", pool_id, provider_pool)
    provider_id = _agree("provider", pool_rest, provider_id)
    if pool_id is None or provider_id is None:
        raise ConfigurationError("the provider ID is missing")
    if pool_id.startswith("gcp-"):
        raise ConfigurationError(f"pool ID {pool_id!r}: the prefix 'gcp-' is reserved by Google")
    return WorkloadProvider(number, _check_id(pool_id, "pool"), _check_id(provider_id, "provider"))


def service_account_email(email: str | None, what: str = "service_account") -> str | None:
    """``email`` if it is shaped like a Google service account's (``NAME@PROJECT.iam.gserviceaccount.com``), None
    for None; a ConfigurationError naming ``what`` otherwise -- a Kubernetes service account name passed here by
    mistake, say."""
    if email is None:
        return None
    if not isinstance(email, str):
        raise ConfigurationError(f"{what} must be an email string, not {type(email).__name__}")
    name, at, domain = email.partition("@")
    if not (name and at and "." in domain) or any(c in email for c in "/: "):
        raise ConfigurationError(
            f"{what} {email!r} is not a service account email (NAME@PROJECT.iam.gserviceaccount.com)"
        )
    return email
