"""The async Azure credential: ``AsyncTokenCredential`` and ``AsyncSupportsTokenInfo`` over the shared engines.

Exchanges run on the event loop through the async driver (the token file is read in a worker thread), and concurrent
tasks -- on any loop, together with threads -- on a cold credential wait for one exchange.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from azure.core.credentials import AccessToken, AccessTokenInfo, TokenRequestOptions

from .._errors import CfkeAuthError
from .._flow import FlowFactory, arun
from .credentials import AzureTokens, BaseAzureCredential, ScopedEngine, sdk_error, to_azure
from .errors import PROVIDER
from .protocol import EntraToken
from .refresh import token_options

__all__ = ["AsyncAzureCredential"]


class AsyncAzureCredential(BaseAzureCredential[Awaitable[AzureTokens]]):
    """Entra ID access tokens for the pod's identity, for any ``azure.*.aio`` client's ``credential=``.

    Shares its tokens with the sync :class:`~cfke_auth.azure.credentials.AzureCredential` of the same settings.
    ``await close()`` releases nothing: the HTTP clients and this credential are shared by the process.
    """

    async def _challenged(self, factory: FlowFactory[EntraToken]) -> AzureTokens:
        try:
            return to_azure((await arun(factory, self._settings.source, self._http, PROVIDER)).value)
        except CfkeAuthError as exc:
            raise sdk_error(exc) from None

    async def _cached(self, scoped: ScopedEngine) -> AzureTokens:
        try:
            return scoped.converted.of(await scoped.engine.aget())
        except CfkeAuthError as exc:
            raise sdk_error(exc) from None

    async def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        """An access token for ``scopes`` (``AsyncTokenCredential``); cached and refreshed ahead of expiry."""
        return (await self._get(scopes, claims, tenant_id, enable_cae)).access_token

    async def get_token_info(self, *scopes: str, options: TokenRequestOptions | None = None) -> AccessTokenInfo:
        """An access token with its refresh advice (``AsyncSupportsTokenInfo``)."""
        return (await self._get(scopes, *token_options(options))).info

    async def close(self) -> None:
        """Nothing to release (see the class docstring); present for the async credential protocols."""

    async def __aenter__(self) -> AsyncAzureCredential:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
