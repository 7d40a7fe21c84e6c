"""``cfke_auth.get_aiobotocore_session``: an aiobotocore session on the pod's identity, refreshed on the event loop.

The exchange runs on the event loop through the engine's async path, so no call blocks the loop; the credentials are
shared with sync sessions built with the same parameters.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from aiobotocore.credentials import AioCredentialResolver, AioRefreshableCredentials
from aiobotocore.session import AioSession, get_session
from botocore.credentials import Credentials, ReadOnlyCredentials

from .._errors import CfkeAuthError
from .credentials import EngineBacked, EngineProvider, sdk_error
from .settings import AwsOptions, resolve

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["EngineAioCredentials", "EngineAioProvider", "get_aiobotocore_session"]


class EngineAioCredentials(EngineBacked, AioRefreshableCredentials):  # type: ignore[misc]
    """aiobotocore's async refreshable credentials, fed by the engine's ``aget()`` instead of their own lock.

    Every method aiobotocore calls is overridden here, so the base class's refresh machinery (``_refresh``, its
    lock and expiry fields, never set up) is never reached.
    """

    async def get_frozen_credentials(self) -> ReadOnlyCredentials:
        """The current keys; a caller past the refresh point starts the exchange on the loop and returns at once."""
        try:
            return self._cache.of(await self._credential.aget())
        except CfkeAuthError as exc:
            raise sdk_error(exc) from None

    def refresh_needed(self, refresh_in: float | None = None) -> bool:
        """Whether the held value expires within ``refresh_in`` seconds (default: botocore's advisory 15 minutes),
        or nothing is held yet. Public ``RefreshableCredentials`` API, answered from the engine; the engine
        refreshes on its own schedule whatever this says."""
        expires_at = self._credential.expires_at
        if expires_at is None:
            return True
        window = self._advisory_refresh_timeout if refresh_in is None else refresh_in
        return expires_at - time.time() < window

    async def get_access_key(self) -> str | None:
        return (await self.get_frozen_credentials()).access_key

    async def get_secret_key(self) -> str | None:
        return (await self.get_frozen_credentials()).secret_key

    async def get_token(self) -> str | None:
        return (await self.get_frozen_credentials()).token

    async def get_account_id(self) -> str | None:
        return (await self.get_frozen_credentials()).account_id


class EngineAioProvider(EngineProvider):
    """:class:`~cfke_auth.aws.credentials.EngineProvider` for aiobotocore, whose credential resolver awaits
    ``load()``."""

    async def load(self) -> Credentials:  # type: ignore[override]  # awaited by AioCredentialResolver
        return self._credentials


def get_aiobotocore_session(role_arn: str | None = None, **options: Unpack[AwsOptions]) -> AioSession:
    """An ``aiobotocore`` session assuming ``role_arn``; same parameters and defaults as
    :func:`~cfke_auth.get_boto3_session`. Use it as usual: ``async with session.create_client("s3") as s3``."""
    settings = resolve(role_arn, **options)
    session = get_session()
    credentials = EngineAioCredentials(settings)
    session.register_component("credential_provider", AioCredentialResolver([EngineAioProvider(credentials)]))
    if settings.region:
        session.set_config_variable("region", settings.region)
    return session
