"""The azure-core adapter: ``TokenCredential`` / ``SupportsTokenInfo`` over the shared per-scope-set engines.

A request either carries a claims challenge, which runs one exchange past the cache, or it does not and is served by
the scope set's refreshing engine. The routing and the conversion to azure-core's types live in
:class:`BaseAzureCredential`; :class:`AzureCredential` (here) and
:class:`~cfke_auth.azure.aio.AsyncAzureCredential` only say how they wait. Failures are raised as classes that are both
azure-core's ``ClientAuthenticationError`` and cfke-auth's own.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Generic, NamedTuple, TypeVar

from azure.core.credentials import AccessToken, AccessTokenInfo, TokenRequestOptions
from azure.core.exceptions import ClientAuthenticationError

from .._convert import Converted
from .._engine import RefreshingCredential
from .._errors import CfkeAuthError, ConfigurationError, ExchangeError, TokenError, recast
from .._flow import FlowFactory, run
from .._http import Http
from .errors import PROVIDER
from .protocol import EntraToken
from .refresh import challenged_flow, entra_credential, entra_request, token_options
from .settings import EntraSettings

__all__ = [
    "AzureConfigurationError",
    "AzureCredential",
    "AzureExchangeError",
    "AzureTokenError",
    "AzureTokens",
    "BaseAzureCredential",
    "ScopedEngine",
    "sdk_error",
    "to_azure",
]

R = TypeVar("R")  # what a request yields: AzureTokens (sync) or an awaitable of it (async)


class _AzureNative:
    """What azure-core's ``AzureError``/``HttpResponseError`` keep, set after cfke-auth's own ``__init__`` (theirs
    would rewrite ``message``): there is no HTTP response to attach, only the status."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fields = dict.fromkeys(("response", "model", "error", "inner_exception", "continuation_token"))
        fields.update(dict.fromkeys(("exc_type", "exc_value", "exc_traceback")))
        fields.update(status_code=self.__dict__.get("status"), exc_msg=str(self))
        self.__dict__.update(fields)
        self.__dict__.setdefault("reason", None)  # a TokenError's own reason wins over the HTTP reason phrase


class AzureExchangeError(_AzureNative, ExchangeError, ClientAuthenticationError):
    """Entra ID refused or could not be reached: azure-core's ``ClientAuthenticationError`` (what Azure SDK callers
    catch) and an :class:`~cfke_auth.ExchangeError` with the AADSTS code and hint."""


class AzureTokenError(_AzureNative, TokenError, ClientAuthenticationError):  # type: ignore[misc]  # reason: ours
    """The token file is unusable: a ``ClientAuthenticationError`` and a :class:`~cfke_auth.TokenError`."""


class AzureConfigurationError(_AzureNative, ConfigurationError, ClientAuthenticationError):
    """A request's settings are bad (a scope, a tenant): a ``ClientAuthenticationError`` and a ConfigurationError."""


def sdk_error(error: CfkeAuthError) -> CfkeAuthError:
    """``error`` as the azure-core-native class of its kind."""
    return recast(error, AzureExchangeError, AzureTokenError, AzureConfigurationError)


class _RedactedAccessToken(AccessToken):
    """An :class:`AccessToken` whose repr leaves the token out (azure-core's prints it), and that does not pickle."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"AccessToken(token=<hidden>, expires_on={self.expires_on})"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("an access token is not pickled")


class _RedactedAccessTokenInfo(AccessTokenInfo):
    """An :class:`AccessTokenInfo` whose repr leaves the token out, and that does not pickle."""

    def __repr__(self) -> str:
        return f"AccessTokenInfo(token=<hidden>, expires_on={self.expires_on}, refresh_on={self.refresh_on})"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("an access token is not pickled")


class AzureTokens(NamedTuple):
    """One exchange's result in both shapes azure-core asks for, built once per exchange."""

    access_token: AccessToken
    info: AccessTokenInfo

    def __repr__(self) -> str:
        return f"AzureTokens({self.info!r})"


def to_azure(token: EntraToken) -> AzureTokens:
    """An Entra token in azure-core's types."""
    return AzureTokens(
        _RedactedAccessToken(token.token, token.expires_on),
        _RedactedAccessTokenInfo(
            token.token, token.expires_on, token_type=token.token_type, refresh_on=token.refresh_on
        ),
    )


class ScopedEngine(NamedTuple):
    """A scope set's refreshing token and its azure-core form."""

    engine: RefreshingCredential[EntraToken]
    converted: Converted[EntraToken, AzureTokens]


class BaseAzureCredential(ABC, Generic[R]):
    """The request routing behind :class:`AzureCredential` and :class:`~cfke_auth.azure.aio.AsyncAzureCredential`.

    ``_challenged`` runs a claims-challenge flow once and ``_cached`` reads a refreshing engine; each subclass
    implements both in its own I/O style, and ``_get`` picks one for a request. A plain request's exact scopes map
    straight to its engine, so the hot path is one dictionary lookup. Pickled as the settings.
    """

    def __init__(self, settings: EntraSettings) -> None:
        self._settings = settings
        self._http = Http(settings.http)
        self._plain: dict[tuple[str, ...], ScopedEngine] = {}

    def __repr__(self) -> str:
        s = self._settings
        return f"<{type(self).__name__} tenant={s.tenant_id} client={s.client_id} source={s.source!r}>"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self._settings,))

    def refreshing(self, *scopes: str) -> RefreshingCredential[EntraToken]:
        """The engine behind a scope set's tokens (shared by both flavours of these settings): for diagnostics."""
        return self._scoped(scopes, None, False).engine

    def _scoped(self, scopes: tuple[str, ...], tenant_id: str | None, enable_cae: bool) -> ScopedEngine:
        plain = tenant_id is None and not enable_cae
        if plain:
            found = self._plain.get(scopes)
            if found is not None:
                return found
        request = entra_request(self._settings, scopes, tenant_id, None, enable_cae)
        scoped = ScopedEngine(entra_credential(request), Converted(to_azure))
        if plain:
            scoped = self._plain.setdefault(scopes, scoped)
        return scoped

    def _get(self, scopes: tuple[str, ...], claims: str | None, tenant_id: str | None, enable_cae: bool) -> R:
        """The tokens for one request: a claims challenge bypasses the cache, anything else is served from it."""
        try:
            scoped = self._scoped(scopes, tenant_id, enable_cae)
            if claims:
                challenged = entra_request(self._settings, scopes, tenant_id, claims, enable_cae)
                return self._challenged(challenged_flow(challenged, scoped.engine))
        except CfkeAuthError as exc:
            raise sdk_error(exc) from None
        return self._cached(scoped)

    @abstractmethod
    def _challenged(self, factory: FlowFactory[EntraToken]) -> R:
        """Run a claims-challenge flow against the token endpoint."""

    @abstractmethod
    def _cached(self, scoped: ScopedEngine) -> R:
        """The engine's current tokens, exchanging first if it holds none that are usable."""


class AzureCredential(BaseAzureCredential[AzureTokens]):
    """Entra ID access tokens for the pod's identity, for any sync Azure SDK client's ``credential=``.

    One refreshing token per scope set, exchanged once however many threads ask; a claims challenge bypasses the
    cache. ``close()`` releases nothing: the HTTP client is shared by the process, and so is this credential
    (``get_azure_credential`` hands the same object to every caller with the same settings).
    """

    def _challenged(self, factory: FlowFactory[EntraToken]) -> AzureTokens:
        try:
            return to_azure(run(factory, self._settings.source, self._http, PROVIDER).value)
        except CfkeAuthError as exc:
            raise sdk_error(exc) from None

    def _cached(self, scoped: ScopedEngine) -> AzureTokens:
        try:
            return scoped.converted.of(scoped.engine.get())
        except CfkeAuthError as exc:
            raise sdk_error(exc) from None

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
        return self._get(scopes, *token_options(options)).info

    def close(self) -> None:
        """Nothing to release (see the class docstring); present for the ``SupportsTokenInfo`` protocol."""

    def __enter__(self) -> AzureCredential:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
