"""The process-wide refreshing STS credential behind every AWS adapter and the ``aws`` commands.

:func:`sts_credential` returns the one :class:`~cfke_auth.RefreshingCredential` for a set of settings, so every
session, client and command built with the same parameters in a process shares one schedule and never stampedes STS.
"""

from __future__ import annotations

import functools

from .._engine import Issued, RefreshingCredential
from .._flow import Flow, refreshing, run
from .._http import Http
from .._registry import shared
from .._tls import AWS_CA_VARIABLES
from .errors import PROVIDER
from .protocol import StsCredentials, assume_role_flow
from .settings import AwsSettings

__all__ = ["exchange_once", "http_for", "sts_credential"]


def http_for(settings: AwsSettings) -> Http:
    """The HTTP stack of the AWS exchange: the settings' options, honouring ``AWS_CA_BUNDLE`` as botocore does."""
    return Http(settings.http, AWS_CA_VARIABLES)


def sts_credential(settings: AwsSettings, *, min_left: float = 0.0) -> RefreshingCredential[StsCredentials]:
    """The shared refreshing credential for ``settings``: created on first use, then the same object every time.

    With ``min_left``, it is refreshed before fewer than that many seconds of its lifetime remain, whatever the
    engine's own schedule says: the broker hands credentials to SDKs that refresh them themselves 15 minutes before
    expiry, and must never serve them less."""

    def make() -> RefreshingCredential[StsCredentials]:
        factory = functools.partial(_leaving, settings, min_left)
        name = f"{PROVIDER} {settings.role_arn}"
        return refreshing(factory, settings.source, http_for(settings), provider=PROVIDER, name=name)

    return shared((PROVIDER, settings, min_left) if min_left else (PROVIDER, settings), make)


def _leaving(settings: AwsSettings, min_left: float) -> Flow[StsCredentials]:
    """The exchange, advising the engine to refresh ``min_left`` seconds before expiry (if that is earlier)."""
    issued = yield from assume_role_flow(settings)
    if not min_left:
        return issued
    return Issued(issued.value, issued.expires_at, issued.expires_at - min_left)


def exchange_once(settings: AwsSettings) -> StsCredentials:
    """One exchange, now, without the engine: for short-lived processes (the ``aws`` commands) that need no
    refresh schedule and should fail at once, with the STS error, rather than retry."""
    factory = functools.partial(assume_role_flow, settings)
    return run(factory, settings.source, http_for(settings), PROVIDER).value
