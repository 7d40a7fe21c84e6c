"""The process-wide refreshing Google token behind every ``GcpCredentials`` with the same settings."""

from __future__ import annotations

import functools

from .._engine import RefreshingCredential
from .._flow import refreshing
from .._http import Http
from .._registry import shared
from .protocol import GoogleToken, exchange_flow
from .settings import GcpSettings

__all__ = ["PROVIDER", "google_credential"]

#: How the engine labels the whole Google exchange (STS, then IAM Credentials when impersonating).
PROVIDER = "gcp"


def google_credential(settings: GcpSettings) -> RefreshingCredential[GoogleToken]:
    """The shared refreshing credential for ``settings``: created on first use, then the same object every time."""

    def make() -> RefreshingCredential[GoogleToken]:
        factory = functools.partial(exchange_flow, settings)
        return refreshing(factory, settings.source, Http(settings.http), provider=PROVIDER, name=f"gcp {settings.who}")

    return shared((PROVIDER, settings), make)
