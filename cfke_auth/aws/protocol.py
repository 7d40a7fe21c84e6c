"""``AssumeRoleWithWebIdentity``, sans-IO: the request, the answer, and the flow that chains them.

The call is an unsigned form POST (the web-identity token is the proof), API version ``2011-06-15``, answered in
XML. :func:`build_request` and :func:`parse_response` are pure; :func:`assume_role_flow` is the one protocol
implementation the sync and async drivers both run (see :mod:`cfke_auth._flow`).
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

import httpx

from .._engine import Issued
from .._flow import Flow, send, subject_token
from .._protocol import MAX_LIFETIME, Context, timestamp
from . import xmldoc
from .errors import error_from_response, unexpected_response
from .settings import AwsSettings, default_session_name

__all__ = [
    "API_VERSION",
    "StsCredentials",
    "assume_role_flow",
    "build_request",
    "format_expiration",
    "parse_response",
]

API_VERSION = "2011-06-15"


class StsCredentials:
    """Temporary credentials STS issued, with what STS said about the assumption. Its repr shows no secret, and it
    does not pickle (the secret key and session token would be written out)."""

    __slots__ = (
        "access_key_id",
        "account_id",
        "assumed_role_arn",
        "assumed_role_id",
        "audience",
        "expires_at",
        "provider",
        "secret_access_key",
        "session_token",
        "subject",
    )

    def __init__(
        self,
        *,
        access_key_id: str,
        secret_access_key: str,
        session_token: str,
        expires_at: float,
        assumed_role_arn: str | None = None,
        assumed_role_id: str | None = None,
        subject: str | None = None,
        audience: str | None = None,
        provider: str | None = None,
    ) -> None:
        self.access_key_id = access_key_id
        self.secret_access_key = secret_access_key
        self.session_token = session_token
        self.expires_at = expires_at  # epoch seconds
        self.assumed_role_arn = assumed_role_arn
        self.assumed_role_id = assumed_role_id
        self.subject = subject  # SubjectFromWebIdentityToken: the token's sub as STS saw it
        self.audience = audience
        self.provider = provider
        arn_parts = (assumed_role_arn or "").split(":")
        self.account_id = arn_parts[4] if len(arn_parts) > 5 and arn_parts[4] else None

    @property
    def expiration(self) -> datetime:
        """:attr:`expires_at` as a timezone-aware UTC datetime."""
        return datetime.fromtimestamp(self.expires_at, tz=timezone.utc)

    def __repr__(self) -> str:
        return (
            f"StsCredentials(access_key_id={self.access_key_id!r}, assumed_role_arn={self.assumed_role_arn!r}, "
            f"expiration={self.expiration.isoformat()!r})"
        )

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("StsCredentials hold a secret key and session token and are not pickled")


def build_request(settings: AwsSettings, token: str, session_name: str) -> httpx.Request:
    """The ``AssumeRoleWithWebIdentity`` POST for ``token``."""
    form = {
        "Action": "AssumeRoleWithWebIdentity",
        "Version": API_VERSION,
        "RoleArn": settings.role_arn,
        "RoleSessionName": session_name,
        "WebIdentityToken": token,
    }
    if settings.duration_seconds is not None:
        form["DurationSeconds"] = str(settings.duration_seconds)
    return httpx.Request(
        "POST",
        f"{settings.endpoint}/",
        data=form,
        headers={"Accept": "text/xml", "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )


def format_expiration(epoch: float) -> str:
    """``epoch`` as STS and ``credential_process`` write an expiration: ``2026-11-27T04:00:00Z``."""
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_response(response: httpx.Response, context: Context[AwsSettings], *, now: float) -> Issued[StsCredentials]:
    """The credentials in a successful answer; an :class:`~cfke_auth.ExchangeError` for anything else."""
    if response.status_code != 200:
        raise error_from_response(response, context, now=now)
    root = xmldoc.parse(response.content)
    result = xmldoc.child(root, "AssumeRoleWithWebIdentityResult")
    creds = xmldoc.child(result, "Credentials")
    access_key = xmldoc.text(creds, "AccessKeyId")
    secret_key = xmldoc.text(creds, "SecretAccessKey")
    session_token = xmldoc.text(creds, "SessionToken")
    expires_at = timestamp(xmldoc.text(creds, "Expiration"))
    if root is None or xmldoc.local_name(root) != "AssumeRoleWithWebIdentityResponse":
        raise unexpected_response(response, context, "is not an AssumeRoleWithWebIdentity response", now=now)
    if expires_at is not None and expires_at > now + MAX_LIFETIME:
        expires_at = None  # not a credential's expiration (and past what a datetime holds, perhaps)
    if not (access_key and secret_key and session_token and expires_at):
        raise unexpected_response(response, context, "lacks credentials or a valid expiration", now=now)
    credentials = StsCredentials(
        access_key_id=access_key,
        secret_access_key=secret_key,
        session_token=session_token,
        expires_at=expires_at,
        assumed_role_arn=xmldoc.text(result, "AssumedRoleUser", "Arn"),
        assumed_role_id=xmldoc.text(result, "AssumedRoleUser", "AssumedRoleId"),
        subject=xmldoc.text(result, "SubjectFromWebIdentityToken"),
        audience=xmldoc.text(result, "Audience"),
        provider=xmldoc.text(result, "Provider"),
    )
    return Issued(credentials, expires_at)


def assume_role_flow(settings: AwsSettings) -> Flow[StsCredentials]:
    """One exchange: read the token, name the session, call STS, return the credentials with their expiry."""
    token = yield from subject_token()
    context = Context.of(settings, f"{settings.endpoint}/", token)
    session_name = settings.session_name or default_session_name(context.claims)
    response = yield from send(build_request(settings, token, session_name))
    return parse_response(response, context, now=time.time())
