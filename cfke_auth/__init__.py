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
)
from .source import DEFAULT_TOKEN_PATH, TokenSource

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_TOKEN_PATH",
    "CfkeAuthError",
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
    "__version__",
]

# Provider entry points (name -> module), imported on first use so that ``import cfke_auth`` pulls in neither
# httpx nor any SDK. Each name is also imported under TYPE_CHECKING below, so type checkers see its signature.
_LAZY: dict[str, str] = {
    "get_azure_credential": "cfke_auth.azure",
    "get_azure_credential_async": "cfke_auth.azure",
}

if TYPE_CHECKING:
    from .azure import get_azure_credential as get_azure_credential
    from .azure import get_azure_credential_async as get_azure_credential_async


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'cfke_auth' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*__all__, *_LAZY])
