"""The google-auth adapter: a :class:`google.auth.credentials.Credentials` backed by the refresh engine.

google-auth callers (``AuthorizedSession``, the gRPC metadata plugin, every google-cloud client library) call
``before_request`` on each request and ``refresh`` when they think the token is gone. Both ask the shared
:class:`~cfke_auth.RefreshingCredential`, which exchanges once for every thread and renews ahead of expiry in the
background, so the hot path is one engine read and two header writes. ``token`` and ``expiry`` mirror the engine's
current value the way google-auth's own credentials expose theirs (``expiry`` naive UTC). Failures are raised as
classes that are both google-auth's ``RefreshError`` and cfke-auth's own.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from google.auth import credentials as ga_credentials
from google.auth import exceptions as ga_exceptions

from .._engine import RefreshingCredential
from .._errors import CfkeAuthError, ConfigurationError, ExchangeError, TokenError, recast
from .._http import HttpOptions
from .._source import SubjectTokenSource
from .protocol import GoogleToken
from .refresh import google_credential
from .settings import GcpSettings, check_scopes, resolve

__all__ = [
    "RENEWAL_GRACE",
    "GcpCredentials",
    "GoogleConfigurationError",
    "GoogleExchangeError",
    "GoogleTokenError",
    "get_gcp_credentials",
    "sdk_error",
]


#: A token obtained this recently is not renewed on a 401: it is the renewal of the token that was refused.
RENEWAL_GRACE = 30.0


class _GoogleNative:
    """What google-auth's ``GoogleAuthError`` keeps (``_retryable``, read by its ``retryable``), kept in step with
    cfke-auth's own ``retryable`` field."""

    @property
    def retryable(self) -> bool:
        return bool(self.__dict__.get("_retryable", False))

    @retryable.setter
    def retryable(self, value: bool) -> None:
        self.__dict__["_retryable"] = value


class GoogleExchangeError(_GoogleNative, ExchangeError, ga_exceptions.RefreshError):
    """Google refused or could not be reached: a google-auth ``RefreshError`` (what Google's libraries handle) and
    an :class:`~cfke_auth.ExchangeError` with the provider's code and hint."""


class GoogleTokenError(_GoogleNative, TokenError, ga_exceptions.RefreshError):
    """The token file is unusable: a google-auth ``RefreshError`` and a :class:`~cfke_auth.TokenError`."""


class GoogleConfigurationError(_GoogleNative, ConfigurationError, ga_exceptions.RefreshError):
    """A setting found bad at refresh time: a google-auth ``RefreshError`` and a ConfigurationError."""


def sdk_error(error: CfkeAuthError) -> CfkeAuthError:
    """``error`` as the google-auth-native class of its kind."""
    return recast(error, GoogleExchangeError, GoogleTokenError, GoogleConfigurationError)


class GcpCredentials(ga_credentials.Scoped, ga_credentials.CredentialsWithQuotaProject):
    """Workload Identity Federation credentials for google-auth and the google-cloud libraries.

    Build them with :func:`get_gcp_credentials`. Without explicit scopes they report ``requires_scopes``, so a
    client library's ``with_scopes_if_required`` gives them the scopes its API needs (as google-auth's own
    credentials do); used unscoped, they carry ``cloud-platform``. Copies made by :meth:`with_quota_project` share
    the same refreshing credential; :meth:`with_scopes` gets the one for the new scopes. Pickled as their parameters.
    """

    def __init__(
        self, settings: GcpSettings, quota_project_id: str | None = None, *, requires_scopes: bool = False
    ) -> None:
        self._held: GoogleToken | None = None  # the one source of token and expiry, replaced in one assignment
        super().__init__()  # type: ignore[no-untyped-call]
        self._settings = settings
        self._engine = google_credential(settings)
        self._scopes = list(settings.scopes)
        self._quota_project_id = quota_project_id
        self._requires_scopes = requires_scopes

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

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as their parameters, as google-auth's own credentials are (for multiprocessing, Beam, Dask): the
        unpickling process gets its own refreshing credential."""
        return (_rebuilt, (self._settings, self._quota_project_id, self._requires_scopes))

    def __repr__(self) -> str:  # never the token
        target = self._settings.service_account or self._settings.provider.audience
        return f"<GcpCredentials {target} expiry={self.expiry!r} quota_project_id={self._quota_project_id!r}>"

    @property
    def refreshing(self) -> RefreshingCredential[GoogleToken]:
        """The engine behind these credentials (shared by every copy with the same settings): for diagnostics."""
        return self._engine

    @property
    def requires_scopes(self) -> bool:
        """True until scopes are chosen (by ``scopes=`` or :meth:`with_scopes`): client libraries then add theirs."""
        return self._requires_scopes

    @property
    def service_account_email(self) -> str | None:
        """The impersonated service account, if any."""
        return self._settings.service_account

    def _current(self) -> GoogleToken:
        try:
            value = self._engine.get()
        except CfkeAuthError as exc:
            raise sdk_error(exc) from None
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
        settings = replace(self._settings, scopes=check_scopes(scopes or default_scopes))
        return GcpCredentials(settings, self._quota_project_id)

    def with_quota_project(self, quota_project_id: str | None) -> GcpCredentials:
        """The same credentials billing ``quota_project_id`` (sent as ``x-goog-user-project``)."""
        return GcpCredentials(self._settings, quota_project_id, requires_scopes=self._requires_scopes)

    def get_cred_info(self) -> Mapping[str, str] | None:
        """What google-cloud libraries add to auth error messages."""
        info = {"credential_source": "cfke-auth", "credential_type": "external account credentials (cfke-auth)"}
        if self._settings.service_account:
            info["principal"] = self._settings.service_account
        return info


def _rebuilt(settings: GcpSettings, quota_project_id: str | None, requires_scopes: bool) -> GcpCredentials:
    return GcpCredentials(settings, quota_project_id, requires_scopes=requires_scopes)


def get_gcp_credentials(
    pool: str,
    provider: str,
    *,
    project_number: str | int | None = None,
    service_account: str | None = None,
    scopes: str | Sequence[str] | None = None,
    token_path: str | os.PathLike[str] | None = None,
    token_source: SubjectTokenSource | None = None,
    sts_endpoint_url: str | None = None,
    iam_endpoint_url: str | None = None,
    quota_project_id: str | None = None,
    http: HttpOptions | None = None,
) -> GcpCredentials:
    """Google credentials for this pod through Workload Identity Federation, for any google-auth caller.

    ``pool`` and ``provider`` name the workload identity pool provider (IDs, resource names or the provider's
    audience); ``project_number`` is the project *number* when they do not carry it. With ``service_account`` the
    federated identity impersonates that account; without it, the pod's principal is used directly. ``scopes``
    defaults to ``cloud-platform``, or to what a client library asks for. The endpoint arguments are base URLs
    (defaults: Google's). Arguments are checked before any request (:class:`~cfke_auth.ConfigurationError`); calls
    with the same arguments share one refreshing credential.
    """
    settings = resolve(
        pool,
        provider,
        project_number=project_number,
        service_account=service_account,
        scopes=scopes,
        token_path=token_path,
        token_source=token_source,
        sts_endpoint_url=sts_endpoint_url,
        iam_endpoint_url=iam_endpoint_url,
        http=http,
    )
    return GcpCredentials(settings, quota_project_id, requires_scopes=scopes is None)
