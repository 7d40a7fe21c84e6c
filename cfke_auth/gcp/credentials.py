"""The google-auth adapters: :class:`google.auth.credentials.Credentials` backed by the refresh engine.

google-auth callers (``AuthorizedSession``, the gRPC metadata plugin, every google-cloud client library) call
``before_request`` on each request and ``refresh`` when they think the token is gone. Both ask the shared
:class:`~cfke_auth.RefreshingCredential`, which exchanges once for every thread and renews ahead of expiry in the
background, so the hot path is one engine read and two header writes. ``token`` and ``expiry`` mirror the engine's
current value the way google-auth's own credentials expose theirs (``expiry`` naive UTC). Three shapes:
:class:`GcpCredentials` (access tokens, direct resource access), :class:`GcpImpersonatedCredentials` (a service
account's access tokens, and google-auth's ``Signing`` through IAM ``signBlob``) and :class:`GcpIdTokenCredentials`
(a service account's ID tokens for one audience). Failures are raised as classes that are both google-auth's
``RefreshError`` and cfke-auth's own.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from google.auth import credentials as ga_credentials
from google.auth import crypt as ga_crypt
from google.auth import exceptions as ga_exceptions

from .._engine import RENEWAL_GRACE, RefreshingCredential
from .._errors import CfkeAuthError, ConfigurationError, ExchangeError, TokenError, recast
from .protocol import BearerToken, GoogleIdToken, GoogleToken
from .refresh import google_credential, id_token_credential
from .settings import GcpIdTokenOptions, GcpOptions, GcpSettings, check_audience, check_scopes, resolve
from .signing import sign_blob

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "GcpCredentials",
    "GcpIdTokenCredentials",
    "GcpImpersonatedCredentials",
    "GoogleConfigurationError",
    "GoogleExchangeError",
    "GoogleTokenError",
    "IamSigner",
    "get_gcp_credentials",
    "get_gcp_id_token_credentials",
    "sdk_error",
]

B = TypeVar("B", bound=BearerToken)


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


class _EngineBacked(ga_credentials.Credentials, Generic[B]):
    """What every adapter here shares: the settings, ``token`` and ``expiry`` read from the held engine value,
    ``refresh`` and the bearer header from the engine."""

    def __init__(self, settings: GcpSettings, engine: RefreshingCredential[B]) -> None:
        self._held: B | None = None  # the one source of token and expiry, replaced in one assignment
        super().__init__()  # type: ignore[no-untyped-call]
        self._settings = settings
        self._engine = engine

    @property
    def token(self) -> str | None:
        """The current token (None before the first refresh)."""
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

    @property
    def refreshing(self) -> RefreshingCredential[B]:
        """The engine behind these credentials (shared by every copy with the same settings): for diagnostics."""
        return self._engine

    @property
    def service_account_email(self) -> str | None:
        """The service account the tokens are for, if one is impersonated."""
        return self._settings.service_account

    def _current(self) -> B:
        try:
            value = self._engine.get()
        except CfkeAuthError as exc:
            raise sdk_error(exc) from None
        self._held = value
        return value

    def refresh(self, request: Any) -> None:
        """Make ``token`` and ``expiry`` current. google-auth refreshes a token it still considers valid only after
        a service answered 401: then the held token is dropped and replaced, unless it was obtained in the last
        :data:`RENEWAL_GRACE` seconds (google-auth does not say which token was refused, so a burst of 401s renews
        once). Otherwise the engine's current value is taken, so refreshing often does not stampede Google."""
        held = self._held
        if held is not None and self.valid:
            self._engine.invalidate(held, older_than=RENEWAL_GRACE)
        self._current()

    def before_request(self, request: Any, method: str, url: str, headers: MutableMapping[str, str]) -> None:
        """Put the current token on ``headers``; the per-request hot path."""
        headers["authorization"] = self._current().header


class GcpCredentials(_EngineBacked[GoogleToken], ga_credentials.Scoped, ga_credentials.CredentialsWithQuotaProject):
    """Workload Identity Federation credentials for google-auth and the google-cloud libraries.

    Build them with :func:`get_gcp_credentials`. Without explicit scopes they report ``requires_scopes``, so a
    client library's ``with_scopes_if_required`` gives them the scopes its API needs (as google-auth's own
    credentials do); used unscoped, they carry ``cloud-platform``. Copies made by :meth:`with_quota_project` share
    the same refreshing credential; :meth:`with_scopes` gets the one for the new scopes. Pickled as their parameters.
    With a service account to impersonate they are :class:`GcpImpersonatedCredentials`, which can also sign.
    """

    def __init__(
        self, settings: GcpSettings, quota_project_id: str | None = None, *, requires_scopes: bool = False
    ) -> None:
        super().__init__(settings, google_credential(settings))
        self._scopes = list(settings.scopes)
        self._quota_project_id = quota_project_id
        self._requires_scopes = requires_scopes

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as their parameters, as google-auth's own credentials are (for multiprocessing, Beam, Dask): the
        unpickling process gets its own refreshing credential."""
        return (_credentials, (self._settings, self._quota_project_id, self._requires_scopes))

    def __repr__(self) -> str:  # never the token
        target = self._settings.service_account or self._settings.provider.audience
        return f"<{type(self).__name__} {target} expiry={self.expiry!r} quota_project_id={self._quota_project_id!r}>"

    @property
    def requires_scopes(self) -> bool:
        """True until scopes are chosen (by ``scopes=`` or :meth:`with_scopes`): client libraries then add theirs."""
        return self._requires_scopes

    def before_request(self, request: Any, method: str, url: str, headers: MutableMapping[str, str]) -> None:
        """Put the current token (and the quota project) on ``headers``; the per-request hot path."""
        headers["authorization"] = self._current().header
        if self._quota_project_id:
            headers["x-goog-user-project"] = self._quota_project_id

    def with_scopes(self, scopes: Sequence[str] | None, default_scopes: Sequence[str] | None = None) -> GcpCredentials:
        """Credentials for other scopes (``default_scopes`` when ``scopes`` is empty), same identity."""
        settings = replace(self._settings, scopes=check_scopes(scopes or default_scopes))
        return _credentials(settings, self._quota_project_id)

    def with_quota_project(self, quota_project_id: str | None) -> GcpCredentials:
        """The same credentials billing ``quota_project_id`` (sent as ``x-goog-user-project``)."""
        return _credentials(self._settings, quota_project_id, self._requires_scopes)

    def get_cred_info(self) -> Mapping[str, str] | None:
        """What google-cloud libraries add to auth error messages."""
        info = {"credential_source": "cfke-auth", "credential_type": "external account credentials (cfke-auth)"}
        if self._settings.service_account:
            info["principal"] = self._settings.service_account
        return info


class IamSigner(ga_crypt.Signer):
    """A google-auth ``Signer`` that signs as a service account through IAM Credentials ``signBlob`` (RSA SHA-256
    with a key Google holds), authorized by the pod's federated principal."""

    def __init__(self, settings: GcpSettings) -> None:
        self._settings = settings

    def __repr__(self) -> str:
        return f"<IamSigner {self._settings.service_account}>"

    @property
    def key_id(self) -> str | None:
        """None: which of its keys Google signs with is known only from each answer, as with google-auth's own
        IAM signer."""
        return None

    def sign(self, message: str | bytes) -> bytes:
        """The signature of ``message`` (a ``str`` is UTF-8 encoded); one ``signBlob`` call."""
        payload = message.encode("utf-8") if isinstance(message, str) else bytes(message)
        try:
            return sign_blob(self._settings, payload).signature
        except CfkeAuthError as exc:
            raise sdk_error(exc) from None


class GcpImpersonatedCredentials(GcpCredentials, ga_credentials.Signing):
    """:class:`GcpCredentials` impersonating a service account, which also implement google-auth's ``Signing``:
    ``sign_bytes`` signs as the service account through IAM ``signBlob`` (so google-cloud-storage's
    ``generate_signed_url(version="v4")`` works), for which the pod's principal needs
    ``roles/iam.serviceAccountTokenCreator`` on the service account."""

    def __init__(
        self, settings: GcpSettings, quota_project_id: str | None = None, *, requires_scopes: bool = False
    ) -> None:
        super().__init__(settings, quota_project_id, requires_scopes=requires_scopes)
        self._signer = IamSigner(settings)

    def sign_bytes(self, message: str | bytes) -> bytes:
        """``message`` signed (RSA PKCS#1 v1.5, SHA-256) by the service account's Google-held key."""
        return self._signer.sign(message)

    @property
    def signer_email(self) -> str | None:
        """The service account the signatures are from."""
        return self._settings.service_account

    @property
    def signer(self) -> IamSigner:
        """The google-auth ``Signer`` behind :meth:`sign_bytes`."""
        return self._signer


def _credentials(
    settings: GcpSettings, quota_project_id: str | None = None, requires_scopes: bool = False
) -> GcpCredentials:
    """The adapter for ``settings``: one that can sign when it impersonates a service account."""
    cls = GcpImpersonatedCredentials if settings.service_account else GcpCredentials
    return cls(settings, quota_project_id, requires_scopes=requires_scopes)


class GcpIdTokenCredentials(_EngineBacked[GoogleIdToken]):
    """Credentials whose ``token`` is a Google-signed ID token of a service account for one audience: the bearer
    Cloud Run, Cloud Functions and IAP check (google-auth's ``IDTokenCredentials`` shape).

    Build them with :func:`get_gcp_id_token_credentials`; the ID token is minted by IAM Credentials
    ``generateIdToken`` and renewed by the engine before its hour ends. Pickled as their parameters.
    """

    def __init__(self, settings: GcpSettings, audience: str, include_email: bool = False) -> None:
        super().__init__(settings, id_token_credential(settings, audience, include_email))
        self._audience = audience
        self._include_email = include_email

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as their parameters; the unpickling process gets its own refreshing credential."""
        return (GcpIdTokenCredentials, (self._settings, self._audience, self._include_email))

    def __repr__(self) -> str:  # never the token
        return f"<GcpIdTokenCredentials {self._settings.service_account} for {self._audience} expiry={self.expiry!r}>"

    @property
    def audience(self) -> str:
        """The ``aud`` of the ID tokens: the receiving service's URL or OAuth client ID."""
        return self._audience

    def with_target_audience(self, audience: str) -> GcpIdTokenCredentials:
        """The same identity's ID tokens for another ``audience`` (google-auth's name for this copy)."""
        return GcpIdTokenCredentials(self._settings, check_audience(audience), self._include_email)


def get_gcp_credentials(
    pool: str, provider: str, *, quota_project_id: str | None = None, **options: Unpack[GcpOptions]
) -> GcpCredentials:
    """Google credentials for this pod through Workload Identity Federation, for any google-auth caller.

    ``pool`` and ``provider`` name the workload identity pool provider (IDs, resource names or the provider's
    audience). With ``service_account`` the federated identity impersonates that account (and the credentials can
    sign as it); without it, the pod's principal is used directly. ``quota_project_id`` bills API calls to that
    project. The other options are those of :class:`~cfke_auth.gcp.settings.GcpOptions`. Arguments are checked
    before any request (:class:`~cfke_auth.ConfigurationError`); calls with the same arguments share one refreshing
    credential.
    """
    settings = resolve(pool, provider, **options)
    return _credentials(settings, quota_project_id, options.get("scopes") is None)


def get_gcp_id_token_credentials(
    audience: str,
    *,
    service_account: str,
    pool: str,
    provider: str,
    include_email: bool = False,
    **options: Unpack[GcpIdTokenOptions],
) -> GcpIdTokenCredentials:
    """Google-auth credentials whose ``token`` is an ID token of ``service_account`` for ``audience`` (a Cloud Run
    or Cloud Functions URL, or an IAP OAuth client ID), for this pod through Workload Identity Federation.

    The pod's principal needs ``roles/iam.workloadIdentityUser`` (or ``roles/iam.serviceAccountOpenIdTokenCreator``)
    on the service account. ``include_email`` adds the ``email`` and ``email_verified`` claims (some receivers
    authorize by email); ``delegates`` chains through other service accounts. The other options are those of
    :func:`get_gcp_credentials` (``scopes`` and ``lifetime`` do not apply: Google's ID tokens live an hour). Calls
    with the same arguments share one refreshing credential.
    """
    for unused in ("scopes", "lifetime"):  # typed away, but a caller without a type checker may still pass them
        if unused in options:
            raise ConfigurationError(f"{unused} does not apply to ID tokens (they live an hour, for one audience)")
    settings = resolve(pool, provider, service_account=service_account, **options)
    if settings.service_account is None:
        raise ConfigurationError("service_account is required: Google issues ID tokens for service accounts")
    return GcpIdTokenCredentials(settings, audience, include_email)
