"""What callers pass to the Azure entry points: arguments first, then the variables Azure's own SDKs read.

``AZURE_TENANT_ID``, ``AZURE_CLIENT_ID``, ``AZURE_FEDERATED_TOKEN_FILE`` and ``AZURE_AUTHORITY_HOST`` are what
AKS workload identity injects and what azure-identity reads, so a pod spec written for one works with the other.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import TypedDict

from .._errors import ConfigurationError
from .._http import HttpOptions, check_endpoint
from .._source import SubjectTokenSource, subject_token_source

__all__ = ["AZURE_AUDIENCE", "DEFAULT_AUTHORITY", "AzureOptions", "EntraSettings", "check_tenant", "resolve"]

#: The audience Entra ID expects in a federated assertion (the projected token's ``audience``).
AZURE_AUDIENCE = "api://AzureADTokenExchange"
#: The public cloud's authority; sovereign clouds set ``authority_host`` or ``AZURE_AUTHORITY_HOST``.
DEFAULT_AUTHORITY = "https://login.microsoftonline.com"

# A tenant is a GUID or a domain name; anything else would change the token endpoint's path.
_TENANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]*")


class AzureOptions(TypedDict, total=False):
    """The keyword parameters of the Azure entry points besides ``tenant_id`` and ``client_id`` (all optional):
    ``token_path`` (else ``AZURE_FEDERATED_TOKEN_FILE``, ``CFKE_TOKEN_FILE``, the projected path) or
    ``token_source``; ``authority_host`` (else ``AZURE_AUTHORITY_HOST``, else the public cloud); ``http``."""

    token_path: str | os.PathLike[str] | None
    token_source: SubjectTokenSource | None
    authority_host: str | None
    http: HttpOptions | None


@dataclass(frozen=True)
class EntraSettings:
    """The resolved, validated settings of one credential; hashable, so it keys the shared credential cache."""

    tenant_id: str
    client_id: str
    source: SubjectTokenSource
    authority: str
    #: Other tenants a request may name (``AZURE_ADDITIONALLY_ALLOWED_TENANTS``, comma-separated; ``*`` for any).
    other_tenants: frozenset[str] = frozenset()
    http: HttpOptions | None = None

    def allow_tenant(self, tenant_id: str | None) -> str:
        """The tenant a request names, if this credential may use it (as azure-identity decides), else a
        ConfigurationError.

        A request's tenant can come from a resource server's challenge, so only the configured tenant and those
        allowed on purpose are accepted."""
        if not tenant_id or tenant_id == self.tenant_id:
            return self.tenant_id
        if "*" in self.other_tenants or tenant_id in self.other_tenants:
            return check_tenant(tenant_id)
        raise ConfigurationError(
            f"tenant {tenant_id!r} is not the credential's tenant; allow it in AZURE_ADDITIONALLY_ALLOWED_TENANTS "
            "(comma-separated, or *)"
        )


def _authority(authority_host: str | None) -> str:
    host = authority_host or os.environ.get("AZURE_AUTHORITY_HOST") or DEFAULT_AUTHORITY
    if "://" not in host:  # azure-identity accepts a bare host name ("login.microsoftonline.us")
        host = f"https://{host}"
    return check_endpoint(host, what="Azure authority host")


def check_tenant(tenant_id: str) -> str:
    """``tenant_id`` if it can be put in the token endpoint's path, else a ConfigurationError."""
    if not isinstance(tenant_id, str) or not _TENANT.fullmatch(tenant_id):
        raise ConfigurationError(f"tenant id {tenant_id!r} is neither a GUID nor a domain name")
    return tenant_id


def resolve(
    tenant_id: str | None = None,
    client_id: str | None = None,
    *,
    token_path: str | os.PathLike[str] | None = None,
    token_source: SubjectTokenSource | None = None,
    authority_host: str | None = None,
    http: HttpOptions | None = None,
) -> EntraSettings:
    """Fill what is not passed from the environment; a ConfigurationError names every setting still missing."""
    tenant = tenant_id or os.environ.get("AZURE_TENANT_ID")
    client = client_id or os.environ.get("AZURE_CLIENT_ID")
    missing = [
        f"{what} (argument {arg} or ${var})"
        for what, arg, var, value in (
            ("the Entra ID tenant", "tenant_id", "AZURE_TENANT_ID", tenant),
            ("the application (client) id", "client_id", "AZURE_CLIENT_ID", client),
        )
        if not value
    ]
    if missing:
        raise ConfigurationError(f"Azure credential is missing {' and '.join(missing)}")
    assert tenant is not None  # checked just above
    assert client is not None
    return EntraSettings(
        tenant_id=check_tenant(tenant),
        client_id=_check_client(client),
        source=subject_token_source(token_path, token_source, "AZURE_FEDERATED_TOKEN_FILE"),
        authority=_authority(authority_host),
        other_tenants=frozenset(
            t.strip() for t in os.environ.get("AZURE_ADDITIONALLY_ALLOWED_TENANTS", "").split(",") if t.strip()
        ),
        http=http,
    )


def _check_client(client_id: str) -> str:
    """A client id goes into a form field only, but must at least be one: a non-empty string without whitespace."""
    if not isinstance(client_id, str) or not client_id.strip() or any(c.isspace() for c in client_id):
        raise ConfigurationError(f"client id {client_id!r} is not an application (client) id")
    return client_id
