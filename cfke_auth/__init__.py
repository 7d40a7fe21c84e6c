"""cfke-auth: keyless cloud credentials for code running in Cloudfleet Kubernetes Engine pods.

The pod's projected service-account token is exchanged for AWS, Google Cloud and Azure credentials (and for any RFC
8693 service's tokens), handed out as the objects each SDK already takes. Everything public is exported here; the
modules behind it are private. ``import cfke_auth`` is cheap: httpx and the cloud SDKs are imported only when a
credential is first built.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._claims import TokenClaims
from ._clock import Clock
from ._engine import Issued, RefreshingCredential
from ._errors import CfkeAuthError, ConfigurationError, ExchangeError, TokenError, TokenErrorReason
from ._source import DEFAULT_TOKEN_PATH, SubjectTokenSource, TokenSource
from ._version import __version__

__all__ = [
    "DEFAULT_TOKEN_PATH",
    "CfkeAuthError",
    "Clock",
    "ConfigurationError",
    "ExchangeError",
    "HttpOptions",
    "Issued",
    "RefreshingCredential",
    "RoleHop",
    "SubjectTokenSource",
    "TokenClaims",
    "TokenError",
    "TokenErrorReason",
    "TokenSource",
    "__version__",
    "get_aiobotocore_session",
    "get_azure_credential",
    "get_azure_credential_async",
    "get_boto3_session",
    "get_gcp_credentials",
    "get_gcp_id_token_credentials",
    "get_token_exchange_auth",
    "get_vault_client",
    "verify_token",
]

# Names whose modules import httpx or an SDK (name -> module), imported on first use so that ``import cfke_auth``
# pulls in neither. Each is also imported under TYPE_CHECKING below, so type checkers see its signature.
_LAZY: dict[str, str] = {
    "HttpOptions": "cfke_auth._http",
    "get_aiobotocore_session": "cfke_auth.aws.aio",
    "get_azure_credential": "cfke_auth.azure",
    "get_azure_credential_async": "cfke_auth.azure",
    "get_boto3_session": "cfke_auth.aws.credentials",
    "get_gcp_credentials": "cfke_auth.gcp.credentials",
    "get_gcp_id_token_credentials": "cfke_auth.gcp.credentials",
    "get_token_exchange_auth": "cfke_auth.rfc8693.credentials",
    "RoleHop": "cfke_auth.aws.settings",
    "get_vault_client": "cfke_auth.vault.credentials",
    "verify_token": "cfke_auth._verify",
}

if TYPE_CHECKING:
    from ._http import HttpOptions
    from ._verify import verify_token
    from .aws.aio import get_aiobotocore_session
    from .aws.credentials import get_boto3_session
    from .aws.settings import RoleHop
    from .azure import get_azure_credential, get_azure_credential_async
    from .gcp.credentials import get_gcp_credentials, get_gcp_id_token_credentials
    from .rfc8693.credentials import get_token_exchange_auth
    from .vault.credentials import get_vault_client


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'cfke_auth' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
