"""The async Azure credential: ``AsyncTokenCredential`` and ``AsyncSupportsTokenInfo`` over the shared engines.

Exchanges run on the event loop through the async driver (the token file is read in a worker thread), and
concurrent tasks on a cold credential wait for one exchange.
"""

from __future__ import annotations

from typing import Any

from azure.core.credentials import AccessToken, AccessTokenInfo, TokenRequestOptions

from ..flow import arun
from ._types import AzureTokens
from .aadsts import PROVIDER
from .tokens import ScopedTokens, request_from_options

__all__ = ["AsyncAzureCredential"]


class AsyncAzureCredential:
    """Entra ID access tokens for the pod's identity, for any ``azure.*.aio`` client's ``credential=``.

    Shares its tokens with the sync :class:`~cfke_auth.azure.credential.AzureCredential` of the same settings.
    ``await close()`` releases nothing: the HTTP clients and this credential are shared by the process.
    """

    def __init__(self, tokens: ScopedTokens[AzureTokens]) -> None:
        self._tokens = tokens

    def __repr__(self) -> str:
        s = self._tokens.settings
        return f"<AsyncAzureCredential tenant={s.tenant_id} client={s.client_id} token_path={s.token_path}>"

    async def _get(
        self, scopes: tuple[str, ...], claims: str | None, tenant_id: str | None, enable_cae: bool
    ) -> AzureTokens:
        tokens = self._tokens
        if claims:
            issued = await arun(tokens.challenged(scopes, tenant_id, claims, enable_cae), tokens.source, PROVIDER)
            return issued.value
        return await tokens.engine(scopes, tenant_id, enable_cae).aget()

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
        return (await self._get(scopes, *request_from_options(options))).info

    async def close(self) -> None:
        """Nothing to release (see the class docstring); present for the async credential protocols."""

    async def __aenter__(self) -> AsyncAzureCredential:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
