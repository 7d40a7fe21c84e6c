"""A loopback RFC 8693 token endpoint and a resource server that accepts what it issues."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from urllib.parse import unquote_plus

from .failures import FailureKnobs, Failures
from .server import LoopbackServer, LoopbackService, RecordedRequest, Reply
from .tls import LocalCA

__all__ = ["TokenExchangeServer"]

GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"


class TokenExchangeServer(FailureKnobs, LoopbackService):
    """``POST /token`` exchanges a subject token per RFC 8693; ``GET /api`` answers 200 to a token it issued.

    ``expected_subject`` returns the token the exchange must carry (say, a ``TokenFile``'s current token).
    ``fail_with(code, message, status)`` makes exchanges fail with an RFC 6749 error body (``answer_with`` with any
    reply);
    ``clients`` (``{client_id: secret}``) turns on client authentication.
    """

    def __init__(
        self,
        expected_subject: Callable[[], str | None],
        *,
        lifetime: int = 3600,
        clients: dict[str, str] | None = None,
        tls: LocalCA | bool | None = None,
        hostnames: Iterable[str] = (),
    ) -> None:
        self.server = LoopbackServer(tls=tls, hostnames=hostnames)
        self.expected_subject = expected_subject
        self.lifetime = lifetime
        self.clients = clients
        self.issued: list[str] = []
        self.failures = Failures()
        self.server.routes[("POST", "/token")] = self._token
        self.server.routes[("GET", "/api")] = self._api

    def token_requests(self) -> list[RecordedRequest]:
        """Every request to the token endpoint."""
        return self.server.calls("POST", "/token")

    def fail_with(
        self, code: str | None, message: str | None = None, status: int = 400, *, times: int | None = None
    ) -> None:
        """Answer exchanges with OAuth error ``code`` (None: issue tokens again), ``times`` times or until cleared."""
        reply = None if code is None else Reply.json({"error": code, "error_description": message or ""}, status)
        self.answer_with(reply, times=times)

    def _client_error(self, request: RecordedRequest) -> Reply | None:
        if self.clients is None:
            return None
        header = request.headers.get("authorization", "")
        if header.startswith("Basic "):
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            if self.clients.get(unquote_plus(client_id)) == unquote_plus(secret):
                return None
        return Reply.json({"error": "invalid_client", "error_description": "client authentication failed"}, 401)

    def _token(self, request: RecordedRequest) -> Reply:
        form = request.form()
        refused = self.failures.take() or self._client_error(request)
        if refused is not None:
            return refused
        if form.get("grant_type") != GRANT or form.get("subject_token_type") != JWT_TYPE:
            return Reply.json({"error": "invalid_request", "error_description": "not a JWT token exchange"}, 400)
        if form.get("subject_token") != self.expected_subject():
            return Reply.json(
                {
                    "error": "invalid_grant",
                    "error_description": "subject token is expired or not from a trusted issuer",
                },
                400,
            )
        token = f"exchanged-{len(self.issued) + 1}-{form.get('audience', '')}"
        self.issued.append(token)
        return Reply.json(
            {
                "access_token": token,
                "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
                "token_type": "Bearer",
                "expires_in": self.lifetime,
            }
        )

    def _api(self, request: RecordedRequest) -> Reply:
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        if self.issued and bearer == self.issued[-1]:
            return Reply.json({"ok": True})
        return Reply.json({"error": "invalid_token"}, 401)
