"""``AssumeRoleWithWebIdentity``, sans-IO: the request, the answer, and the flow that chains them.

The call is an unsigned form POST (the web-identity token is the proof), API version ``2011-06-15``, answered in
XML. :func:`build_request` and :func:`parse_response` are pure; :func:`assume_role_flow` is the one protocol
implementation the sync and async drivers both run (see :mod:`cfke_auth.flow`).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import NamedTuple

import httpx

from ..claims import TokenClaims, decode_claims
from ..engine import Issued
from ..flow import Flow, send, subject_token
from . import xmldoc
from .arguments import default_session_name
from .errors import error_from_response, unexpected_response

__all__ = [
    "API_VERSION",
    "AssumeRoleParams",
    "StsCredentials",
    "assume_role_flow",
    "build_request",
    "format_expiration",
    "parse_response",
]

API_VERSION = "2011-06-15"
_ISO = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:?\d\d)?$")


class AssumeRoleParams(NamedTuple):
    """What one role assumption asks for; hashable, so it keys the process-wide credential cache.

    ``session_name`` None means "derive it from the token" (:func:`~.arguments.default_session_name`).
    """

    role_arn: str
    endpoint: str
    session_name: str | None = None
    duration_seconds: int | None = None


class StsCredentials:
    """Temporary credentials STS issued, with what STS said about the assumption. Its repr shows no secret."""

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


def build_request(token: str, params: AssumeRoleParams, session_name: str) -> httpx.Request:
    """The ``AssumeRoleWithWebIdentity`` POST for ``token``."""
    form = {
        "Action": "AssumeRoleWithWebIdentity",
        "Version": API_VERSION,
        "RoleArn": params.role_arn,
        "RoleSessionName": session_name,
        "WebIdentityToken": token,
    }
    if params.duration_seconds is not None:
        form["DurationSeconds"] = str(params.duration_seconds)
    return httpx.Request(
        "POST",
        f"{params.endpoint}/",
        data=form,
        headers={"Accept": "text/xml", "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )


def format_expiration(epoch: float) -> str:
    """``epoch`` as STS and ``credential_process`` write an expiration: ``2026-11-27T04:00:00Z``."""
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch(value: str | None) -> float | None:
    """STS's ``Expiration`` (ISO 8601, ``Z`` or an offset, optional fraction) as epoch seconds."""
    match = _ISO.match(value or "")
    if match is None:
        return None
    base, fraction, zone = match.groups()
    zone = "+00:00" if zone in (None, "Z") else zone
    stamp = datetime.fromisoformat(f"{base}{zone[:3]}:{zone[-2:]}")
    return stamp.timestamp() + float(fraction or 0)


def parse_response(
    response: httpx.Response, *, token: str, claims: TokenClaims, params: AssumeRoleParams
) -> StsCredentials:
    """The credentials in a successful answer; an :class:`~cfke_auth.ExchangeError` for anything else.

    ``token``, ``claims`` and ``params`` only shape error messages (the token is scrubbed from them)."""
    if response.status_code != 200:
        raise error_from_response(response, token=token, claims=claims, role_arn=params.role_arn)
    root = xmldoc.parse(response.content)
    result = xmldoc.child(root, "AssumeRoleWithWebIdentityResult")
    creds = xmldoc.child(result, "Credentials")
    access_key = xmldoc.text(creds, "AccessKeyId")
    secret_key = xmldoc.text(creds, "SecretAccessKey")
    session_token = xmldoc.text(creds, "SessionToken")
    expires_at = _epoch(xmldoc.text(creds, "Expiration"))
    if root is None or xmldoc.local_name(root) != "AssumeRoleWithWebIdentityResponse":
        raise unexpected_response(response, "is not an AssumeRoleWithWebIdentity response")
    if not (access_key and secret_key and session_token and expires_at):
        raise unexpected_response(response, "lacks credentials or a valid expiration")
    return StsCredentials(
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


def assume_role_flow(params: AssumeRoleParams) -> Flow[StsCredentials]:
    """One exchange: read the token, name the session, call STS, return the credentials with their expiry."""
    token = yield from subject_token()
    claims = decode_claims(token)
    request = build_request(token, params, params.session_name or default_session_name(claims))
    response = yield from send(request)
    credentials = parse_response(response, token=token, claims=claims, params=params)
    return Issued(credentials, credentials.expires_at)
