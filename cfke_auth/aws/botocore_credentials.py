"""botocore ``Credentials`` that read the refresh engine instead of holding keys.

botocore's own ``RefreshableCredentials`` takes a lock and does datetime arithmetic on every
``get_frozen_credentials()`` (the signer calls it once per request). These read the engine's current value -- one
clock read and a comparison -- and hand out a ``ReadOnlyCredentials`` built once per issued value.
"""

from __future__ import annotations

from botocore.credentials import CredentialProvider, Credentials, ReadOnlyCredentials

from ..engine import RefreshingCredential
from .sts import StsCredentials

__all__ = ["METHOD", "EngineBacked", "EngineCredentials", "EngineProvider", "FrozenCache"]

#: How these credentials identify themselves to botocore (``credentials.method``).
METHOD = "cfke-auth-web-identity"


class FrozenCache:
    """The ``ReadOnlyCredentials`` of the latest issued value, built once per value and swapped atomically."""

    __slots__ = ("_pair",)

    def __init__(self) -> None:
        self._pair: tuple[StsCredentials | None, ReadOnlyCredentials | None] = (None, None)

    def of(self, value: StsCredentials) -> ReadOnlyCredentials:
        """``value`` as botocore's frozen tuple."""
        held, frozen = self._pair
        if held is value and frozen is not None:
            return frozen
        frozen = ReadOnlyCredentials(
            value.access_key_id, value.secret_access_key, value.session_token, value.account_id
        )
        self._pair = (value, frozen)  # one assignment: readers see an old or a new pair, never a mix
        return frozen


class EngineBacked:
    """What the sync and async botocore credentials share: the engine they read and the frozen tuple cache.

    Listed first among the bases, so botocore's ``__init__`` (which wants fixed keys) is never called.
    """

    def __init__(self, credential: RefreshingCredential[StsCredentials]) -> None:
        self._credential = credential
        self._cache = FrozenCache()
        self.method = METHOD

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._credential!r}>"


class EngineCredentials(EngineBacked, Credentials):
    """Credentials for boto3/botocore, kept fresh by a :class:`~cfke_auth.RefreshingCredential`; thread-safe."""

    def get_frozen_credentials(self) -> ReadOnlyCredentials:
        """The current keys, refreshed ahead of expiry by the engine; what botocore's signer uses."""
        return self._cache.of(self._credential.get())

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
    :class:`~cfke_auth.aws.aiobotocore_session.EngineAioProvider`, which differs only in that.
    """

    METHOD = METHOD
    CANONICAL_NAME = "custom-cfke-auth"

    def __init__(self, credentials: Credentials) -> None:
        super().__init__()
        self._credentials = credentials

    def load(self) -> Credentials:
        return self._credentials
