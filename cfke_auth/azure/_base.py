"""What the sync and async Azure credentials have in common, so each flavour spells out only how it waits.

A request either carries a claims challenge, which runs one exchange past the cache, or it does not and is served by
the scope set's refreshing engine. That choice, and the repr, live here; the subclasses supply the two ways of getting
a result (blocking, or awaitable) and the public methods with the signatures azure-core's protocols ask for.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Generic, TypeVar

from ..engine import RefreshingCredential
from ..flow import FlowFactory
from ._types import AzureTokens
from .tokens import ScopedTokens

__all__ = ["BaseAzureCredential"]

R = TypeVar("R")  # what a request yields: AzureTokens (sync) or an awaitable of it (async)


class BaseAzureCredential(ABC, Generic[R]):
    """The request routing behind :class:`AzureCredential` and :class:`AsyncAzureCredential`.

    ``_challenged`` runs a claims-challenge flow once and ``_cached`` reads a refreshing engine; each subclass
    implements both in its own I/O style, and ``_get`` picks one for a request.
    """

    def __init__(self, tokens: ScopedTokens[AzureTokens]) -> None:
        self._tokens = tokens

    def __repr__(self) -> str:
        s = self._tokens.settings
        return f"<{type(self).__name__} tenant={s.tenant_id} client={s.client_id} token_path={s.token_path}>"

    def _get(self, scopes: tuple[str, ...], claims: str | None, tenant_id: str | None, enable_cae: bool) -> R:
        """The tokens for one request: a claims challenge bypasses the cache, anything else is served from it."""
        tokens = self._tokens
        if claims:
            return self._challenged(tokens.challenged(scopes, tenant_id, claims, enable_cae))
        return self._cached(tokens.engine(scopes, tenant_id, enable_cae))

    @abstractmethod
    def _challenged(self, factory: FlowFactory[AzureTokens]) -> R:
        """Run a claims-challenge flow against the token endpoint."""

    @abstractmethod
    def _cached(self, engine: RefreshingCredential[AzureTokens]) -> R:
        """The engine's current tokens, exchanging first if it holds none that are usable."""
