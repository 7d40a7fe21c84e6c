"""The GCE metadata server, for ``GCE_METADATA_HOST`` and ``GCE_METADATA_IP``: every path Google's auth libraries call.

google-auth (Python) pings ``/``, google-auth-library (Node) pings ``/computeMetadata/v1/instance``; then both read
the project, the account (``default/?recursive=true``, or by its email once they know it), a token for their scopes
(``token?scopes=a,b``) and, for ID tokens, ``identity?audience=...``. Every answer carries ``Metadata-Flavor:
Google`` (without it both libraries decide they are not on GCE); tokens and the account are JSON, everything else
text. As the real server does against SSRF, a request without ``Metadata-Flavor: Google`` or with
``X-Forwarded-For`` is refused: a browser or a proxied request cannot set the first or avoid the second.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import replace

from aiohttp import web

from .._engine import RefreshingCredential
from .._errors import CfkeAuthError
from ..gcp.protocol import GoogleIdToken, GoogleToken
from ..gcp.refresh import google_credential
from ..gcp.refresh import id_token_credential as gcp_id_token_credential
from ..gcp.settings import check_scopes
from .config import GcpPart
from .keeper import Keeper, Keepers, obtain

__all__ = ["PREFIX", "id_token_credential", "is_metadata_path", "metadata_rules", "routes", "scope_label"]

PREFIX = "/computeMetadata/v1"
_ACCOUNT = f"{PREFIX}/instance/service-accounts/{{account}}"
_SCOPE_PREFIX = "https://www.googleapis.com/auth/"
_UNIVERSE = "googleapis.com"
_NO_ID_TOKENS = (
    "ID tokens are minted by IAM for a service account: start the broker with --gcp-service-account "
    "(direct workload identity federation cannot issue them)"
)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_metadata_path(path: str) -> bool:
    """Whether ``path`` is the metadata server's (and so falls under its header rules)."""
    return path == "/" or path.startswith("/computeMetadata")


def text(body: str, status: int = 200) -> web.Response:
    """A plain answer, typed as the metadata server types its values (not JSON, so clients keep it a string)."""
    return web.Response(status=status, text=body, content_type="application/text")


@web.middleware
async def metadata_rules(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The metadata server's request rules and its response header, for its paths only."""
    if not is_metadata_path(request.path):
        return await handler(request)
    if "X-Forwarded-For" in request.headers:
        response: web.StreamResponse = text("Request had an X-Forwarded-For header and was refused.", 403)
    elif request.headers.get("Metadata-Flavor") != "Google":
        response = text("Missing Metadata-Flavor:Google header.", 403)
    else:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            response = text(exc.text or exc.reason, exc.status)
    response.headers["Metadata-Flavor"] = "Google"
    return response


def refusal(status: int, error: CfkeAuthError) -> web.Response:
    """The metadata server's refusals are plain text (both Google libraries quote it in their error)."""
    return text(str(error), status)


def scope_label(scopes: tuple[str, ...]) -> str:
    """Scopes for a log line or a metric label, without the common prefix."""
    return " ".join(s.removeprefix(_SCOPE_PREFIX) for s in scopes)


def routes(
    part: GcpPart,
    tokens: Keepers[tuple[str, ...], GoogleToken],
    identities: Keepers[tuple[str, bool], GoogleIdToken] | None,
) -> list[web.RouteDef]:
    """The metadata paths for ``part``: access tokens from ``tokens`` (one keeper per scope set), ID tokens from
    ``identities`` (one per audience and format; None when no service account is impersonated)."""
    email = part.email
    scopes = tuple(sorted(part.settings.scopes))

    def fixed(body: str) -> Handler:
        async def answer(request: web.Request) -> web.Response:
            return text(body)

        return answer

    def for_account(handler: Handler) -> Handler:
        async def checked(request: web.Request) -> web.StreamResponse:
            if request.match_info["account"] not in ("default", email):
                return text(f"service account {request.match_info['account']!r} not found on this instance", 404)
            return await handler(request)

        return checked

    async def account(request: web.Request) -> web.Response:
        if request.query.get("recursive", "").lower() == "true":
            return web.json_response({"aliases": ["default"], "email": email, "scopes": list(scopes)})
        return text("aliases\nemail\nidentity\nscopes\ntoken\n")

    async def token(request: web.Request) -> web.Response:
        asked = request.query.get("scopes")

        def keeper() -> Keeper[GoogleToken]:
            wanted = [s.strip() for s in asked.split(",") if s.strip()] if asked else scopes
            return tokens.get(tuple(sorted(check_scopes(wanted))))

        value = await obtain(keeper, refusal)
        if isinstance(value, web.Response):
            return value
        expires_in = int(value.expires_at - time.time())
        return web.json_response({"access_token": value.token, "expires_in": expires_in, "token_type": "Bearer"})

    async def identity(request: web.Request) -> web.Response:
        audience = request.query.get("audience")
        if not audience:
            return text("non-empty audience parameter required", 400)
        if identities is None:
            return text(_NO_ID_TOKENS, 404)
        full = request.query.get("format") == "full"
        value = await obtain(lambda: identities.get((audience, full)), refusal)
        return value if isinstance(value, web.Response) else text(value.token)

    async def project_id(request: web.Request) -> web.Response:
        if part.project_id is None:
            return text("no project ID is configured: start the broker with --gcp-project-id", 404)
        return text(part.project_id)

    listing = fixed("attributes/\nservice-accounts/\n")
    return [
        web.get("/", fixed("computeMetadata/\n"), name="gce"),
        web.get(PREFIX, fixed("instance/\nproject/\nuniverse/\n"), name="gce-root"),
        web.get(f"{PREFIX}/", fixed("instance/\nproject/\nuniverse/\n"), name="gce-root-slash"),
        web.get(f"{PREFIX}/instance", listing, name="gce-instance"),
        web.get(f"{PREFIX}/instance/", listing, name="gce-instance-slash"),
        web.get(f"{PREFIX}/instance/service-accounts/", fixed(f"default/\n{email}/\n"), name="gce-accounts"),
        web.get(f"{_ACCOUNT}/", for_account(account), name="gce-account"),
        web.get(f"{_ACCOUNT}/email", for_account(fixed(email)), name="gce-email"),
        web.get(f"{_ACCOUNT}/aliases", for_account(fixed("default")), name="gce-aliases"),
        web.get(f"{_ACCOUNT}/scopes", for_account(fixed("".join(f"{s}\n" for s in scopes))), name="gce-scopes"),
        web.get(f"{_ACCOUNT}/token", for_account(token), name="gce-token"),
        web.get(f"{_ACCOUNT}/identity", for_account(identity), name="gce-identity"),
        web.get(f"{PREFIX}/project/project-id", project_id, name="gce-project-id"),
        web.get(
            f"{PREFIX}/project/numeric-project-id",
            fixed(part.settings.provider.project_number),
            name="gce-project-number",
        ),
        web.get(f"{PREFIX}/universe/universe-domain", fixed(_UNIVERSE), name="gce-universe"),
    ]


def token_credential(part: GcpPart, scopes: tuple[str, ...]) -> RefreshingCredential[GoogleToken]:
    """The shared access-token credential for ``scopes`` (the configured identity, other scopes)."""
    return google_credential(replace(part.settings, scopes=scopes))


def id_token_credential(part: GcpPart, audience: str, full: bool) -> RefreshingCredential[GoogleIdToken]:
    """The shared ID-token credential for ``audience``; ``full`` (``format=full``) adds the email claims."""
    return gcp_id_token_credential(part.settings, audience, include_email=full)
