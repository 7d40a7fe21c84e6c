"""``cfke_auth.get_aiobotocore_session``: an aiobotocore session on the pod's identity, refreshed on the event loop.

The exchange runs on ``httpx.AsyncClient`` through the engine's async path, so no call blocks the loop; the
credentials are shared with sync sessions built with the same parameters.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from aiobotocore.credentials import AioCredentialResolver, AioRefreshableCredentials
from aiobotocore.session import AioSession, get_session
from botocore.credentials import ReadOnlyCredentials

from .botocore_credentials import METHOD, EngineBacked
from .credential import AwsOptions, resolve, sts_credential

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["EngineAioCredentials", "get_aiobotocore_session"]


class EngineAioCredentials(EngineBacked, AioRefreshableCredentials):  # type: ignore[misc]
    """aiobotocore's async refreshable credentials, fed by the engine's ``aget()`` instead of their own lock."""

    async def get_frozen_credentials(self) -> ReadOnlyCredentials:
        """The current keys; the first caller past the refresh point exchanges, on the loop, for everyone."""
        return self._cache.of(await self._credential.aget())

    async def _refresh(self) -> None:
        await self._credential.aget()

    def refresh_needed(self, refresh_in: float | None = None) -> bool:
        """Whether the held value expires within ``refresh_in`` seconds (botocore's question; the engine acts on
        its own schedule)."""
        expires_at = self._credential.expires_at
        return expires_at is None or expires_at - time.time() < (refresh_in or 0)

    async def get_access_key(self) -> str | None:
        return (await self.get_frozen_credentials()).access_key

    async def get_secret_key(self) -> str | None:
        return (await self.get_frozen_credentials()).secret_key

    async def get_token(self) -> str | None:
        return (await self.get_frozen_credentials()).token

    async def get_account_id(self) -> str | None:
        return (await self.get_frozen_credentials()).account_id


class _Provider:
    """The async credential provider aiobotocore's resolver asks (``METHOD`` and ``await load()``)."""

    METHOD = METHOD

    def __init__(self, credentials: EngineAioCredentials) -> None:
        self._credentials = credentials

    async def load(self) -> EngineAioCredentials:
        return self._credentials


def get_aiobotocore_session(role_arn: str | None = None, **options: Unpack[AwsOptions]) -> AioSession:
    """An ``aiobotocore`` session assuming ``role_arn``; same parameters and defaults as
    :func:`~cfke_auth.get_boto3_session`. Use it as usual: ``async with session.create_client("s3") as s3``."""
    setup = resolve(role_arn, **options)
    session = get_session()
    credentials = EngineAioCredentials(sts_credential(setup))
    session.register_component("credential_provider", AioCredentialResolver([_Provider(credentials)]))
    if setup.region:
        session.set_config_variable("region", setup.region)
    return session
