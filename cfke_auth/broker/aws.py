"""The AWS container credentials endpoint, for ``AWS_CONTAINER_CREDENTIALS_FULL_URI``.

Every AWS SDK's container provider (botocore and so boto3 and the AWS CLI, the JavaScript SDK's ``fromHttp``, ...)
sends ``GET`` with the content of ``AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`` as ``Authorization`` and takes
``AccessKeyId``, ``SecretAccessKey``, ``Token`` and ``Expiration`` (``YYYY-MM-DDTHH:MM:SSZ``: the JavaScript SDK
refuses ``+00:00``), plus ``AccountId``. Refusals are ``{"Code", "Message"}`` JSON; botocore quotes the body in its
exception text, so nothing secret is ever in one.
"""

from __future__ import annotations

from aiohttp import web

from ..aws.protocol import StsCredentials, format_expiration
from ..aws.settings import AwsSettings, account_id
from .keeper import Keeper, error_code, obtain
from .secrets import Secret

__all__ = ["MIN_LEFT", "PATH", "routes"]

PATH = "/aws/credentials"
#: botocore refreshes container credentials with less than 15 minutes left (mandatorily under 10): the broker
#: refreshes its own before that, with a minute to spare, so what it serves is never in that window.
MIN_LEFT = 16 * 60.0
NO_STORE = {"Cache-Control": "no-store"}


def _refusal(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"Code": code, "Message": message}, status=status, headers=NO_STORE)


def routes(keeper: Keeper[StsCredentials], secret: Secret, settings: AwsSettings) -> list[web.RouteDef]:
    """``GET /aws/credentials`` serving ``keeper``'s credentials to requests presenting ``secret``."""
    fallback_account = account_id(settings.role_arn)

    async def credentials(request: web.Request) -> web.Response:
        if not secret.matches(request.headers.get("Authorization")):
            return _refusal(
                401, "AccessDenied", "Authorization is not this broker's token (AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE)"
            )
        creds = await obtain(lambda: keeper, lambda status, error: _refusal(status, error_code(error), str(error)))
        if isinstance(creds, web.Response):
            return creds
        body = {
            "AccessKeyId": creds.access_key_id,
            "SecretAccessKey": creds.secret_access_key,
            "Token": creds.session_token,
            "Expiration": format_expiration(creds.expires_at),
            "AccountId": creds.account_id or fallback_account,
        }
        return web.json_response(body, headers=NO_STORE)

    return [web.get(PATH, credentials, name="aws")]
