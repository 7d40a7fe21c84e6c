"""Azure: the pod's token exchanged with Entra ID (workload identity federation) for azure-core credentials.

Same shape as every provider package: :mod:`.settings`, :mod:`.protocol`, :mod:`.errors` (AADSTS codes),
:mod:`.refresh` (one engine per scope set), and the adapters :mod:`.credentials` (sync) and :mod:`.aio`.
``get_azure_credential`` / ``get_azure_credential_async`` return one shared credential per settings; the sync and
async flavours of the same settings share their tokens. azure-core is imported when the first one is built.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .._http import HttpOptions
from .._registry import shared
from .._source import SubjectTokenSource
from .settings import AZURE_AUDIENCE, resolve

if TYPE_CHECKING:
    from .aio import AsyncAzureCredential
    from .credentials import AzureCredential

__all__ = ["AZURE_AUDIENCE", "get_azure_credential", "get_azure_credential_async"]


def get_azure_credential(
    tenant_id: str | None = None,
    client_id: str | None = None,
    *,
    token_path: str | os.PathLike[str] | None = None,
    token_source: SubjectTokenSource | None = None,
    authority_host: str | None = None,
    http: HttpOptions | None = None,
) -> AzureCredential:
    """A ``TokenCredential`` (and ``SupportsTokenInfo``) for sync Azure SDK clients.

    ``tenant_id``, ``client_id``, ``token_path`` and ``authority_host`` default to ``AZURE_TENANT_ID``,
    ``AZURE_CLIENT_ID``, ``AZURE_FEDERATED_TOKEN_FILE`` (then ``CFKE_TOKEN_FILE``, then the default path) and
    ``AZURE_AUTHORITY_HOST`` (then the public cloud); ``token_source`` and ``http`` as for every ``get_*``
    function. Raises :class:`~cfke_auth.ConfigurationError` naming any setting that is missing.
    """
    from .credentials import AzureCredential

    settings = resolve(
        tenant_id, client_id, token_path=token_path, token_source=token_source, authority_host=authority_host, http=http
    )
    return shared(("azure-sync", settings), lambda: AzureCredential(settings))


def get_azure_credential_async(
    tenant_id: str | None = None,
    client_id: str | None = None,
    *,
    token_path: str | os.PathLike[str] | None = None,
    token_source: SubjectTokenSource | None = None,
    authority_host: str | None = None,
    http: HttpOptions | None = None,
) -> AsyncAzureCredential:
    """An ``AsyncTokenCredential`` (and ``AsyncSupportsTokenInfo``) for ``azure.*.aio`` clients; same parameters
    as :func:`get_azure_credential`."""
    from .aio import AsyncAzureCredential

    settings = resolve(
        tenant_id, client_id, token_path=token_path, token_source=token_source, authority_host=authority_host, http=http
    )
    return shared(("azure-async", settings), lambda: AsyncAzureCredential(settings))
