"""The hvac adapter: an ``hvac.Client`` whose Vault token is the refresh engine's, and ``cfke_auth.get_vault_client``.

hvac sends ``adapter.token`` with every request and keeps it as a plain attribute, set once by a login. Here the
adapter's ``token`` is a property reading the shared :class:`~cfke_auth.RefreshingCredential` (so ``client.token``
is always the current token, renewed in the background), and a ``requests`` auth object on the adapter's session
puts that token on each request as it is sent and remembers which one it sent: a 403 means that token may have been
revoked, so it is dropped (once per burst) and the request retried once with its successor. Failures are raised as
classes that are both hvac's ``VaultError`` and cfke-auth's own.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import hvac  # type: ignore[import-untyped]
import requests
from hvac import adapters as hvac_adapters
from hvac import exceptions as hvac_exceptions

from .._engine import RENEWAL_GRACE, RefreshingCredential
from .._errors import CfkeAuthError, ConfigurationError, ExchangeError, TokenError, recast
from .protocol import VaultToken
from .refresh import vault_credential
from .settings import VaultOptions, resolve

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "EngineAdapter",
    "VaultConfigurationError",
    "VaultExchangeError",
    "VaultTokenAuth",
    "VaultTokenError",
    "get_vault_client",
    "sdk_error",
]


class _HvacNative(hvac_exceptions.VaultError):  # type: ignore[misc]
    """hvac's ``VaultError`` with what hvac code reads on one (``errors``, ``method``, ``url``, ``text``,
    ``json``); there was no Vault answer to a request of the caller's, so ``errors`` is the message alone."""

    method = url = text = json = None

    @property
    def errors(self) -> list[str]:
        return [str(self)]

    def __str__(self) -> str:
        return Exception.__str__(self)


class VaultExchangeError(ExchangeError, _HvacNative):
    """The login or renewal was refused or failed: an hvac ``VaultError`` and an ``ExchangeError``."""


class VaultTokenError(TokenError, _HvacNative):
    """The token file is unusable: an hvac ``VaultError`` and a ``TokenError``."""


class VaultConfigurationError(ConfigurationError, _HvacNative):
    """A setting found bad, or a token set by hand: an hvac ``VaultError`` and a ``ConfigurationError``."""


def sdk_error(error: CfkeAuthError) -> CfkeAuthError:
    """``error`` as the hvac-native class of its kind."""
    return recast(error, VaultExchangeError, VaultTokenError, VaultConfigurationError)


def _current(credential: RefreshingCredential[VaultToken]) -> VaultToken:
    try:
        return credential.get()
    except CfkeAuthError as exc:
        raise sdk_error(exc) from None


class VaultTokenAuth(requests.auth.AuthBase):
    """Puts the engine's current Vault token on each request (``X-Vault-Token``). A 403 answer drops that token
    unless it arrived within :data:`~cfke_auth.rfc8693.credentials.RENEWAL_GRACE` (one renewal per burst of
    refusals), and the request is sent once more when that yields another token: a revoked token is replaced, while
    a token refused by its policies is renewed, found alive, and the 403 stands."""

    def __init__(self, credential: RefreshingCredential[VaultToken]) -> None:
        self.credential = credential

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        sent = _current(self.credential)
        request.headers["X-Vault-Token"] = sent.token
        request.hooks["response"].append(functools.partial(self._refused, sent))
        return request

    def _refused(self, sent: VaultToken, response: requests.Response, **send_options: Any) -> requests.Response:
        if response.status_code != 403:
            return response
        self.credential.invalidate(sent, older_than=RENEWAL_GRACE)
        fresh = _current(self.credential)
        if fresh.token == sent.token:
            return response
        retry = response.request.copy()
        retry.headers["X-Vault-Token"] = fresh.token
        response.content  # noqa: B018 - read the body, so its connection goes back to the pool
        response.close()
        again = response.connection.send(retry, **send_options)
        again.history.append(response)
        again.request = retry
        return again


class EngineAdapter(hvac_adapters.JSONAdapter):  # type: ignore[misc]
    """hvac's JSON adapter with its token from the engine: ``client.token`` is the current Vault token, and the
    session's :class:`VaultTokenAuth` sends it. Setting a token by hand is refused (``None``, as ``logout()`` sets,
    is ignored): a token that is not the engine's would never be renewed."""

    def __init__(self, credential: RefreshingCredential[VaultToken], **options: Any) -> None:
        options["token"] = None  # not the VAULT_TOKEN / ~/.vault-token hvac.Client picked up for a plain client
        super().__init__(**options)
        self.credential = credential
        self.session.auth = VaultTokenAuth(credential)

    def __repr__(self) -> str:
        return f"<EngineAdapter {self.credential!r}>"

    @property
    def token(self) -> str:
        """The current Vault token (logging in first when needed); the engine read inlined, as it is the hot path."""
        try:
            return self.credential.get().token
        except CfkeAuthError as exc:
            raise sdk_error(exc) from None

    @token.setter
    def token(self, value: str | None) -> None:
        if value is not None:
            raise VaultConfigurationError(
                "this client's Vault token comes from the JWT login cfke-auth runs and renews; to use another "
                "token, build a plain hvac.Client"
            )


def get_vault_client(role: str, **options: Unpack[VaultOptions]) -> hvac.Client:
    """An ``hvac.Client`` logged in to Vault (or OpenBao) as JWT ``role`` with the pod's service-account token.

    The login happens on first use; the Vault token is renewed ahead of its TTL in the background and replaced by a
    fresh login once renewals stop extending it. Clients built with the same parameters in one process share the
    token. The options are those of :class:`~cfke_auth.vault.settings.VaultOptions`. Bad values raise
    :class:`~cfke_auth.ConfigurationError` before any request.
    """
    settings = resolve(role, **options)
    adapter = functools.partial(EngineAdapter, vault_credential(settings))
    return hvac.Client(url=settings.url, verify=settings.ca_cert, namespace=settings.namespace, adapter=adapter)
