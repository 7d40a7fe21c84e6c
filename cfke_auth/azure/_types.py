"""azure-core's token types, with reprs that hide the token; imported only once a credential is built, so
``import cfke_auth`` does not need azure-core."""

from __future__ import annotations

from typing import NamedTuple

from azure.core.credentials import AccessToken, AccessTokenInfo

from .exchange import EntraToken

__all__ = ["AzureTokens", "to_azure"]


class _AccessToken(AccessToken):
    """An :class:`AccessToken` whose repr leaves the token out (azure-core's prints it)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"AccessToken(token=<hidden>, expires_on={self.expires_on})"


class _AccessTokenInfo(AccessTokenInfo):
    """An :class:`AccessTokenInfo` whose repr leaves the token out."""

    def __repr__(self) -> str:
        return f"AccessTokenInfo(token=<hidden>, expires_on={self.expires_on}, refresh_on={self.refresh_on})"


class AzureTokens(NamedTuple):
    """One exchange's result in both shapes azure-core asks for, built once per exchange."""

    access_token: AccessToken
    info: AccessTokenInfo

    def __repr__(self) -> str:
        return f"AzureTokens({self.info!r})"


def to_azure(token: EntraToken) -> AzureTokens:
    """Wrap an Entra token in azure-core's types."""
    return AzureTokens(
        _AccessToken(token.token, token.expires_on),
        _AccessTokenInfo(token.token, token.expires_on, token_type=token.token_type, refresh_on=token.refresh_on),
    )
