"""The sync Azure credential: azure-core's ``TokenCredential`` and ``SupportsTokenInfo`` over the shared engines."""

from __future__ import annotations

from typing import Any

from azure.core.credentials import AccessToken, AccessTokenInfo, TokenRequestOptions

from ..engine import RefreshingCredential
from ..flow import FlowFactory, run
from ._base import BaseAzureCredential
from ._types import AzureTokens
from .aadsts import PROVIDER
from .tokens import request_from_options

__all__ = ["AzureCredential"]


class AzureCredential(BaseAzureCredential[AzureTokens]):
    """Entra ID access tokens for the pod's identity, for any sync Azure SDK client's ``credential=``.

    One refreshing token per scope set, exchanged once however many threads ask; a claims challenge bypasses the
    cache. ``close()`` releases nothing: the HTTP client is shared by the process, and so is this credential
    (``get_azure_credential`` hands the same object to every caller with the same settings).
    """

    def _challenged(self, factory: FlowFactory[AzureTokens]) -> AzureTokens:
        return run(factory, self._tokens.source, PROVIDER).value

    def _cached(self, engine: RefreshingCredential[AzureTokens]) -> AzureTokens:
        return engine.get()

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        """An access token for ``scopes`` (``TokenCredential``); cached and refreshed ahead of expiry."""
        return self._get(scopes, claims, tenant_id, enable_cae).access_token

    def get_token_info(self, *scopes: str, options: TokenRequestOptions | None = None) -> AccessTokenInfo:
        """An access token with its refresh advice (``SupportsTokenInfo``), as azure-core's policies prefer."""
        return self._get(scopes, *request_from_options(options)).info

    def close(self) -> None:
        """Nothing to release (see the class docstring); present for the ``SupportsTokenInfo`` protocol."""

    def __enter__(self) -> AzureCredential:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
