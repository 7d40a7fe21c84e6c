"""Azure: the pod's token exchanged with Entra ID (workload identity federation) for azure-core credentials.

Same shape as every provider package: :mod:`.settings`, :mod:`.protocol`, :mod:`.errors` (AADSTS codes),
:mod:`.refresh` (one engine per scope set), and the adapters :mod:`.credentials` (sync) and :mod:`.aio`.
``get_azure_credential`` / ``get_azure_credential_async`` return one shared credential per settings; the sync and
async flavours of the same settings share their tokens. azure-core is imported when the first one is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._registry import shared
from .settings import AZURE_AUDIENCE, AzureOptions, resolve

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .aio import AsyncAzureCredential
    from .credentials import AzureCredential

__all__ = ["AZURE_AUDIENCE", "get_azure_credential", "get_azure_credential_async"]


def get_azure_credential(
    tenant_id: str | None = None, client_id: str | None = None, **options: Unpack[AzureOptions]
) -> AzureCredential:
    """A ``TokenCredential`` (and ``SupportsTokenInfo``) for sync Azure SDK clients.

    ``tenant_id`` and ``client_id`` default to ``AZURE_TENANT_ID`` and ``AZURE_CLIENT_ID``; the options are those of
    :class:`~cfke_auth.azure.settings.AzureOptions`. Raises :class:`~cfke_auth.ConfigurationError` naming any
    setting that is missing.
    """
    from .credentials import AzureCredential

    settings = resolve(tenant_id, client_id, **options)
    return shared(("azure-sync", settings), lambda: AzureCredential(settings))


def get_azure_credential_async(
    tenant_id: str | None = None, client_id: str | None = None, **options: Unpack[AzureOptions]
) -> AsyncAzureCredential:
    """An ``AsyncTokenCredential`` (and ``AsyncSupportsTokenInfo``) for ``azure.*.aio`` clients; same parameters
    as :func:`get_azure_credential`."""
    from .aio import AsyncAzureCredential

    settings = resolve(tenant_id, client_id, **options)
    return shared(("azure-async", settings), lambda: AsyncAzureCredential(settings))
