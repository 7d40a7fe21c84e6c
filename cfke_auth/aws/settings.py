"""What callers pass to the AWS entry points, checked and completed from the environment before any network call.

A malformed role ARN, a duration STS would refuse or a session name it would reject is a
:class:`~cfke_auth.ConfigurationError` naming the parameter at the call site, rather than a ``ValidationError`` from
STS at the first request. The default session name identifies the pod in CloudTrail: ``NAMESPACE.POD`` from the
token, sanitised to what STS allows.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from typing import TypedDict

from .._claims import TokenClaims
from .._errors import ConfigurationError
from .._http import HttpOptions
from .._source import SubjectTokenSource, subject_token_source
from .endpoint import resolve_region, resolve_sts_endpoint

__all__ = [
    "MAX_DURATION",
    "MIN_DURATION",
    "AwsOptions",
    "AwsSettings",
    "account_id",
    "check_role_arn",
    "default_session_name",
    "resolve",
    "resolve_duration",
    "resolve_role_arn",
    "resolve_session_name",
    "session_name_from",
]

MIN_DURATION = 900
MAX_DURATION = 43200
_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::([0-9]{12}):role/(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}", re.ASCII)
_SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}", re.ASCII)
_NOT_ALLOWED = re.compile(r"[^\w+=,.@-]+", re.ASCII)
_HASH_CHARS = 8


class AwsOptions(TypedDict, total=False):
    """The keyword parameters every AWS entry point takes besides ``role_arn`` (all optional).

    ``region_name`` (else ``AWS_REGION``/``AWS_DEFAULT_REGION``/the profile's region) is the SDK region and picks
    the regional STS endpoint; ``session_name`` (else ``AWS_ROLE_SESSION_NAME``, else ``NAMESPACE.POD`` from the
    token) names the role session in CloudTrail; ``duration_seconds`` (900-43200, else the role's default);
    ``token_path`` (else ``AWS_WEB_IDENTITY_TOKEN_FILE``, ``CFKE_TOKEN_FILE``, the projected path) or
    ``token_source`` (any :class:`~cfke_auth.SubjectTokenSource`); ``sts_endpoint_url`` (else
    ``AWS_ENDPOINT_URL_STS``, ``AWS_ENDPOINT_URL``, the regional endpoint); ``http`` (:class:`~cfke_auth.HttpOptions`).
    """

    region_name: str | None
    session_name: str | None
    duration_seconds: int | None
    token_path: str | os.PathLike[str] | None
    token_source: SubjectTokenSource | None
    sts_endpoint_url: str | None
    http: HttpOptions | None


@dataclass(frozen=True)
class AwsSettings:
    """One role assumption, validated: what to ask STS, the SDK region, the token source and the HTTP options.

    Hashable, so it keys the process-wide credential. ``session_name`` None means "derive it from the token"
    (:func:`default_session_name`).
    """

    role_arn: str
    endpoint: str
    source: SubjectTokenSource
    session_name: str | None = None
    duration_seconds: int | None = None
    region: str | None = None
    http: HttpOptions | None = None


def check_role_arn(arn: str, what: str = "role_arn") -> str:
    """``arn`` if it is an IAM role ARN (``arn:aws:iam::ACCOUNT_ID:role/NAME``), else a ConfigurationError."""
    if not isinstance(arn, str) or not _ROLE_ARN.fullmatch(arn):
        raise ConfigurationError(f"{what} {arn!r} is not an IAM role ARN of the form arn:aws:iam::ACCOUNT_ID:role/NAME")
    return arn


def resolve_role_arn(role_arn: str | None) -> str:
    """The role to assume: the argument, else ``AWS_ROLE_ARN``; ConfigurationError when neither is a role ARN."""
    arn = role_arn or os.environ.get("AWS_ROLE_ARN")
    if not arn:
        raise ConfigurationError(
            "role_arn is required: pass it or set AWS_ROLE_ARN (arn:aws:iam::ACCOUNT_ID:role/NAME)"
        )
    return check_role_arn(arn)


def account_id(role_arn: str) -> str:
    """The 12-digit account of a role ARN already checked by :func:`check_role_arn`."""
    return role_arn.split(":")[4]


def resolve_duration(duration_seconds: int | None) -> int | None:
    """The requested credential lifetime, or None for the role's default (one hour)."""
    if duration_seconds is None:
        return None
    if isinstance(duration_seconds, bool) or not isinstance(duration_seconds, int):
        raise ConfigurationError(f"duration_seconds must be an integer number of seconds, not {duration_seconds!r}")
    if not MIN_DURATION <= duration_seconds <= MAX_DURATION:
        raise ConfigurationError(
            f"duration_seconds {duration_seconds} is outside what STS accepts ({MIN_DURATION}-{MAX_DURATION}); "
            "above 3600 the role's maximum session duration must allow it too"
        )
    return duration_seconds


def resolve_session_name(session_name: str | None) -> str | None:
    """The session name: the argument, else ``AWS_ROLE_SESSION_NAME``; None means "derive it from the token"."""
    name = session_name or os.environ.get("AWS_ROLE_SESSION_NAME") or None
    if name is None:
        return None
    if not isinstance(name, str) or not _SESSION_NAME.fullmatch(name):
        raise ConfigurationError(
            f"session_name {name!r} is not a valid role session name: 2-64 characters of letters, digits and +=,.@_-"
        )
    return name


def default_session_name(claims: TokenClaims | None) -> str:
    """``NAMESPACE.POD`` (or the service account when the token names no pod), sanitised for STS.

    Names longer than 64 characters are cut and end in a hash of the full name, so two long pod names that share
    a prefix still give distinct sessions in CloudTrail. Without claims (a token that is not a JWT): ``cfke-auth``.
    """
    if claims is None:
        return "cfke-auth"
    who = claims.pod_name or claims.service_account
    return session_name_from(f"{claims.namespace}.{who}" if claims.namespace and who else claims.subject)


def session_name_from(raw: str) -> str:
    """``raw`` made a valid role session name: other characters become ``-``; a name longer than 64 characters is
    cut and ends in a hash of the whole, so two long names that share a prefix stay distinct."""
    name = _NOT_ALLOWED.sub("-", raw).strip("-") or "cfke-auth"
    if len(name) > 64:
        digest = hashlib.sha256(raw.encode()).hexdigest()[:_HASH_CHARS]
        name = f"{name[: 64 - _HASH_CHARS - 1]}-{digest}"
    return name if len(name) >= 2 else f"cfke-auth-{name}"


def resolve(
    role_arn: str | None = None,
    *,
    region_name: str | None = None,
    session_name: str | None = None,
    duration_seconds: int | None = None,
    token_path: str | os.PathLike[str] | None = None,
    token_source: SubjectTokenSource | None = None,
    sts_endpoint_url: str | None = None,
    http: HttpOptions | None = None,
) -> AwsSettings:
    """Arguments completed from the environment (``AWS_ROLE_ARN``, ``AWS_ROLE_SESSION_NAME``, ``AWS_REGION``, ...)
    and checked; :class:`~cfke_auth.ConfigurationError` names the first bad one. Reads no token, makes no request."""
    region = resolve_region(region_name)
    return AwsSettings(
        role_arn=resolve_role_arn(role_arn),
        endpoint=resolve_sts_endpoint(sts_endpoint_url, region),
        session_name=resolve_session_name(session_name),
        duration_seconds=resolve_duration(duration_seconds),
        region=region,
        source=subject_token_source(token_path, token_source, "AWS_WEB_IDENTITY_TOKEN_FILE"),
        http=http,
    )
