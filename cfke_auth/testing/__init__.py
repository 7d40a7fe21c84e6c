"""Test kit: run code that uses cfke-auth without a cluster or a cloud.

* :class:`OidcIssuer` -- a cluster OIDC issuer on 127.0.0.1 (discovery + JWKS) that signs tokens shaped exactly
  like a CFKE pod's projected service-account token;
* :class:`TokenFile` -- a token file laid out as the kubelet does (``..data`` symlink, atomic swap on rotate);
* :class:`LoopbackServer` -- the small threaded HTTP server the fakes of the cloud token endpoints build on;
* :class:`TokenExchangeServer` -- a generic RFC 8693 token endpoint with a resource server behind it.

Installed as a pytest plugin (``cfke_issuer``, ``cfke_token_file`` fixtures, ``cfke_token`` marker); everything is
usable as plain classes too. See docs/testing.md.
"""

from __future__ import annotations

from .issuer import OidcIssuer, kubernetes_key_id
from .oauth import TokenExchangeServer
from .server import LoopbackServer, RecordedRequest, Reply
from .token_file import TokenFile

__all__ = [
    "LoopbackServer",
    "OidcIssuer",
    "RecordedRequest",
    "Reply",
    "TokenExchangeServer",
    "TokenFile",
    "kubernetes_key_id",
]
