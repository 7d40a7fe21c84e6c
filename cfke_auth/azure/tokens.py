"""The per-scope-set bookkeeping the sync and async Azure credentials share.

Azure SDK clients ask for tokens by scope set (``https://storage.azure.com/.default``), sometimes for another
tenant or with continuous access evaluation (CAE). Each distinct request gets one refreshing credential, created once
and then found by a dictionary lookup; both credential flavours read the same engines, so a process that mixes
sync and ``aio`` clients still makes one exchange per scope set.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from .. import _fork
from ..engine import Issued, RefreshingCredential
from ..flow import Flow, FlowFactory, refreshing
from ..source import TokenSource
from .aadsts import PROVIDER
from .config import EntraSettings
from .exchange import EntraToken, merge_claims, token_flow

__all__ = ["ScopedTokens", "TokenRequest", "request_from_options"]

V = TypeVar("V")
TokenRequest = tuple[str | None, str | None, bool]  # claims, tenant_id, enable_cae


def request_from_options(options: Mapping[str, Any] | None) -> TokenRequest:
    """``get_token_info``'s ``options`` (azure-core's ``TokenRequestOptions``) as ``get_token``'s keywords."""
    if not options:
        return None, None, False
    return options.get("claims"), options.get("tenant_id"), bool(options.get("enable_cae", False))


def _converted(factory: FlowFactory[EntraToken], convert: Callable[[EntraToken], V]) -> FlowFactory[V]:
    def flow() -> Flow[V]:
        issued = yield from factory()
        return Issued(convert(issued.value), issued.expires_at, issued.refresh_at)

    return flow


class ScopedTokens(Generic[V]):
    """One :class:`RefreshingCredential` per (tenant, scope set, CAE) for one :class:`EntraSettings`.

    ``convert`` turns an :class:`EntraToken` into what callers are handed (azure-core's token types), once per
    exchange rather than once per call. The exact scopes tuple of a plain request (default tenant, no CAE) maps
    straight to its engine, so the hot path is one dictionary lookup.
    """

    def __init__(self, settings: EntraSettings, convert: Callable[[EntraToken], V]) -> None:
        self.settings = settings
        self.source = TokenSource(settings.token_path)
        self._fast: dict[tuple[str, ...], RefreshingCredential[V]] = {}
        self._convert = convert
        self._engines: dict[tuple[str, tuple[str, ...], bool], RefreshingCredential[V]] = {}
        self._lock = threading.Lock()
        _fork.register(self)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        s = self.settings
        return f"<ScopedTokens tenant={s.tenant_id} client={s.client_id} {len(self._engines)} scope sets>"

    def _key(
        self, scopes: tuple[str, ...], tenant_id: str | None, enable_cae: bool
    ) -> tuple[str, tuple[str, ...], bool]:
        if not scopes or not all(isinstance(s, str) and s for s in scopes):
            raise ValueError("an Azure token request needs at least one scope, e.g. https://storage.azure.com/.default")
        tenant = self.settings.allow_tenant(tenant_id)
        return tenant, tuple(sorted(set(scopes))), enable_cae

    def factory(
        self, scopes: tuple[str, ...], tenant_id: str | None, claims: str | None, enable_cae: bool
    ) -> FlowFactory[V]:
        """The exchange flow for one request (validated), its result converted."""
        tenant, scope_set, _ = self._key(scopes, tenant_id, enable_cae)
        flow = token_flow(self.settings, tenant, scope_set, merge_claims(claims, enable_cae))
        return _converted(flow, self._convert)

    def engine(
        self, scopes: tuple[str, ...], tenant_id: str | None = None, enable_cae: bool = False
    ) -> RefreshingCredential[V]:
        """The refreshing credential for a request without a claims challenge; a lookup once it exists."""
        if tenant_id is None and not enable_cae:
            engine = self._fast.get(scopes)
            if engine is not None:
                return engine
        key = self._key(scopes, tenant_id, enable_cae)
        with self._lock:
            engine = self._engines.get(key)
            if engine is None:
                factory = self.factory(scopes, tenant_id, None, enable_cae)
                name = f"entra {self.settings.client_id} {' '.join(key[1])}"
                engine = self._engines[key] = refreshing(factory, self.source, provider=PROVIDER, name=name)
            if tenant_id is None and not enable_cae:
                self._fast[scopes] = engine
        return engine

    def challenged(
        self, scopes: tuple[str, ...], tenant_id: str | None, claims: str, enable_cae: bool
    ) -> FlowFactory[V]:
        """The flow for a claims challenge, which bypasses the cache. Once it has succeeded, the cached token that
        provoked the challenge is dropped, so the next plain request exchanges afresh too; if it fails, the cached
        token stays (it may still serve requests the challenge did not concern)."""
        factory = self.factory(scopes, tenant_id, claims, enable_cae)
        engine = self.engine(scopes, tenant_id, enable_cae)

        def flow() -> Flow[V]:
            issued = yield from factory()
            engine.invalidate()
            return issued

        return flow
