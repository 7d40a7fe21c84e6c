"""The httpx adapter: :class:`TokenExchangeAuth` sends the exchanged token as ``Authorization: Bearer``."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
from typing import TYPE_CHECKING, Any

import httpx

from .._engine import RENEWAL_GRACE, RefreshingCredential
from .protocol import ExchangedToken
from .refresh import exchange_credential
from .settings import ExchangeOptions, ExchangeSettings, resolve

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["TokenExchangeAuth", "get_token_exchange_auth"]


class TokenExchangeAuth(httpx.Auth):
    """An :class:`httpx.Auth` that sends the exchanged token as ``Authorization: Bearer``, for sync and async
    clients alike. A 401 from the service renews the token once per burst (see :data:`RENEWAL_GRACE`) and the
    request is retried once. Pickled as its settings; not at all when they hold a client secret."""

    def __init__(self, settings: ExchangeSettings) -> None:
        self._settings = settings
        self.credential: RefreshingCredential[ExchangedToken] = exchange_credential(settings)

    def __repr__(self) -> str:
        return f"TokenExchangeAuth({self.credential!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (TokenExchangeAuth, (self._settings,))

    def token(self) -> str:
        """The current access token (exchanging first when needed)."""
        return self.credential.get().token

    async def atoken(self) -> str:
        """The current access token, for asyncio."""
        return (await self.credential.aget()).token

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        sent = self.credential.get()
        request.headers["Authorization"] = f"Bearer {sent.token}"
        response = yield request
        if response.status_code == 401:
            self.credential.invalidate(sent, older_than=RENEWAL_GRACE)
            request.headers["Authorization"] = f"Bearer {self.token()}"
            yield request

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        sent = await self.credential.aget()
        request.headers["Authorization"] = f"Bearer {sent.token}"
        response = yield request
        if response.status_code == 401:
            self.credential.invalidate(sent, older_than=RENEWAL_GRACE)
            request.headers["Authorization"] = f"Bearer {await self.atoken()}"
            yield request


def get_token_exchange_auth(token_url: str, **options: Unpack[ExchangeOptions]) -> TokenExchangeAuth:
    """An ``httpx.Auth`` for a service behind an RFC 8693 token endpoint at ``token_url`` (https; http only to
    loopback), asking for what :class:`~cfke_auth.rfc8693.settings.ExchangeOptions` says. The same parameters in
    one process share one refreshing token.
    """
    return TokenExchangeAuth(resolve(token_url, **options))
