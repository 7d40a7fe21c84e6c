"""The process-wide refreshing STS credential behind every AWS adapter and the ``aws`` commands.

:func:`sts_credential` returns the one :class:`~cfke_auth.RefreshingCredential` for a set of settings, so every
session, client and command built with the same parameters in a process shares one schedule and never stampedes STS.
"""

from __future__ import annotations

import functools

from .._engine import RefreshingCredential
from .._flow import refreshing, run
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


def sts_credential(settings: AwsSettings) -> RefreshingCredential[StsCredentials]:
    """The shared refreshing credential for ``settings``: created on first use, then the same object every time."""

    def make() -> RefreshingCredential[StsCredentials]:
        factory = functools.partial(assume_role_flow, settings)
        name = f"{PROVIDER} {settings.role_arn}"
        return refreshing(factory, settings.source, http_for(settings), provider=PROVIDER, name=name)

    return shared((PROVIDER, settings), make)


def exchange_once(settings: AwsSettings) -> StsCredentials:
    """One exchange, now, without the engine: for short-lived processes (the ``aws`` commands) that need no
    refresh schedule and should fail at once, with the STS error, rather than retry."""
    factory = functools.partial(assume_role_flow, settings)
    return run(factory, settings.source, http_for(settings), PROVIDER).value
