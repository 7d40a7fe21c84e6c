"""The process-wide refreshing token behind every ``TokenExchangeAuth`` with the same settings."""

from __future__ import annotations

import functools

from .._engine import RefreshingCredential
from .._flow import refreshing
from .._http import Http
from .._registry import shared
from .errors import PROVIDER
from .protocol import ExchangedToken, exchange_flow
from .settings import ExchangeSettings

__all__ = ["exchange_credential"]


def exchange_credential(settings: ExchangeSettings) -> RefreshingCredential[ExchangedToken]:
    """The shared refreshing credential for ``settings``: created on first use, then the same object every time."""

    def make() -> RefreshingCredential[ExchangedToken]:
        factory = functools.partial(exchange_flow, settings.exchange)
        name = f"{PROVIDER} {settings.exchange.token_url}"
        return refreshing(factory, settings.source, Http(settings.http), provider=PROVIDER, name=name)

    return shared((PROVIDER, settings), make)
