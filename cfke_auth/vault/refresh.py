"""The process-wide refreshing Vault token behind every client ``get_vault_client`` builds with the same settings.

One :class:`~cfke_auth.RefreshingCredential` per settings, so clients built per request or per thread share one
login and one renewal schedule; its flow keeps a :class:`~cfke_auth.vault.protocol.VaultSession`, the token it
issued last, to renew rather than log in while renewing still extends it.
"""

from __future__ import annotations

import functools

from .._engine import RefreshingCredential
from .._flow import refreshing
from .._http import Http
from .._registry import shared
from .errors import PROVIDER
from .protocol import VaultSession, VaultToken, vault_flow
from .settings import VaultSettings

__all__ = ["vault_credential"]


def vault_credential(settings: VaultSettings) -> RefreshingCredential[VaultToken]:
    """The shared refreshing credential for ``settings``: created on first use, then the same object every time."""

    def make() -> RefreshingCredential[VaultToken]:
        factory = functools.partial(vault_flow, settings, VaultSession())
        name = f"{PROVIDER} role {settings.role} at {settings.url}/v1/auth/{settings.mount}"
        return refreshing(factory, settings.source, Http(settings.http), provider=PROVIDER, name=name)

    return shared((PROVIDER, settings), make)
