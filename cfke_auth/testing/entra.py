"""A loopback Entra ID token endpoint for the federated client-credentials grant.

:class:`FakeEntra` serves ``POST /{tenant}/oauth2/v2.0/token``, checks every form field the way Entra ID does --
the assertion must be exactly the token file's current content, and its ``iss``/``sub``/``aud`` must match a
federated identity credential -- and answers in Entra's JSON, including ``AADSTSnnnnn`` error bodies. Point a
credential at it with ``authority_host=fake.url``.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jwt

from ..azure.protocol import ASSERTION_TYPE
from ..azure.settings import AZURE_AUDIENCE
from .failures import FailureKnobs, Failures
from .server import LoopbackServer, LoopbackService, RecordedRequest, Reply
from .tls import LocalCA

__all__ = ["AZURE_AUDIENCE", "FakeEntra", "FederatedCredential", "aadsts_error"]

#: Entra ID refuses assertions that live longer than about a day (AADSTS70023).
MAX_ASSERTION_LIFETIME = 24 * 3600 + 3600


@dataclass(frozen=True)
class FederatedCredential:
    """What the app's (or managed identity's) federated identity credential trusts; ``None`` matches anything."""

    issuer: str | None = None
    subject: str | None = None
    audience: str = AZURE_AUDIENCE


def aadsts_error(code: int, message: str, *, error: str = "invalid_request", status: int = 400) -> Reply:
    """An Entra ID error answer: ``error``, ``error_description`` starting ``AADSTS{code}: ``, ``error_codes``, ..."""
    trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
    return Reply.json(
        {
            "error": error,
            "error_description": f"AADSTS{code}: {message}\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}"
            f"\r\nTimestamp: {stamp}",
            "error_codes": [code],
            "timestamp": stamp,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": f"https://login.microsoftonline.com/error?code={code}",
        },
        status,
    )


class FakeEntra(FailureKnobs, LoopbackService):
    """Entra ID's v2.0 token endpoint for one tenant and one app, on ``127.0.0.1``.

    ``token_path`` is the file whose current content every assertion must equal. ``lifetime`` is the issued
    tokens' ``expires_in`` and ``refresh_in`` (if set) Entra's refresh advice. ``issued`` lists the access tokens
    handed out; :meth:`fail_with` answers AADSTS errors and :meth:`answer_with` any reply instead;
    :meth:`token_requests` are the requests received.
    """

    def __init__(
        self,
        tenant_id: str,
        client_id: str,
        token_path: str | Path,
        *,
        federated: FederatedCredential | None = None,
        lifetime: int = 3600,
        refresh_in: int | None = None,
        tls: LocalCA | bool | None = None,
        hostnames: Iterable[str] = (),
    ) -> None:
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.token_path = Path(token_path)
        self.federated = federated or FederatedCredential()
        self.lifetime = lifetime
        self.refresh_in = refresh_in
        self.issued: list[str] = []
        self.server = LoopbackServer(tls=tls, hostnames=hostnames)
        self.path = f"/{tenant_id}/oauth2/v2.0/token"
        self.server.routes[("POST", self.path)] = self._token
        self.failures = Failures()
        self._lock = threading.Lock()

    def serve_tenant(self, tenant_id: str) -> None:
        """Also answer token requests at another tenant's path (a request that names that tenant)."""
        self.server.routes[("POST", f"/{tenant_id}/oauth2/v2.0/token")] = self._token

    def token_requests(self) -> list[RecordedRequest]:
        """Every request to the token endpoint (any tenant path is logged by the server too)."""
        return [r for r in self.server.requests if r.path.endswith("/oauth2/v2.0/token")]

    def fail_with(
        self, code: int | None, message: str | None = None, status: int = 400, *, times: int | None = None
    ) -> None:
        """Answer token requests with AADSTS error ``code`` (None: issue tokens again), ``times`` times or until
        cleared."""
        if code is None:
            self.answer_with(None)
            return
        self.answer_with(aadsts_error(code, message or f"AADSTS{code} (from FakeEntra)", status=status), times=times)

    def _token(self, request: RecordedRequest) -> Reply:
        failure = self.failures.take()
        if failure is not None:
            return failure
        form = request.form()
        error = self._check(form)
        if error is not None:
            return error
        return self._issue(form["scope"])

    def _issue(self, scope: str) -> Reply:
        now = int(time.time())
        claims = {  # the claims resource servers (and emulators such as Azurite) look at
            "aud": scope.split(maxsplit=1)[0].removesuffix("/.default"),
            "iss": f"https://sts.windows.net/{self.tenant_id}/",
            "iat": now,
            "nbf": now,
            "exp": now + self.lifetime,
            "appid": self.client_id,
            "tid": self.tenant_id,
            "oid": str(uuid.uuid5(uuid.NAMESPACE_URL, self.client_id)),
            "uti": secrets.token_urlsafe(16),
        }
        token = jwt.encode(claims, secrets.token_bytes(32), algorithm="HS256")  # opaque to clients, as Entra's are
        with self._lock:
            self.issued.append(token)
        body: dict[str, Any] = {
            "token_type": "Bearer",
            "expires_in": self.lifetime,
            "ext_expires_in": self.lifetime,
            "access_token": token,
        }
        if self.refresh_in is not None:
            body["refresh_in"] = self.refresh_in
        return Reply.json(body)

    def _check(self, form: dict[str, str]) -> Reply | None:
        """The error Entra ID would answer for this form, or None when a token is due."""
        if form.get("grant_type") != "client_credentials":
            return aadsts_error(70003, "The app requested an unsupported grant type.", error="unsupported_grant_type")
        if form.get("client_id") != self.client_id:
            return aadsts_error(
                700016,
                f"Application with identifier '{form.get('client_id')}' was not found in the directory "
                f"'{self.tenant_id}'.",
                error="unauthorized_client",
            )
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            return aadsts_error(900144, "The request body must contain the 'client_assertion_type' parameter.")
        scope = form.get("scope", "")
        if not scope or not all(s.endswith("/.default") for s in scope.split()):
            return aadsts_error(
                1002012,
                f"The provided value for scope {scope} is not valid. Client credential flows must have a "
                "scope value with /.default suffixed to the resource identifier.",
                error="invalid_scope",
            )
        return self._check_assertion(form.get("client_assertion", ""))

    def _check_assertion(self, assertion: str) -> Reply | None:
        current = self.token_path.read_text().strip()
        if assertion != current:
            return aadsts_error(
                50027, "JWT token is invalid or malformed (not the token file's content).", error="invalid_client"
            )
        claims = jwt.decode(assertion, options={"verify_signature": False})
        now = time.time()
        if claims.get("exp", 0) <= now or claims.get("nbf", 0) > now + 300:
            return aadsts_error(700024, "Client assertion is not within its valid time range.", error="invalid_client")
        if claims["exp"] - claims.get("iat", claims["exp"]) > MAX_ASSERTION_LIFETIME:
            return aadsts_error(
                70023, "The client assertion's lifetime is too long; it must be under a day.", error="invalid_client"
            )
        audiences = claims.get("aud", [])
        audiences = [audiences] if isinstance(audiences, str) else audiences
        wanted = self.federated
        if (
            (wanted.issuer is not None and claims.get("iss") != wanted.issuer)
            or (wanted.subject is not None and claims.get("sub") != wanted.subject)
            or wanted.audience not in audiences
        ):
            return aadsts_error(
                70021,
                "No matching federated identity record found for presented assertion. "
                f"Assertion Issuer: '{claims.get('iss')}'. Assertion Subject: '{claims.get('sub')}'. "
                f"Assertion Audience: '{','.join(audiences)}'.",
                error="invalid_client",
            )
        return None
