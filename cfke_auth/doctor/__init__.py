"""Checking a pod's keyless-credential setup: what ``cfke-auth doctor`` reports, as data.

:func:`diagnose` runs the library's own checks -- the token file, its issuer's discovery document and keys, and for
each cloud the environment sets up (:mod:`.aws`, :mod:`.azure`, :mod:`.gcp`) the settings, the token that cloud gets
and the values its side of the trust must hold -- and returns :class:`Finding` s. The checks read the process
environment and the token files as the library does; the network is used only for the issuer (unless ``offline``)
and, with ``exchange``, for one exchange per configured cloud, each refusal mapped to the misconfiguration it means.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from datetime import datetime, timezone
from typing import NamedTuple

from .._errors import ConfigurationError, TokenError
from .._source import TokenSource, resolve_token_path
from .findings import Finding, GcpFlags, Status
from .token import issuer_findings, token_findings

__all__ = ["Finding", "GcpFlags", "Status", "diagnose"]

_NO_CLOUD = (
    "no cloud is configured: set AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE, AZURE_CLIENT_ID and AZURE_TENANT_ID, "
    "or GOOGLE_APPLICATION_CREDENTIALS (`cfke-auth inject` wires them), or name a Google provider with the --gcp-* "
    "flags"
)


class _Cloud(NamedTuple):
    token_path: str  # the token this cloud gets
    check: Callable[[], list[Finding]]


def diagnose(
    token_path: str | None = None,
    *,
    offline: bool = False,
    exchange: bool = False,
    gcp_flags: GcpFlags | None = None,
    now: datetime | None = None,
) -> list[Finding]:
    """Every check's findings, in report order: the token, its issuer, then each configured cloud.

    ``token_path`` is the token to describe (else ``CFKE_TOKEN_FILE``, else the default path); each cloud checks the
    token its own variable names. ``offline`` skips the issuer's documents; ``exchange`` (which needs the network)
    runs each configured cloud's exchange once. A :class:`~cfke_auth.ConfigurationError` means the arguments
    themselves are wrong.
    """
    if exchange and offline:
        raise ConfigurationError("--exchange talks to the clouds, so it cannot be combined with --offline")
    from . import aws, azure, gcp  # on use: the CLI's formatting imports .findings, and must stay light

    flags = gcp_flags or GcpFlags()
    clouds = [
        _Cloud(aws.token_path(), functools.partial(aws.findings, exchange=exchange)) if aws.configured() else None,
        _Cloud(azure.token_path(), functools.partial(azure.findings, exchange=exchange))
        if azure.configured()
        else None,
        _Cloud(resolve_token_path(token_path), functools.partial(gcp.findings, flags, token_path, exchange=exchange))
        if gcp.configured(flags)
        else None,
    ]
    configured = [cloud for cloud in clouds if cloud is not None]
    cloud_tokens = [cloud.token_path for cloud in configured]
    path = resolve_token_path(token_path)
    report: list[Finding] = []
    verified = None
    try:
        source = TokenSource(path)
        claims = source.claims()
    except TokenError as exc:
        explicit = token_path or os.environ.get("CFKE_TOKEN_FILE")
        elsewhere = not explicit and any(p != path for p in cloud_tokens)
        report.append(
            Finding(
                "warn" if elsewhere else "fail",
                "token",
                f"{exc}" + ("; the configured clouds read their own token files" if elsewhere else ""),
                fix=None if elsewhere else "mount the service-account token, or pass --token-path",
            )
        )
        verified = next((p for p in cloud_tokens if p != path and _readable(p)), None)
    else:
        report += token_findings(source.path, claims, now or datetime.now(timezone.utc))
        verified = path
    if not offline and verified is not None:
        source = TokenSource(verified)
        report += issuer_findings(source.token(), source.path, source.claims())
    for cloud in configured:
        report += cloud.check()
    if not configured:
        report.append(Finding("warn", "clouds", _NO_CLOUD))
    return report


def _readable(path: str) -> bool:
    try:
        TokenSource(path).claims()
    except TokenError:
        return False
    return True
