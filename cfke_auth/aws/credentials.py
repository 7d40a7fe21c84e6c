"""The botocore adapter: ``Credentials`` that read the refresh engine, and ``cfke_auth.get_boto3_session``.

botocore's own ``RefreshableCredentials`` takes a lock and does datetime arithmetic on every
``get_frozen_credentials()`` (the signer calls it once per request). These read the engine's current value -- two
clock reads and two comparisons -- and hand out a ``ReadOnlyCredentials`` built once per issued value. Failures are
raised as classes that are both botocore's ``CredentialRetrievalError`` (a ``BotoCoreError``) and cfke-auth's own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
import botocore.session
from botocore.credentials import CredentialProvider, CredentialResolver, Credentials, ReadOnlyCredentials
from botocore.exceptions import CredentialRetrievalError

from .._convert import Converted
from .._engine import RefreshingCredential
from .._errors import CfkeAuthError, ConfigurationError, ExchangeError, TokenError, recast
from .protocol import StsCredentials
from .refresh import sts_credential
from .settings import AwsOptions, AwsSettings, resolve

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "METHOD",
    "AwsConfigurationError",
    "AwsExchangeError",
    "AwsTokenError",
    "EngineBacked",
    "EngineCredentials",
    "EngineProvider",
    "get_boto3_session",
    "sdk_error",
]

#: How these credentials identify themselves to botocore (``credentials.method``).
METHOD = "cfke-auth-web-identity"


class _BotocoreNative:
    """Sets what botocore's ``BotoCoreError`` keeps (``kwargs``), after cfke-auth's own ``__init__``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.__dict__["kwargs"] = {"provider": METHOD, "error_msg": str(self)}


class AwsExchangeError(_BotocoreNative, ExchangeError, CredentialRetrievalError):
    """STS refused or could not be reached: a botocore ``CredentialRetrievalError`` and an ``ExchangeError``."""


class AwsTokenError(_BotocoreNative, TokenError, CredentialRetrievalError):
    """The token file is unusable: a botocore ``CredentialRetrievalError`` and a ``TokenError``."""


class AwsConfigurationError(_BotocoreNative, ConfigurationError, CredentialRetrievalError):
    """A setting found bad at refresh time: a botocore ``CredentialRetrievalError`` and a ``ConfigurationError``."""


def sdk_error(error: CfkeAuthError) -> CfkeAuthError:
    """``error`` as the botocore-native class of its kind."""
    return recast(error, AwsExchangeError, AwsTokenError, AwsConfigurationError)


def _frozen(value: StsCredentials) -> ReadOnlyCredentials:
    """``value`` as botocore's frozen tuple."""
    return ReadOnlyCredentials(value.access_key_id, value.secret_access_key, value.session_token, value.account_id)


def _rebuilt(cls: type[EngineBacked], settings: AwsSettings) -> EngineBacked:
    return cls(settings)


class EngineBacked:
    """What the sync and async botocore credentials share: the engine they read and the frozen tuple cache.

    Listed first among the bases, so botocore's ``__init__`` (which wants fixed keys) is never called. Pickled as
    their settings (for multiprocessing): the unpickling process gets its own refreshing credential.
    """

    def __init__(self, settings: AwsSettings) -> None:
        self._settings = settings
        self._credential: RefreshingCredential[StsCredentials] = sts_credential(settings)
        self._cache: Converted[StsCredentials, ReadOnlyCredentials] = Converted(_frozen)
        self.method = METHOD

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._credential!r}>"

    @property
    def refreshing(self) -> RefreshingCredential[StsCredentials]:
        """The engine behind these credentials (shared by every session with the same settings): for diagnostics."""
        return self._credential

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuilt, (type(self), self._settings))


class EngineCredentials(EngineBacked, Credentials):
    """Credentials for boto3/botocore, kept fresh by a :class:`~cfke_auth.RefreshingCredential`; thread-safe."""

    def get_frozen_credentials(self) -> ReadOnlyCredentials:
        """The current keys, refreshed ahead of expiry by the engine; what botocore's signer uses."""
        try:
            return self._cache.of(self._credential.get())
        except CfkeAuthError as exc:
            raise sdk_error(exc) from None

    @property
    def access_key(self) -> str | None:  # type: ignore[override]
        return self.get_frozen_credentials().access_key

    @property
    def secret_key(self) -> str | None:  # type: ignore[override]
        return self.get_frozen_credentials().secret_key

    @property
    def token(self) -> str | None:  # type: ignore[override]
        return self.get_frozen_credentials().token

    @property
    def account_id(self) -> str | None:
        return self.get_frozen_credentials().account_id


class EngineProvider(CredentialProvider):
    """A botocore credential provider that hands out one prepared credentials object.

    botocore's resolver calls ``load()``; aiobotocore's awaits it, so async sessions use the subclass
    :class:`~cfke_auth.aws.aio.EngineAioProvider`, which differs only in that.
    """

    METHOD = METHOD
    CANONICAL_NAME = "custom-cfke-auth"

    def __init__(self, credentials: Credentials) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> Credentials:
        return self._credentials


def get_boto3_session(role_arn: str | None = None, **options: Unpack[AwsOptions]) -> boto3.Session:
    """A ``boto3.Session`` assuming ``role_arn`` with the pod's service-account token.

    Credentials are exchanged on first use and refreshed ahead of expiry in the background; sessions made with the
    same parameters in one process share them, so building a session per request costs no STS call. ``role_arn``
    defaults to ``AWS_ROLE_ARN``; the options (see :class:`~cfke_auth.aws.settings.AwsOptions`) to the variables
    the AWS SDKs read. Bad values raise :class:`~cfke_auth.ConfigurationError` before any request.
    """
    settings = resolve(role_arn, **options)
    core = botocore.session.get_session()
    core.register_component("credential_provider", CredentialResolver([EngineProvider(EngineCredentials(settings))]))
    return boto3.Session(botocore_session=core, region_name=settings.region)
