"""The per-scope-set refreshing tokens the sync and async Azure credentials share.

Azure SDK clients ask for tokens by scope set (``https://storage.azure.com/.default``), sometimes for another
tenant or with continuous access evaluation (CAE). Each distinct request gets one process-wide refreshing credential
from the registry, so a process that mixes sync and ``aio`` clients still makes one exchange per scope set. A claims
challenge bypasses the cache (:func:`challenged_flow`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from .._engine import RefreshingCredential
from .._errors import ConfigurationError
from .._flow import Flow, FlowFactory, refreshing, run
from .._http import Http
from .._registry import shared
from .errors import PROVIDER
from .protocol import EntraRequest, EntraToken, merge_claims, token_flow
from .settings import EntraSettings

__all__ = ["TokenOptions", "challenged_flow", "entra_credential", "entra_request", "exchange_once", "token_options"]

TokenOptions = tuple[str | None, str | None, bool]  # claims, tenant_id, enable_cae


def token_options(options: Mapping[str, Any] | None) -> TokenOptions:
    """``get_token_info``'s ``options`` (azure-core's ``TokenRequestOptions``) as ``get_token``'s keywords."""
    if not options:
        return None, None, False
    return options.get("claims"), options.get("tenant_id"), bool(options.get("enable_cae", False))


def entra_request(
    settings: EntraSettings,
    scopes: tuple[str, ...],
    tenant_id: str | None = None,
    claims: str | None = None,
    enable_cae: bool = False,
) -> EntraRequest:
    """One request, checked: at least one scope, a tenant this credential may use, the claims field merged."""
    if not scopes or not all(isinstance(s, str) and s for s in scopes):
        raise ConfigurationError(
            "an Azure token request needs at least one scope, e.g. https://storage.azure.com/.default"
        )
    tenant = settings.allow_tenant(tenant_id)
    return EntraRequest(settings, tenant, tuple(sorted(set(scopes))), merge_claims(claims, enable_cae))


def entra_credential(request: EntraRequest) -> RefreshingCredential[EntraToken]:
    """The process's one refreshing token for ``request`` (a request without a claims challenge)."""

    def make() -> RefreshingCredential[EntraToken]:
        settings = request.settings
        name = f"{PROVIDER} {settings.client_id} {' '.join(request.scopes)}"
        factory = functools.partial(token_flow, request)
        return refreshing(factory, settings.source, Http(settings.http), provider=PROVIDER, name=name)

    return shared((PROVIDER, request), make)


def challenged_flow(challenged: EntraRequest, cached: RefreshingCredential[EntraToken]) -> FlowFactory[EntraToken]:
    """The flow for a claims challenge, which bypasses the cache. Once it has succeeded, the cached token that
    provoked the challenge is dropped, so the next plain request exchanges afresh too; if it fails, the cached
    token stays (it may still serve requests the challenge did not concern)."""

    def flow() -> Flow[EntraToken]:
        issued = yield from token_flow(challenged)
        cached.invalidate()
        return issued

    return flow


def exchange_once(request: EntraRequest) -> EntraToken:
    """One exchange, now, without the engine (for ``cfke-auth doctor --exchange``)."""
    return run(
        functools.partial(token_flow, request), request.settings.source, Http(request.settings.http), PROVIDER
    ).value
