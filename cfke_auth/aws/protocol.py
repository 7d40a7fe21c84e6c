"""``AssumeRoleWithWebIdentity`` and a role chain's ``AssumeRole``, sans-IO: requests, answers, and the flows.

The web-identity call is an unsigned form POST (the token is the proof); each hop of a role chain is an
``AssumeRole`` form POST signed (SigV4, see :mod:`.sigv4`) with the previous hop's keys. API version ``2011-06-15``,
answered in XML. The ``build_*`` functions and :func:`parse_response` are pure; :func:`assume_role_flow` and
:func:`chained_role_flow` are the protocol the sync and async drivers both run (see :mod:`cfke_auth._flow`), against
one endpoint each (failing over between endpoints is :mod:`.refresh`'s).
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from urllib.parse import urlencode, urlsplit

import httpx

from .._engine import Issued
from .._flow import Flow, send, subject_token
from .._protocol import MAX_LIFETIME, Context, timestamp
from . import xmldoc
from .endpoint import signing_region
from .errors import error_from_response, unexpected_response
from .settings import AwsSettings, check_session_name, default_session_name
from .sigv4 import sign_form_post

__all__ = [
    "API_VERSION",
    "StsCredentials",
    "assume_role_flow",
    "build_hop_request",
    "build_request",
    "chained_role_flow",
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


_CONTENT_TYPE = "application/x-www-form-urlencoded; charset=utf-8"


def _policy_fields(policy: str | None, policy_arns: tuple[str, ...]) -> dict[str, str]:
    """The session-policy parameters of an STS call."""
    form = {f"PolicyArns.member.{n}.arn": arn for n, arn in enumerate(policy_arns, start=1)}
    return form | ({"Policy": policy} if policy is not None else {})


def build_request(settings: AwsSettings, token: str, session_name: str, endpoint: str | None = None) -> httpx.Request:
    """The ``AssumeRoleWithWebIdentity`` POST for ``token``, to ``endpoint`` (default: ``settings.endpoint``)."""
    form = {
        "Action": "AssumeRoleWithWebIdentity",
        "Version": API_VERSION,
        "RoleArn": settings.role_arn,
        "RoleSessionName": session_name,
        "WebIdentityToken": token,
    }
    if settings.duration_seconds is not None:
        form["DurationSeconds"] = str(settings.duration_seconds)
    form |= _policy_fields(settings.policy, settings.policy_arns)
    return httpx.Request(
        "POST",
        f"{endpoint or settings.endpoint}/",
        data=form,
        headers={"Accept": "text/xml", "Content-Type": _CONTENT_TYPE},
    )


def build_hop_request(
    settings: AwsSettings, keys: StsCredentials, session_name: str, endpoint: str, *, now: float
) -> httpx.Request:
    """The ``AssumeRole`` POST into the last hop of ``settings.chain``, to ``endpoint``, signed at ``now`` with
    ``keys`` (the previous hop's credentials)."""
    hop = settings.chain[-1]
    form = {
        "Action": "AssumeRole",
        "Version": API_VERSION,
        "RoleArn": hop.role_arn,
        "RoleSessionName": session_name,
    }
    if settings.duration_seconds is not None:
        form["DurationSeconds"] = str(settings.duration_seconds)
    if hop.external_id is not None:
        form["ExternalId"] = hop.external_id
    form |= _policy_fields(hop.policy, hop.policy_arns)
    body = urlencode(form).encode()
    url = urlsplit(f"{endpoint}/")
    signed = sign_form_post(
        host=url.netloc,
        path=url.path,
        body=body,
        content_type=_CONTENT_TYPE,
        access_key_id=keys.access_key_id,
        secret_access_key=keys.secret_access_key,
        session_token=keys.session_token,
        region=signing_region(endpoint, settings.region),
        service="sts",
        now=now,
    )
    return httpx.Request("POST", f"{endpoint}/", content=body, headers={"Accept": "text/xml", **signed})


def format_expiration(epoch: float) -> str:
    """``epoch`` as STS and ``credential_process`` write an expiration: ``2026-11-27T04:00:00Z``."""
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_response(
    response: httpx.Response,
    context: Context[AwsSettings],
    *,
    now: float,
    action: str = "AssumeRoleWithWebIdentity",
) -> Issued[StsCredentials]:
    """The credentials in a successful answer to ``action``; an :class:`~cfke_auth.ExchangeError` for anything
    else."""
    if response.status_code != 200:
        raise error_from_response(response, context, now=now)
    root = xmldoc.parse(response.content)
    result = xmldoc.child(root, f"{action}Result")
    creds = xmldoc.child(result, "Credentials")
    access_key = xmldoc.text(creds, "AccessKeyId")
    secret_key = xmldoc.text(creds, "SecretAccessKey")
    session_token = xmldoc.text(creds, "SessionToken")
    expires_at = timestamp(xmldoc.text(creds, "Expiration"))
    if root is None or xmldoc.local_name(root) != f"{action}Response":
        raise unexpected_response(response, context, f"is not an {action} response", now=now)
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


def assume_role_flow(settings: AwsSettings, endpoint: str | None = None) -> Flow[StsCredentials]:
    """One web-identity exchange at ``endpoint`` (default: ``settings.endpoint``): read the token, name the
    session, call STS, return the credentials with their expiry."""
    endpoint = endpoint or settings.endpoint
    token = yield from subject_token()
    context = Context.of(settings, f"{endpoint}/", token)
    session_name = settings.session_name or default_session_name(context.claims)
    response = yield from send(build_request(settings, token, session_name, endpoint))
    return parse_response(response, context, now=time.time())


def _session_of(keys: StsCredentials) -> str:
    """The session name in an assumed-role ARN (``arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION``), or
    ``cfke-auth`` when there is none to take."""
    name = (keys.assumed_role_arn or "").rpartition("/")[2]
    try:
        return check_session_name(name)
    except ValueError:
        return "cfke-auth"


def chained_role_flow(settings: AwsSettings, keys: StsCredentials, endpoint: str) -> Flow[StsCredentials]:
    """One ``AssumeRole`` into the last hop of ``settings.chain`` at ``endpoint``, signed with ``keys`` (the previous
    hop's credentials); the session keeps the previous hop's name unless the hop names its own."""
    context: Context[AwsSettings] = Context(settings, f"{endpoint}/", (keys.secret_access_key, keys.session_token))
    session_name = settings.chain[-1].session_name or _session_of(keys)
    response = yield from send(build_hop_request(settings, keys, session_name, endpoint, now=time.time()))
    return parse_response(response, context, now=time.time(), action="AssumeRole")
