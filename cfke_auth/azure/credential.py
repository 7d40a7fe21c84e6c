"""The sync Azure credential: azure-core's ``TokenCredential`` and ``SupportsTokenInfo`` over the shared engines."""

from __future__ import annotations

from typing import Any

from azure.core.credentials import AccessToken, AccessTokenInfo, TokenRequestOptions

from ..flow import run
from ._types import AzureTokens
from .aadsts import PROVIDER
from .tokens import ScopedTokens, request_from_options

__all__ = ["AzureCredential"]


class AzureCredential:
    """Entra ID access tokens for the pod's identity, for any sync Azure SDK client's ``credential=``.

    One refreshing token per scope set, exchanged once however many threads ask; a claims challenge bypasses the
    cache. ``close()`` releases nothing: the HTTP client is shared by the process, and so is this credential
    (``get_azure_credential`` hands the same object to every caller with the same settings).
    """

    def __init__(self, tokens: ScopedTokens[AzureTokens]) -> None:
        self._tokens = tokens

    def __repr__(self) -> str:
        s = self._tokens.settings
        return f"<AzureCredential tenant={s.tenant_id} client={s.client_id} token_path={s.token_path}>"

    def _get(self, scopes: tuple[str, ...], claims: str | None, tenant_id: str | None, enable_cae: bool) -> AzureTokens:
        tokens = self._tokens
        if claims:
            return run(tokens.challenged(scopes, tenant_id, claims, enable_cae), tokens.source, PROVIDER).value
        return tokens.engine(scopes, tenant_id, enable_cae).get()

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
