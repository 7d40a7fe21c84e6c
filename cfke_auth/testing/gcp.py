"""A loopback Google STS and IAM Credentials, strict about every field, answering in Google's own formats.

:class:`GoogleFake` serves ``POST /v1/token`` (STS token exchange) and
``POST /v1/projects/-/serviceAccounts/EMAIL:generateAccessToken`` (IAM Credentials) on one
:class:`~cfke_auth.testing.LoopbackServer`, plus ``GET /v1/resource``, a stand-in Google API that accepts only the
tokens this fake issued. It verifies the subject token as Google does (signature against the issuer's keys, ``iss``,
``aud``, expiry, lifetime) and also that it is exactly the token file's current content, so a client that sends a
stale copy is caught. Errors use Google's bodies: ``{"error": "invalid_grant", "error_description": ...}`` for STS
and ``{"error": {"code": 403, "message": ..., "status": "PERMISSION_DENIED"}}`` for IAM.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt

from ..gcp.names import WorkloadProvider
from ..gcp.settings import CLOUD_PLATFORM_SCOPE, IAM_SCOPE
from ..rfc8693.protocol import ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE
from ..rfc8693.protocol import TOKEN_EXCHANGE_GRANT as TOKEN_EXCHANGE
from .issuer import OidcIssuer
from .server import LoopbackServer, LoopbackService, RecordedRequest, Reply

__all__ = ["DEFAULT_PROVIDER", "MAX_SUBJECT_TOKEN_LIFETIME", "RESOURCE_PATH", "GoogleFake", "IssuedToken"]

#: A stand-in Google API: 200 with who the bearer is for tokens this fake issued, 401 otherwise.
RESOURCE_PATH = "/v1/resource"
#: The provider a fake serves unless told otherwise: project 123456789012, pool ``cfke``, provider ``cfke``.
DEFAULT_PROVIDER = WorkloadProvider("123456789012", "cfke", "cfke")
#: Subject tokens living longer than this (exp - iat) are refused, as Google STS documents.
MAX_SUBJECT_TOKEN_LIFETIME = 48 * 3600
_GENERATE = re.compile(r"/v1/projects/-/serviceAccounts/([^/:]+):generateAccessToken")
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
    none are configured. ``bindings`` maps a service account email to the principal members holding
    ``roles/iam.workloadIdentityUser`` on it. ``disabled`` makes STS answer ``invalid_target`` as for a disabled
    provider. ``lifetime`` is the seconds an issued token lives.
    """

    issuer: OidcIssuer
    token_path: str
    provider: WorkloadProvider = DEFAULT_PROVIDER
    allowed_audiences: tuple[str, ...] = ()
    bindings: dict[str, set[str]] = field(default_factory=dict)
    disabled: bool = False
    lifetime: int = 3600
    issued: dict[str, IssuedToken] = field(default_factory=dict)
    server: LoopbackServer = field(default_factory=LoopbackServer)

    def __post_init__(self) -> None:
        if not self.allowed_audiences:
            self.allowed_audiences = (self.provider.audience, "https:" + self.provider.audience)
        self._lock = threading.Lock()
        self.server.routes[("POST", "/v1/token")] = self._token
        self.server.routes[("GET", RESOURCE_PATH)] = self._resource

    def bind(self, service_account: str, member: str) -> None:
        """Grant ``member`` ``roles/iam.workloadIdentityUser`` on ``service_account`` (creating the account)."""
        self.bindings.setdefault(service_account, set()).add(member)
        path = f"/v1/projects/-/serviceAccounts/{service_account}:generateAccessToken"
        self.server.routes[("POST", path)] = self._generate

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
        return [r for r in self.server.requests if _GENERATE.fullmatch(r.path)]

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

    def _generate(self, request: RecordedRequest) -> Reply:
        found = _GENERATE.fullmatch(request.path)
        assert found is not None
        email = found.group(1)
        caller = self._bearer(request)
        if caller is None or not {IAM_SCOPE, CLOUD_PLATFORM_SCOPE} & set(caller.scopes):
            return _api_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
        try:
            body = request.json()
            scopes, lifetime = tuple(body["scope"]), body.get("lifetime", "3600s")
        except (ValueError, KeyError, TypeError):
            return _api_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        seconds = re.fullmatch(r"(\d+)s", str(lifetime))
        if not scopes or seconds is None or not 0 < int(seconds.group(1)) <= 3600:
            return _api_error(400, "INVALID_ARGUMENT", "Scope and a lifetime of at most 3600s are required.")
        if caller.principal not in self.bindings.get(email, set()):
            return _api_error(
                403,
                "PERMISSION_DENIED",
                "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).",
            )
        token = f"ya29.c.fake-sa-{uuid.uuid4().hex}"
        expires_at = int(time.time()) + int(seconds.group(1))  # whole seconds, as Google writes expireTime
        self._remember(token, IssuedToken(caller.principal, scopes, expires_at, email))
        expire_time = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires_at))
        return Reply.json({"accessToken": token, "expireTime": expire_time})

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
