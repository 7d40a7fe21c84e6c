"""A loopback Google STS and IAM Credentials, strict about every field, answering in Google's own formats.

:class:`GoogleFake` serves ``POST /v1/token`` (STS token exchange) and, for every service account it knows,
``POST /v1/projects/-/serviceAccounts/EMAIL:generateAccessToken``, ``:generateIdToken`` and ``:signBlob`` (IAM
Credentials) on one :class:`~cfke_auth.testing.LoopbackServer`, plus ``GET /v1/resource``, a stand-in Google API
that accepts only the tokens this fake issued, and ``GET /oauth2/v3/certs``, the JWKS its ID tokens verify against
(Google's own path). It verifies the subject token as Google does (signature against the issuer's keys, ``iss``,
``aud``, expiry, lifetime) and also that it is exactly the token file's current content, so a client that sends a
stale copy is caught. IAM calls are checked against role bindings as Google checks them (delegation chains
included), and lifetimes above an hour are refused unless the org policy is said to allow them. Errors use Google's
bodies: ``{"error": "invalid_grant", "error_description": ...}`` for STS and
``{"error": {"code": 403, "message": ..., "status": "PERMISSION_DENIED"}}`` for IAM.
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from jwt.algorithms import RSAAlgorithm

from ..gcp.names import WorkloadProvider
from ..gcp.settings import CLOUD_PLATFORM_SCOPE, IAM_SCOPE
from ..rfc8693.protocol import ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE
from ..rfc8693.protocol import TOKEN_EXCHANGE_GRANT as TOKEN_EXCHANGE
from .issuer import OidcIssuer, kubernetes_key_id
from .server import LoopbackServer, LoopbackService, RecordedRequest, Reply

__all__ = [
    "CERTS_PATH",
    "DEFAULT_PROVIDER",
    "ID_TOKEN_ISSUER",
    "MAX_EXTENDED_LIFETIME",
    "MAX_LIFETIME",
    "MAX_SUBJECT_TOKEN_LIFETIME",
    "OPENID_TOKEN_CREATOR",
    "RESOURCE_PATH",
    "TOKEN_CREATOR",
    "WORKLOAD_IDENTITY_USER",
    "GoogleFake",
    "IssuedToken",
]

#: A stand-in Google API: 200 with who the bearer is for tokens this fake issued, 401 otherwise.
RESOURCE_PATH = "/v1/resource"
#: The provider a fake serves unless told otherwise: project 123456789012, pool ``cfke``, provider ``cfke``.
DEFAULT_PROVIDER = WorkloadProvider("123456789012", "cfke", "cfke")
#: Subject tokens living longer than this (exp - iat) are refused, as Google STS documents.
MAX_SUBJECT_TOKEN_LIFETIME = 48 * 3600
#: Where the fake publishes the JWKS of the key that signs its ID tokens (Google's path for its OAuth 2.0 keys).
CERTS_PATH = "/oauth2/v3/certs"
#: The ``iss`` of the ID tokens the fake mints, as Google's.
ID_TOKEN_ISSUER = "https://accounts.google.com"
#: Access token lifetime without an org policy exception, and the most one can allow (12 h).
MAX_LIFETIME = 3600
MAX_EXTENDED_LIFETIME = 43200
#: The roles a binding can grant on a service account, and the IAM Credentials permissions each carries.
WORKLOAD_IDENTITY_USER = "roles/iam.workloadIdentityUser"
TOKEN_CREATOR = "roles/iam.serviceAccountTokenCreator"
OPENID_TOKEN_CREATOR = "roles/iam.serviceAccountOpenIdTokenCreator"
_PERMISSIONS = {
    WORKLOAD_IDENTITY_USER: {"getAccessToken", "getOpenIdToken"},
    TOKEN_CREATOR: {"getAccessToken", "getOpenIdToken", "signBlob", "implicitDelegation"},
    OPENID_TOKEN_CREATOR: {"getOpenIdToken"},
}
_METHOD_PERMISSION = {
    "generateAccessToken": "getAccessToken",
    "generateIdToken": "getOpenIdToken",
    "signBlob": "signBlob",
}
_IAM_PATH = re.compile(r"/v1/projects/-/serviceAccounts/([^/:]+):(generateAccessToken|generateIdToken|signBlob)")
_DELEGATE = re.compile(r"projects/-/serviceAccounts/([^/]+@[^/]+)")
_AUDIENCE = re.compile(
    r"//iam\.googleapis\.com/projects/(\d+)/locations/global/workloadIdentityPools/[^/]+/providers/.+"
)
_SCOPE_PREFIX = "https://www.googleapis.com/auth/"


@dataclass(frozen=True)
class IssuedToken:
    """An access token the fake handed out: for whom (a principal member or a service account), scopes, expiry."""

    principal: str
    scopes: tuple[str, ...]
    expires_at: float
    service_account: str | None = None


def _sts_error(code: str, description: str, status: int = 400) -> Reply:
    return Reply.json({"error": code, "error_description": description}, status)


def _api_error(code: int, status: str, message: str) -> Reply:
    return Reply.json({"error": {"code": code, "message": message, "status": status}}, code)


@dataclass
class GoogleFake(LoopbackService):
    """Google STS + IAM Credentials for ``provider``, trusting ``issuer`` and reading the pod token at ``token_path``.

    ``allowed_audiences`` defaults to the provider's own audience (with or without ``https:``), as Google does when
    none are configured. ``bindings`` maps a service account email to its role bindings (role -> members: principal
    identifiers, or ``serviceAccount:EMAIL`` for a link of a delegation chain). ``disabled`` makes STS answer
    ``invalid_target`` as for a disabled provider. ``lifetime`` is the seconds an issued STS token lives.
    ``extended_lifetime`` lists the service accounts the org policy
    ``constraints/iam.allowServiceAccountCredentialLifetimeExtension`` allows tokens of up to 12 h.
    """

    issuer: OidcIssuer
    token_path: str
    provider: WorkloadProvider = DEFAULT_PROVIDER
    allowed_audiences: tuple[str, ...] = ()
    bindings: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    disabled: bool = False
    lifetime: int = 3600
    extended_lifetime: set[str] = field(default_factory=set)
    issued: dict[str, IssuedToken] = field(default_factory=dict)
    server: LoopbackServer = field(default_factory=LoopbackServer)

    def __post_init__(self) -> None:
        if not self.allowed_audiences:
            self.allowed_audiences = (self.provider.audience, "https:" + self.provider.audience)
        self._lock = threading.Lock()
        self._keys: dict[str, rsa.RSAPrivateKey] = {}  # "" signs ID tokens; a service account's email, its blobs
        self.server.routes[("POST", "/v1/token")] = self._token
        self.server.routes[("GET", RESOURCE_PATH)] = self._resource
        self.server.routes[("GET", CERTS_PATH)] = self._certs
        for email in self.bindings:
            self._serve(email)

    def bind(self, service_account: str, member: str, role: str = WORKLOAD_IDENTITY_USER) -> None:
        """Grant ``member`` ``role`` on ``service_account`` (creating the account); a service account as member is
        ``serviceAccount:EMAIL`` or its bare email."""
        if role not in _PERMISSIONS:
            raise ValueError(f"the fake knows the roles {sorted(_PERMISSIONS)}, not {role!r}")
        member = f"serviceAccount:{member}" if "@" in member and ":" not in member else member
        self.bindings.setdefault(service_account, {}).setdefault(role, set()).add(member)
        self._serve(service_account)

    def allow_lifetime_extension(self, service_account: str) -> None:
        """Add ``service_account`` to the org policy that allows its access tokens to live up to 12 h."""
        self.extended_lifetime.add(service_account)

    def public_key(self, service_account: str | None = None) -> rsa.RSAPublicKey:
        """The public half of the key ``signBlob`` signs with for ``service_account``, or (None) of the key that
        signs the fake's ID tokens (also published at :data:`CERTS_PATH`)."""
        return self._key(service_account or "").public_key()

    def credential_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :func:`cfke_auth.get_gcp_credentials` pointing at this fake."""
        return {
            "pool": self.provider.pool_id,
            "provider": self.provider.provider_id,
            "project_number": self.provider.project_number,
            "sts_endpoint_url": self.url,
            "iam_endpoint_url": self.url,
        }

    def sts_calls(self) -> list[RecordedRequest]:
        """The token-exchange requests received so far."""
        return self.server.calls("POST", "/v1/token")

    def generate_calls(self) -> list[RecordedRequest]:
        """The ``generateAccessToken`` requests received so far, for any service account."""
        return self.iam_calls("generateAccessToken")

    def iam_calls(self, method: str) -> list[RecordedRequest]:
        """The IAM Credentials requests for ``method`` (``generateAccessToken``, ``generateIdToken``, ``signBlob``)
        received so far, for any service account."""
        return [r for r in self.server.requests if (found := _IAM_PATH.fullmatch(r.path)) and found[2] == method]

    # -- STS ----------------------------------------------------------------------------------------------------

    def _token(self, request: RecordedRequest) -> Reply:
        if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return _sts_error("invalid_request", "Content-Type must be application/x-www-form-urlencoded")
        form = request.form()
        if form.get("grant_type") != TOKEN_EXCHANGE:
            return _sts_error("unsupported_grant_type", f'Invalid value for "grant_type": {form.get("grant_type")}')
        refused = self._check_audience(form.get("audience", "")) or self._check_types(form)
        if refused:
            return refused
        scopes = tuple(form.get("scope", "").split())
        if not scopes or any(not s.startswith(_SCOPE_PREFIX) for s in scopes):
            return _sts_error("invalid_scope", f'Invalid value for "scope": {form.get("scope", "")!r}')
        claims_or_error = self._verify_subject(form.get("subject_token", ""))
        if isinstance(claims_or_error, Reply):
            return claims_or_error
        member = self.provider.principal(claims_or_error["sub"])
        token = f"ya29.d.fake-sts-{uuid.uuid4().hex}"
        self._remember(token, IssuedToken(member, scopes, time.time() + self.lifetime))
        return Reply.json(
            {
                "access_token": token,
                "issued_token_type": ACCESS_TOKEN_TYPE,
                "token_type": "Bearer",
                "expires_in": self.lifetime,
            }
        )

    def _check_audience(self, audience: str) -> Reply | None:
        found = _AUDIENCE.fullmatch(audience)
        if found is None or found.group(1) != self.provider.project_number:
            return _sts_error(
                "invalid_request",
                'Invalid value for "audience". This value should be the full resource name of the Identity '
                "Provider. See https://cloud.google.com/iam/docs/reference/sts/rest/v1/TopLevel/token for the list "
                "of possible formats.",
            )
        if audience != self.provider.audience or self.disabled:
            return _sts_error(
                "invalid_target",
                'The target service indicated by the "audience" parameters is invalid. This might either be '
                "because the pool or provider is disabled or deleted or because it doesn't exist.",
            )
        return None

    @staticmethod
    def _check_types(form: dict[str, str]) -> Reply | None:
        if form.get("requested_token_type") != ACCESS_TOKEN_TYPE:
            return _sts_error("invalid_request", 'Invalid value for "requested_token_type".')
        if form.get("subject_token_type") != JWT_TOKEN_TYPE:
            return _sts_error("invalid_request", 'Invalid value for "subject_token_type".')
        return None

    def _verify_subject(self, token: str) -> dict[str, Any] | Reply:
        if token != Path(self.token_path).read_text().strip():
            return _sts_error("invalid_grant", "The subject token is not the current content of the pod's token file.")
        key = jwt.PyJWK(self.issuer.jwks["keys"][0]).key
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=["RS256"], options={"verify_aud": False, "verify_iss": False}
            )
        except jwt.ExpiredSignatureError:
            return _sts_error("invalid_grant", "The ID Token has expired.")
        except jwt.InvalidTokenError:
            return _sts_error("invalid_grant", "Unable to verify the ID Token signature.")
        if claims.get("iss") != self.issuer.issuer:
            return _sts_error(
                "invalid_grant", f"The issuer in ID Token {claims.get('iss')} does not match the expected ones."
            )
        audiences = claims.get("aud")
        audiences = [audiences] if isinstance(audiences, str) else list(audiences or [])
        if not set(audiences) & set(self.allowed_audiences):
            return _sts_error(
                "invalid_grant", f"The audience in ID Token {audiences} does not match the expected audience."
            )
        if claims["exp"] - claims.get("iat", claims["exp"]) > MAX_SUBJECT_TOKEN_LIFETIME:
            return _sts_error("invalid_grant", "The lifetime of the ID Token is too long.")
        return claims

    # -- IAM Credentials ----------------------------------------------------------------------------------------

    def _serve(self, email: str) -> None:
        for method in _METHOD_PERMISSION:
            self.server.routes[("POST", f"/v1/projects/-/serviceAccounts/{email}:{method}")] = self._iam

    def _iam(self, request: RecordedRequest) -> Reply:
        found = _IAM_PATH.fullmatch(request.path)
        assert found is not None
        email, method = found[1], found[2]
        caller = self._bearer(request)
        if caller is None or not {IAM_SCOPE, CLOUD_PLATFORM_SCOPE} & set(caller.scopes):
            return _api_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
        try:
            body = request.json()
            delegates = [_DELEGATE.fullmatch(d) for d in body.get("delegates") or []]
        except (ValueError, TypeError, AttributeError):
            return _api_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        if not all(delegates):
            return _api_error(400, "INVALID_ARGUMENT", "Delegates must be projects/-/serviceAccounts/EMAIL.")
        chain = [caller.principal, *(f"serviceAccount:{d[1]}" for d in delegates if d)]
        denied = self._check_chain(chain, email, _METHOD_PERMISSION[method])
        if denied:
            return denied
        if method == "generateAccessToken":
            return self._generate(caller, email, body)
        if method == "generateIdToken":
            return self._generate_id_token(email, body)
        return self._sign_blob(email, body)

    def _check_chain(self, chain: list[str], email: str, permission: str) -> Reply | None:
        """Each link of ``chain`` may act as the next (``implicitDelegation``), the last holds ``permission`` on
        ``email``, as Google checks a delegation chain."""
        targets = [member.removeprefix("serviceAccount:") for member in chain[1:]] + [email]
        for member, target, needed in zip(
            chain, targets, ["implicitDelegation"] * (len(chain) - 1) + [permission], strict=True
        ):
            roles = self.bindings.get(target, {})
            if not any(member in members and needed in _PERMISSIONS[role] for role, members in roles.items()):
                return _api_error(
                    403,
                    "PERMISSION_DENIED",
                    f"Permission 'iam.serviceAccounts.{needed}' denied on resource (or it may not exist).",
                )
        return None

    def _generate(self, caller: IssuedToken, email: str, body: Any) -> Reply:
        scopes, lifetime = body.get("scope"), body.get("lifetime", "3600s")
        seconds = re.fullmatch(r"(\d+)s", str(lifetime))
        if not isinstance(scopes, list) or not scopes or seconds is None or int(seconds[1]) <= 0:
            return _api_error(400, "INVALID_ARGUMENT", 'Scope and a lifetime ("NNNs") are required.')
        limit = MAX_EXTENDED_LIFETIME if email in self.extended_lifetime else MAX_LIFETIME
        if int(seconds[1]) > limit:
            return _api_error(
                400,
                "INVALID_ARGUMENT",
                f"The lifetime requested is more than the {limit}s allowed for this service account. See "
                "https://cloud.google.com/iam/help/credentials/lifetime for how to extend it.",
            )
        token = f"ya29.c.fake-sa-{uuid.uuid4().hex}"
        expires_at = int(time.time()) + int(seconds[1])  # whole seconds, as Google writes expireTime
        self._remember(token, IssuedToken(caller.principal, tuple(scopes), expires_at, email))
        expire_time = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires_at))
        return Reply.json({"accessToken": token, "expireTime": expire_time})

    def _generate_id_token(self, email: str, body: Any) -> Reply:
        audience = body.get("audience")
        if not isinstance(audience, str) or not audience:
            return _api_error(400, "INVALID_ARGUMENT", "Audience is required.")
        unique_id = str(int(hashlib.sha256(email.encode()).hexdigest(), 16) % 10**21)  # a numeric ID, as Google's
        now = int(time.time())
        claims: dict[str, Any] = {
            "aud": audience,
            "azp": unique_id,
            "exp": now + 3600,
            "iat": now,
            "iss": ID_TOKEN_ISSUER,
            "sub": unique_id,
        }
        if body.get("includeEmail"):
            claims.update(email=email, email_verified=True)
        token = jwt.encode(claims, self._key(""), algorithm="RS256", headers={"kid": self._key_id("")})
        return Reply.json({"token": token})

    def _sign_blob(self, email: str, body: Any) -> Reply:
        try:
            payload = base64.b64decode(body["payload"], validate=True)
        except (KeyError, TypeError, ValueError):
            return _api_error(400, "INVALID_ARGUMENT", "Payload must be a base64-encoded string.")
        signature = self._key(email).sign(payload, padding.PKCS1v15(), hashes.SHA256())
        return Reply.json({"keyId": self._key_id(email), "signedBlob": base64.b64encode(signature).decode()})

    def _key(self, name: str) -> rsa.RSAPrivateKey:
        with self._lock:  # made on first use: a fake that never signs pays for no key
            key = self._keys.get(name)
            if key is None:
                key = self._keys[name] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            return key

    def _key_id(self, name: str) -> str:
        return kubernetes_key_id(self._key(name).public_key())

    def _certs(self, _: RecordedRequest) -> Reply:
        jwk = RSAAlgorithm.to_jwk(self.public_key(), as_dict=True)
        return Reply.json({"keys": [{**jwk, "use": "sig", "alg": "RS256", "kid": self._key_id("")}]})

    # -- the stand-in API ---------------------------------------------------------------------------------------

    def _resource(self, request: RecordedRequest) -> Reply:
        caller = self._bearer(request)
        if caller is None:
            return _api_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
        return Reply.json(
            {
                "principal": caller.principal,
                "service_account": caller.service_account,
                "scopes": list(caller.scopes),
                "quota_project": request.headers.get("x-goog-user-project"),
            }
        )

    def _bearer(self, request: RecordedRequest) -> IssuedToken | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        with self._lock:
            issued = self.issued.get(token) if scheme == "Bearer" else None
        return issued if issued is not None and time.time() < issued.expires_at else None

    def _remember(self, token: str, issued: IssuedToken) -> None:
        with self._lock:
            self.issued[token] = issued
