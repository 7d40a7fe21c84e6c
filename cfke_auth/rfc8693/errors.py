"""RFC 6749 error answers from a token-exchange endpoint, as :class:`~cfke_auth.ExchangeError` s with hints."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

from .._errors import ExchangeError
from .._protocol import Context, json_object, retry_after, transient

if TYPE_CHECKING:
    from .protocol import ExchangeRequest

__all__ = ["HINTS", "PROVIDER", "error_from_response"]

PROVIDER = "token-exchange"

HINTS = {
    "invalid_grant": "the endpoint rejected the pod token: check that it trusts the cluster issuer and accepts the "
    "token's audience (see 'cfke-auth token')",
    "invalid_target": "the endpoint does not serve the requested audience or resource",
    "invalid_scope": "a requested scope is unknown or not granted to this client",
    "invalid_client": "client authentication failed: check client_id / client_secret",
    "unauthorized_client": "this client may not use the token-exchange grant",
    "unsupported_grant_type": "the endpoint does not implement RFC 8693 token exchange",
    "invalid_request": "the endpoint refused the request's shape: check audience, resource and token types",
}


def error_from_response(response: httpx.Response, context: Context[ExchangeRequest], *, now: float) -> ExchangeError:
    """The typed error for a non-200 answer: the OAuth error code and description (redacted), or the status."""
    status = response.status_code
    body = json_object(response)
    if body is None:
        return ExchangeError(
            f"{context.url} answered HTTP {status} with a {response.headers.get('content-type', 'missing')!r} body, "
            "not an OAuth JSON response",
            provider=PROVIDER,
            code=f"http-{status}",
            status=status,
            retryable=transient(status),
            retry_after=retry_after(response, now),
        )
    code = context.redact(str(body.get("error") or f"http-{status}"))
    description = context.redact(str(body.get("error_description") or "no description"))
    return ExchangeError(
        description,
        provider=PROVIDER,
        code=code,
        status=status,
        retryable=transient(status),
        retry_after=retry_after(response, now),
        hint=HINTS.get(code),
        stale_token=code == "invalid_grant" and "expired" in description.lower(),
    )
