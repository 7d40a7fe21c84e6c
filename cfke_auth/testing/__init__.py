"""Test kit: run code that uses cfke-auth without a cluster or a cloud.

* :class:`OidcIssuer` -- a cluster OIDC issuer on 127.0.0.1 (discovery + JWKS) that signs tokens shaped exactly
  like a CFKE pod's projected service-account token;
* :class:`ManualClock` -- wall and monotonic time moved by hand, for the engine's and token source's ``clock=``;
* :class:`TokenFile` -- a token file laid out as the kubelet does (``..data`` symlink, atomic swap on rotate);
* the clouds' token endpoints, answering in their real wire formats: :class:`FakeSts` and :class:`MotoServer`
  (AWS), :class:`GoogleFake` (Google STS and IAM Credentials), :class:`FakeEntra` (Entra ID), and
  :class:`TokenExchangeServer` (a generic RFC 8693 endpoint with a resource server behind it); each has the same
  failure knobs, ``fail_with`` and ``answer_with``;
* real servers the tests drive: :class:`OpenBaoServer` (``bao server -dev``) and :class:`FakeGcsServer` (a GCS
  emulator), each raising :class:`ServerUnavailable` when its binary is missing;
* :class:`LoopbackServer` -- the small threaded HTTP(S) server they are built on, which can also misbehave on
  purpose (:meth:`Reply.huge`, :meth:`Reply.gzip_bomb`, :meth:`Reply.drip`);
* :class:`LocalCA` -- a local certificate authority, so the fakes speak real TLS, and :class:`ConnectProxy` -- a
  real CONNECT proxy on loopback that counts its tunnels.

Installed as a pytest plugin (the ``cfke_*`` fixtures and the ``cfke_token`` marker); everything is usable as plain
classes too. See docs/testing.md.
"""

from __future__ import annotations

from .aws import FakeSts, MotoServer
from .clock import ManualClock
from .entra import FakeEntra, FederatedCredential, aadsts_error
from .gcp import GoogleFake
from .gcs import FakeGcsServer
from .issuer import OidcIssuer, kubernetes_key_id
from .oauth import TokenExchangeServer
from .openbao import OpenBaoServer, ServerUnavailable
from .proxy import ConnectProxy, ProxiedRequest, ProxyRefusal
from .server import LoopbackServer, LoopbackService, RecordedRequest, Reply
from .tls import LocalCA
from .token_file import TokenFile

__all__ = [
    "ConnectProxy",
    "FakeEntra",
    "FakeGcsServer",
    "FakeSts",
    "FederatedCredential",
    "GoogleFake",
    "LocalCA",
    "LoopbackServer",
    "LoopbackService",
    "ManualClock",
    "MotoServer",
    "OidcIssuer",
    "OpenBaoServer",
    "ProxiedRequest",
    "ProxyRefusal",
    "RecordedRequest",
    "Reply",
    "ServerUnavailable",
    "TokenExchangeServer",
    "TokenFile",
    "aadsts_error",
    "kubernetes_key_id",
]
