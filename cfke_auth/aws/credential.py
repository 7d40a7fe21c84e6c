"""The process-wide refreshing STS credential behind every AWS adapter and the ``aws`` commands.

:func:`resolve` checks and completes the caller's parameters (no I/O); :func:`sts_credential` returns the one
:class:`~cfke_auth.RefreshingCredential` for them, so every session, client and command built with the same
parameters in a process shares one schedule and never stampedes STS.
"""

from __future__ import annotations

import functools
import os
from typing import NamedTuple, TypedDict

from ..engine import RefreshingCredential
from ..flow import refreshing, run
from ..registry import shared
from ..source import TokenSource, resolve_token_path
from .arguments import resolve_duration, resolve_role_arn, resolve_session_name
from .endpoint import resolve_region, resolve_sts_endpoint
from .errors import PROVIDER
from .sts import AssumeRoleParams, StsCredentials, assume_role_flow

__all__ = ["AwsOptions", "AwsSetup", "exchange_once", "resolve", "sts_credential"]


class AwsOptions(TypedDict, total=False):
    """The keyword parameters every AWS entry point takes besides ``role_arn`` (all optional).

    ``region_name`` (else ``AWS_REGION``/``AWS_DEFAULT_REGION``) is the SDK region and picks the regional STS
    endpoint; ``session_name`` (else ``AWS_ROLE_SESSION_NAME``, else ``NAMESPACE.POD`` from the token) names the
    role session in CloudTrail; ``duration_seconds`` (900-43200, else the role's default); ``token_path`` (else
    ``AWS_WEB_IDENTITY_TOKEN_FILE``, ``CFKE_TOKEN_FILE``, the projected path); ``sts_endpoint_url`` (else
    ``AWS_ENDPOINT_URL_STS``, ``AWS_ENDPOINT_URL``, the regional endpoint).
    """

    region_name: str | None
    session_name: str | None
    duration_seconds: int | None
    token_path: str | os.PathLike[str] | None
    sts_endpoint_url: str | None


class AwsSetup(NamedTuple):
    """Everything a role assumption needs, validated: what to ask STS, the SDK region, and the token file."""

    params: AssumeRoleParams
    region: str | None
    token_path: str


def resolve(
    role_arn: str | None = None,
    *,
    region_name: str | None = None,
    session_name: str | None = None,
    duration_seconds: int | None = None,
    token_path: str | os.PathLike[str] | None = None,
    sts_endpoint_url: str | None = None,
) -> AwsSetup:
    """Arguments completed from the environment (``AWS_ROLE_ARN``, ``AWS_ROLE_SESSION_NAME``, ``AWS_REGION``, ...)
    and checked; ``ValueError`` names the first bad one. Reads no file and makes no request."""
    region = resolve_region(region_name)
    params = AssumeRoleParams(
        role_arn=resolve_role_arn(role_arn),
        endpoint=resolve_sts_endpoint(sts_endpoint_url, region),
        session_name=resolve_session_name(session_name),
        duration_seconds=resolve_duration(duration_seconds),
    )
    path = os.path.abspath(resolve_token_path(token_path, "AWS_WEB_IDENTITY_TOKEN_FILE"))
    return AwsSetup(params, region, path)


def sts_credential(setup: AwsSetup) -> RefreshingCredential[StsCredentials]:
    """The shared refreshing credential for ``setup``: created on first use, then the same object every time."""

    def make() -> RefreshingCredential[StsCredentials]:
        factory = functools.partial(assume_role_flow, setup.params)
        name = f"{PROVIDER} {setup.params.role_arn}"
        return refreshing(factory, TokenSource(setup.token_path), provider=PROVIDER, name=name)

    return shared((PROVIDER, setup.params, setup.token_path), make)


def exchange_once(setup: AwsSetup) -> StsCredentials:
    """One exchange, now, without the engine: for short-lived processes (the ``aws`` commands) that need no
    refresh schedule and should fail at once, with the STS error, rather than retry."""
    factory = functools.partial(assume_role_flow, setup.params)
    return run(factory, TokenSource(setup.token_path), PROVIDER).value
