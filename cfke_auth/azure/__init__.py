"""Azure: the pod's token exchanged with Entra ID (workload identity federation) for azure-core credentials.

``get_azure_credential`` / ``get_azure_credential_async`` return one shared credential per settings; the sync and
async flavours of the same settings share their tokens. azure-core is imported when the first one is built.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from ..registry import shared
from .config import AZURE_AUDIENCE, resolve_settings

if TYPE_CHECKING:
    from ._types import AzureTokens
    from .aio import AsyncAzureCredential
    from .credential import AzureCredential
    from .tokens import ScopedTokens

__all__ = ["AZURE_AUDIENCE", "get_azure_credential", "get_azure_credential_async"]

C = TypeVar("C")


def _shared_credential(
    flavour: str,
    build: Callable[[ScopedTokens[AzureTokens]], C],
    tenant_id: str | None,
    client_id: str | None,
    *,
    token_path: str | os.PathLike[str] | None,
    authority_host: str | None,
) -> C:
    """The process's one ``flavour`` credential for these settings, built over the tokens both flavours share."""
    from ._types import to_azure
    from .tokens import ScopedTokens

    settings = resolve_settings(tenant_id, client_id, token_path=token_path, authority_host=authority_host)
    # each shared() call takes the registry lock, which does not nest: the tokens are fetched before the credential
    tokens = shared(("azure", settings), lambda: ScopedTokens(settings, to_azure))
    return shared((f"azure-{flavour}", settings), lambda: build(tokens))


def get_azure_credential(
    tenant_id: str | None = None,
    client_id: str | None = None,
    *,
    token_path: str | os.PathLike[str] | None = None,
    authority_host: str | None = None,
) -> AzureCredential:
    """A ``TokenCredential`` (and ``SupportsTokenInfo``) for sync Azure SDK clients.

    ``tenant_id``, ``client_id``, ``token_path`` and ``authority_host`` default to ``AZURE_TENANT_ID``,
    ``AZURE_CLIENT_ID``, ``AZURE_FEDERATED_TOKEN_FILE`` (then ``CFKE_TOKEN_FILE``, then the default path) and
    ``AZURE_AUTHORITY_HOST`` (then the public cloud). Raises ``ValueError`` naming any setting that is missing.
    """
    from .credential import AzureCredential

    return _shared_credential(
        "sync", AzureCredential, tenant_id, client_id, token_path=token_path, authority_host=authority_host
    )


def get_azure_credential_async(
    tenant_id: str | None = None,
    client_id: str | None = None,
    *,
    token_path: str | os.PathLike[str] | None = None,
    authority_host: str | None = None,
) -> AsyncAzureCredential:
    """An ``AsyncTokenCredential`` (and ``AsyncSupportsTokenInfo``) for ``azure.*.aio`` clients; same parameters
    as :func:`get_azure_credential`."""
    from .aio import AsyncAzureCredential

    return _shared_credential(
        "async", AsyncAzureCredential, tenant_id, client_id, token_path=token_path, authority_host=authority_host
    )
