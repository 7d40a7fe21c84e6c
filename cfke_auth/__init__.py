"""cfke-auth: keyless cloud credentials for code running in Cloudfleet Kubernetes Engine pods.

The pod's projected service-account token is exchanged for AWS, Google Cloud and Azure credentials, handed out as
the objects each SDK already takes. ``import cfke_auth`` is cheap: httpx and the cloud SDKs are imported only when
a credential is first built.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .claims import TokenClaims
from .engine import Issued, RefreshingCredential
from .errors import (
    CfkeAuthError,
    ConfigurationError,
    ExchangeError,
    TokenClaimsError,
    TokenEmptyError,
    TokenEncodingError,
    TokenError,
    TokenExpiredError,
    TokenFileNotFoundError,
    TokenFormatError,
    TokenIsDirectoryError,
    TokenPermissionError,
    TokenTooLargeError,
    TokenVerificationError,
)
from .source import DEFAULT_TOKEN_PATH, TokenSource

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_TOKEN_PATH",
    "CfkeAuthError",
    "ConfigurationError",
    "ExchangeError",
    "Issued",
    "RefreshingCredential",
    "TokenClaims",
    "TokenClaimsError",
    "TokenEmptyError",
    "TokenEncodingError",
    "TokenError",
    "TokenExpiredError",
    "TokenFileNotFoundError",
    "TokenFormatError",
    "TokenIsDirectoryError",
    "TokenPermissionError",
    "TokenSource",
    "TokenTooLargeError",
    "TokenVerificationError",
    "__version__",
    "get_aiobotocore_session",
    "get_azure_credential",
    "get_azure_credential_async",
    "get_boto3_session",
    "get_gcp_credentials",
    "get_token_exchange_auth",
    "verify_token",
]

# Provider entry points (name -> module), imported on first use so that ``import cfke_auth`` pulls in neither
# httpx nor any SDK. Each name is also imported under TYPE_CHECKING below, so type checkers see its signature.
_LAZY: dict[str, str] = {
    "get_aiobotocore_session": "cfke_auth.aws.aiobotocore_session",
    "get_azure_credential": "cfke_auth.azure",
    "get_azure_credential_async": "cfke_auth.azure",
    "get_boto3_session": "cfke_auth.aws.boto3_session",
    "get_gcp_credentials": "cfke_auth.gcp.credentials",
    "get_token_exchange_auth": "cfke_auth.rfc8693",
    "verify_token": "cfke_auth.verify",
}

if TYPE_CHECKING:
    from .aws.aiobotocore_session import get_aiobotocore_session
    from .aws.boto3_session import get_boto3_session
    from .azure import get_azure_credential, get_azure_credential_async
    from .gcp.credentials import get_gcp_credentials
    from .rfc8693 import get_token_exchange_auth
    from .verify import verify_token


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'cfke_auth' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
