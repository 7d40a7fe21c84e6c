"""The process-wide refreshing Google tokens: one per set of settings (access tokens), one per settings and audience
(ID tokens), shared by every adapter -- and by the broker -- that asks with the same parameters."""

from __future__ import annotations

import functools
from dataclasses import replace

from .._engine import RefreshingCredential
from .._errors import ConfigurationError
from .._flow import refreshing
from .._http import Http
from .._registry import shared
from .protocol import GoogleIdToken, GoogleToken, exchange_flow, id_token_flow
from .settings import IAM_SCOPE, GcpSettings, check_audience

__all__ = ["PROVIDER", "google_credential", "id_token_credential"]

#: How the engine labels the whole Google exchange (STS, then IAM Credentials when impersonating).
PROVIDER = "gcp"


def google_credential(settings: GcpSettings) -> RefreshingCredential[GoogleToken]:
    """The shared refreshing credential for ``settings``: created on first use, then the same object every time."""

    def make() -> RefreshingCredential[GoogleToken]:
        factory = functools.partial(exchange_flow, settings)
        return refreshing(factory, settings.source, Http(settings.http), provider=PROVIDER, name=f"gcp {settings.who}")

    return shared((PROVIDER, settings), make)


def id_token_credential(
    settings: GcpSettings, audience: str, include_email: bool = False
) -> RefreshingCredential[GoogleIdToken]:
    """The shared refreshing ID token of the settings' service account for ``audience`` (``include_email`` adds the
    ``email`` claims). Scopes play no part in an ID token, so settings differing only in scopes share one.

    Raises :class:`~cfke_auth.ConfigurationError` without a service account (Google mints ID tokens for service
    accounts only, not for federated principals) or for a malformed audience.
    """
    if settings.service_account is None:
        raise ConfigurationError(
            "Google ID tokens are issued for a service account, not for a federated principal: pass service_account "
            "(and grant the pod's principal roles/iam.workloadIdentityUser on it)"
        )
    audience = check_audience(audience)
    if not isinstance(include_email, bool):
        raise ConfigurationError(f"include_email must be True or False, not {include_email!r}")
    settings = replace(settings, scopes=(IAM_SCOPE,))

    def make() -> RefreshingCredential[GoogleIdToken]:
        factory = functools.partial(id_token_flow, settings, audience, include_email)
        name = f"gcp id-token {settings.who} for {audience}"
        return refreshing(factory, settings.source, Http(settings.http), provider=PROVIDER, name=name)

    return shared((PROVIDER, "id-token", settings, audience, include_email), make)
