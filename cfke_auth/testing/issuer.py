"""A cluster OIDC issuer on loopback that signs tokens shaped like a CFKE pod's service-account token."""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from .server import LoopbackServer, LoopbackService, RecordedRequest, Reply
from .tls import LocalCA

__all__ = ["EXTENDED_LIFETIME", "WARN_AFTER", "OidcIssuer", "kubernetes_key_id"]

#: The default (extended) token lives a year...
EXTENDED_LIFETIME = 365 * 24 * 3600
#: ...but is stale this many seconds after it was issued (the API server's ``warnafter``).
WARN_AFTER = 3607


def kubernetes_key_id(public_key: rsa.RSAPublicKey) -> str:
    """The ``kid`` Kubernetes gives a signing key: unpadded base64url of the SHA-256 of its PKIX DER encoding."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


class OidcIssuer(LoopbackService):
    """Serves ``/.well-known/openid-configuration`` and ``/openid/v1/jwks`` under ``issuer`` and signs tokens.

    The issuer URL is ``http://127.0.0.1:PORT/v1/clusters/CLUSTER_ID``, the shape of a CFKE issuer on loopback,
    so tokens it signs can be verified against it. Pass ``issuer`` to stamp another ``iss`` (for example the real
    ``https://api.cloudfleet.ai/v1/clusters/...`` form) on tokens when discovery is not needed.
    """

    def __init__(
        self,
        cluster_id: str = "c0ffee00-0000-4000-8000-000000000001",
        *,
        issuer: str | None = None,
        tls: LocalCA | bool | None = None,
    ) -> None:
        self.cluster_id = cluster_id
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.key_id = kubernetes_key_id(self._key.public_key())
        self.server = LoopbackServer(tls=tls)
        prefix = f"/v1/clusters/{cluster_id}"
        self.issuer = issuer or f"{self.server.url}{prefix}"
        self.server.routes[("GET", f"{prefix}/.well-known/openid-configuration")] = self._discovery
        self.server.routes[("GET", f"{prefix}/openid/v1/jwks")] = self._jwks

    @property
    def jwks(self) -> dict[str, Any]:
        """The JSON Web Key Set the issuer publishes."""
        jwk = RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        return {"keys": [{**jwk, "use": "sig", "alg": "RS256", "kid": self.key_id}]}

    def issue(
        self,
        *,
        namespace: str = "default",
        service_account: str = "default",
        audience: str | list[str] | None = None,
        lifetime: int = 3600,
        extended: bool = False,
        warnafter: int | None = None,
        pod_name: str = "app-7d9f8-x2x4q",
        issued_at: float | None = None,
        extra_claims: dict[str, Any] | None = None,
    ) -> str:
        """A signed token as the kubelet would mount it.

        ``extended=True`` gives the default token (audience = issuer, ``exp`` a year out, ``warnafter`` at
        iat + 3607 s); otherwise a projected token with ``audience`` and ``lifetime`` seconds and no ``warnafter``
        unless one is passed (seconds after ``iat``).
        """
        iat = int(time.time() if issued_at is None else issued_at)
        if extended:
            lifetime = EXTENDED_LIFETIME
            warnafter = WARN_AFTER if warnafter is None else warnafter
        audiences = [audience] if isinstance(audience, str) else list(audience or [self.issuer])
        k8s: dict[str, Any] = {
            "namespace": namespace,
            "pod": {"name": pod_name, "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{namespace}/{pod_name}"))},
            "serviceaccount": {
                "name": service_account,
                "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{namespace}/sa/{service_account}")),
            },
        }
        if warnafter is not None:
            k8s["warnafter"] = iat + warnafter
        claims = {
            "aud": audiences,
            "exp": iat + lifetime,
            "iat": iat,
            "iss": self.issuer,
            "jti": str(uuid.uuid4()),
            "kubernetes.io": k8s,
            "nbf": iat,
            "sub": f"system:serviceaccount:{namespace}:{service_account}",
            **(extra_claims or {}),
        }
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.key_id})

    def _discovery(self, _: RecordedRequest) -> Reply:
        return Reply.json(
            {
                "issuer": self.issuer,
                "jwks_uri": f"{self.issuer}/openid/v1/jwks",
                "response_types_supported": ["id_token"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        )

    def _jwks(self, _: RecordedRequest) -> Reply:
        return Reply.json(self.jwks)
