"""The google-auth adapter: a :class:`google.auth.credentials.Credentials` backed by the refresh engine.

google-auth callers (``AuthorizedSession``, the gRPC metadata plugin, every google-cloud client library) call
``before_request`` on each request and ``refresh`` when they think the token is gone. Both ask the shared
:class:`~cfke_auth.RefreshingCredential`, which exchanges once for every thread and renews ahead of expiry, so the
hot path is one engine read and two header writes. ``token`` and ``expiry`` mirror the engine's current value the
way google-auth's own credentials expose theirs (``expiry`` naive UTC).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import Any

from google.auth import credentials as ga_credentials
from google.auth import exceptions as ga_exceptions

from ..engine import RefreshingCredential
from ..errors import CfkeAuthError
from ..flow import refreshing
from ..http import check_endpoint
from ..registry import shared
from ..source import TokenSource, resolve_token_path
from .exchange import (
    CLOUD_PLATFORM_SCOPE,
    DEFAULT_IAM_URL,
    DEFAULT_STS_URL,
    AccessToken,
    GcpExchange,
    exchange_flow,
)
from .names import parse_provider, service_account_email

__all__ = ["GcpCredentials", "GcpRefreshError", "get_gcp_credentials"]


#: A token obtained this recently is not renewed on a 401: it is the renewal of the token that was refused.
RENEWAL_GRACE = 30.0


class GcpRefreshError(ga_exceptions.RefreshError, CfkeAuthError):
    """No valid token could be had: a google-auth ``RefreshError`` (what Google's libraries handle) that is also a
    :class:`~cfke_auth.CfkeAuthError`; ``__cause__`` is the underlying typed error with its code and hint."""


def _engine(exchange: GcpExchange, token_path: str) -> RefreshingCredential[AccessToken]:
    """The process's one refreshing credential for this exchange and token file."""
    who = exchange.service_account or f"{exchange.provider.pool_id}/{exchange.provider.provider_id}"

    def make() -> RefreshingCredential[AccessToken]:
        return refreshing(partial(exchange_flow, exchange), TokenSource(token_path), provider="gcp", name=f"gcp {who}")

    return shared(("gcp", exchange, token_path), make)


class GcpCredentials(ga_credentials.Scoped, ga_credentials.CredentialsWithQuotaProject):
    """Workload Identity Federation credentials for google-auth and the google-cloud libraries.

    Build them with :func:`get_gcp_credentials`. Copies made by :meth:`with_quota_project` share the same refreshing
    credential; :meth:`with_scopes` gets the one for the new scopes.
    """

    def __init__(self, exchange: GcpExchange, token_path: str, quota_project_id: str | None = None) -> None:
        self._held: AccessToken | None = None  # the one source of token and expiry, replaced in one assignment
        super().__init__()  # type: ignore[no-untyped-call]
        self._exchange = exchange
        self._token_path = token_path
        self._engine = _engine(exchange, token_path)
        self._scopes = list(exchange.scopes)
        self._quota_project_id = quota_project_id

    @property
    def token(self) -> str | None:
        """The current access token (None before the first refresh)."""
        held = self._held
        return held.token if held is not None else None

    @token.setter
    def token(self, _: object) -> None:
        """google-auth's constructor assigns None here; the held value stays the source of truth."""

    @property
    def expiry(self) -> datetime | None:
        """When the current token expires (naive UTC, as google-auth compares it)."""
        held = self._held
        return held.expiry if held is not None else None

    @expiry.setter
    def expiry(self, _: object) -> None:
        """google-auth's constructor assigns None here; the held value stays the source of truth."""

    def __reduce__(self) -> tuple[type[GcpCredentials], tuple[GcpExchange, str, str | None]]:
        """Pickled as their parameters, as google-auth's own credentials are (for multiprocessing, Beam, Dask): the
        unpickling process gets its own refreshing credential."""
        return (GcpCredentials, (self._exchange, self._token_path, self._quota_project_id))

    def __repr__(self) -> str:  # never the token
        target = self._exchange.service_account or self._exchange.provider.audience
        return f"<GcpCredentials {target} expiry={self.expiry!r} quota_project_id={self._quota_project_id!r}>"

    @property
    def requires_scopes(self) -> bool:
        """Never: without explicit scopes the credentials carry ``cloud-platform``."""
        return False

    @property
    def service_account_email(self) -> str | None:
        """The impersonated service account, if any."""
        return self._exchange.service_account

    def _current(self) -> AccessToken:
        try:
            value = self._engine.get()
        except CfkeAuthError as exc:
            raise GcpRefreshError(  # type: ignore[no-untyped-call]
                str(exc), retryable=getattr(exc, "retryable", False)
            ) from exc
        self._held = value
        return value

    def refresh(self, request: Any) -> None:
        """Make ``token`` and ``expiry`` current. google-auth refreshes a token it still considers valid only after
        an API answered 401: then the held token is dropped and replaced, unless it was obtained in the last
        :data:`RENEWAL_GRACE` seconds (google-auth does not say which token was refused, so a burst of 401s renews
        once). Otherwise the engine's current value is taken, so refreshing often does not stampede Google STS."""
        held = self._held
        if held is not None and self.valid:
            self._engine.invalidate(held, older_than=RENEWAL_GRACE)
        self._current()

    def before_request(self, request: Any, method: str, url: str, headers: MutableMapping[str, str]) -> None:
        """Put the current token (and the quota project) on ``headers``; the per-request hot path."""
        headers["authorization"] = self._current().header
        if self._quota_project_id:
            headers["x-goog-user-project"] = self._quota_project_id

    def with_scopes(self, scopes: Sequence[str] | None, default_scopes: Sequence[str] | None = None) -> GcpCredentials:
        """Credentials for other scopes (``default_scopes`` when ``scopes`` is empty), same identity."""
        wanted = _scopes(scopes or default_scopes)
        return GcpCredentials(replace(self._exchange, scopes=wanted), self._token_path, self._quota_project_id)

    def with_quota_project(self, quota_project_id: str | None) -> GcpCredentials:
        """The same credentials billing ``quota_project_id`` (sent as ``x-goog-user-project``)."""
        return GcpCredentials(self._exchange, self._token_path, quota_project_id)

    def get_cred_info(self) -> Mapping[str, str] | None:
        """What google-cloud libraries add to auth error messages."""
        info = {"credential_source": "cfke-auth", "credential_type": "external account credentials (cfke-auth)"}
        if self._exchange.service_account:
            info["principal"] = self._exchange.service_account
        return info


def _scopes(scopes: str | Sequence[str] | None) -> tuple[str, ...]:
    if scopes is None:
        return (CLOUD_PLATFORM_SCOPE,)
    values = [scopes] if isinstance(scopes, str) else list(scopes)
    if not values or not all(isinstance(s, str) and s.strip() and " " not in s for s in values):
        raise ValueError(
            "scopes must be one or more scope URLs, e.g. 'https://www.googleapis.com/auth/devstorage.read_only'"
        )
    return tuple(dict.fromkeys(values))


def get_gcp_credentials(
    pool: str,
    provider: str,
    *,
    project_number: str | int | None = None,
    service_account: str | None = None,
    scopes: str | Sequence[str] | None = None,
    token_path: str | os.PathLike[str] | None = None,
    sts_endpoint_url: str | None = None,
    iam_endpoint_url: str | None = None,
    quota_project_id: str | None = None,
) -> GcpCredentials:
    """Google credentials for this pod through Workload Identity Federation, for any google-auth caller.

    ``pool`` and ``provider`` name the workload identity pool provider (IDs, resource names or the provider's
    audience); ``project_number`` is the project *number* when they do not carry it. With ``service_account`` the
    federated identity impersonates that account; without it, the pod's principal is used directly. ``scopes``
    defaults to ``cloud-platform``. The endpoint arguments are base URLs (defaults: Google's). Arguments are checked
    before any request (``ValueError``); calls with the same arguments share one refreshing credential.
    """
    exchange = GcpExchange(
        parse_provider(pool, provider, project_number),
        _scopes(scopes),
        service_account_email(service_account),
        check_endpoint(sts_endpoint_url or DEFAULT_STS_URL, what="sts_endpoint_url"),
        check_endpoint(iam_endpoint_url or DEFAULT_IAM_URL, what="iam_endpoint_url"),
    )
    path = os.path.abspath(resolve_token_path(token_path))
    return GcpCredentials(exchange, path, quota_project_id)
