"""The Azure managed-identity endpoint, App Service protocol: ``IDENTITY_ENDPOINT`` + ``IDENTITY_HEADER``.

azure-identity (Python) and @azure/identity (Node), through ``ManagedIdentityCredential`` or
``DefaultAzureCredential``, send ``GET ?api-version=2019-08-01&resource=R`` (the scope without ``/.default``;
``&client_id=`` for a user-assigned identity) with the header's value as ``X-IDENTITY-HEADER``, and take
``access_token`` and ``expires_on`` -- epoch seconds, the only form both accept. Refusals are JSON
``{"statusCode", "message"}`` (Python builds its error from those fields) with 400 or 401, never 404, which Node
retries for 20 seconds.
"""

from __future__ import annotations

from aiohttp import web

from ..azure.protocol import EntraToken
from ..azure.settings import EntraSettings
from .keeper import Keepers, obtain
from .secrets import Secret

__all__ = ["API_VERSION", "PATH", "resource_scope", "routes"]

PATH = "/msi/token"
API_VERSION = "2019-08-01"
#: Other ways to name an identity; this broker serves exactly one, named by its client id.
_SELECTORS = ("mi_res_id", "msi_res_id", "object_id", "principal_id")


def _refusal(status: int, message: str) -> web.Response:
    return web.json_response({"statusCode": status, "message": message}, status=status)


def resource_scope(resource: str) -> str:
    """The Entra ID scope for an App Service ``resource``."""
    return f"{resource}/.default"


def routes(tokens: Keepers[str, EntraToken], secret: Secret, settings: EntraSettings) -> list[web.RouteDef]:
    """``GET /msi/token`` serving tokens per resource (one keeper each) to requests presenting ``secret``."""

    async def token(request: web.Request) -> web.Response:
        if not secret.matches(request.headers.get("X-IDENTITY-HEADER")):
            return _refusal(401, "X-IDENTITY-HEADER is missing or is not this broker's IDENTITY_HEADER")
        query = request.query
        if query.get("api-version") != API_VERSION:
            return _refusal(400, f"api-version must be {API_VERSION}")
        if any(name in query for name in _SELECTORS):
            return _refusal(400, f"this endpoint serves one identity, client_id {settings.client_id}")
        if query.get("client_id", settings.client_id) != settings.client_id:
            return _refusal(400, f"client_id {query['client_id']!r} is not this endpoint's ({settings.client_id})")
        resource = query.get("resource")
        if not resource:
            return _refusal(400, "resource is required (the scope without /.default)")
        value = await obtain(lambda: tokens.get(resource), lambda status, error: _refusal(status, str(error)))
        if isinstance(value, web.Response):
            return value
        body = {
            "access_token": value.token,
            "expires_on": str(value.expires_on),
            "resource": resource,
            "token_type": value.token_type,
            "client_id": settings.client_id,
        }
        return web.json_response(body, headers={"Cache-Control": "no-store"})

    return [web.get(PATH, token, name="azure")]
