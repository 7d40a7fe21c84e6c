"""What callers pass, checked and completed before any network call.

A malformed role ARN, a duration STS would refuse or a session name it would reject is a ``ValueError`` naming the
parameter at the call site, rather than a ``ValidationError`` from STS at the first request. The default session
name identifies the pod in CloudTrail: ``NAMESPACE.POD`` from the token, sanitised to what STS allows.
"""

from __future__ import annotations

import hashlib
import os
import re

from ..claims import TokenClaims

__all__ = [
    "MAX_DURATION",
    "MIN_DURATION",
    "account_id",
    "default_session_name",
    "resolve_duration",
    "resolve_role_arn",
    "resolve_session_name",
]

MIN_DURATION = 900
MAX_DURATION = 43200
_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}):role/(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}", re.ASCII)
_SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}", re.ASCII)
_NOT_ALLOWED = re.compile(r"[^\w+=,.@-]+", re.ASCII)
_HASH_CHARS = 8


def resolve_role_arn(role_arn: str | None) -> str:
    """The role to assume: the argument, else ``AWS_ROLE_ARN``; ``ValueError`` when neither is an IAM role ARN."""
    arn = role_arn or os.environ.get("AWS_ROLE_ARN")
    if not arn:
        raise ValueError("role_arn is required: pass it or set AWS_ROLE_ARN (arn:aws:iam::ACCOUNT_ID:role/NAME)")
    if not _ROLE_ARN.fullmatch(arn):
        raise ValueError(f"role_arn {arn!r} is not an IAM role ARN of the form arn:aws:iam::ACCOUNT_ID:role/NAME")
    return arn


def account_id(role_arn: str) -> str:
    """The 12-digit account of a role ARN already checked by :func:`resolve_role_arn`."""
    return role_arn.split(":")[4]


def resolve_duration(duration_seconds: int | None) -> int | None:
    """The requested credential lifetime, or None for the role's default (one hour)."""
    if duration_seconds is None:
        return None
    if isinstance(duration_seconds, bool) or not isinstance(duration_seconds, int):
        raise ValueError(f"duration_seconds must be an integer number of seconds, not {duration_seconds!r}")
    if not MIN_DURATION <= duration_seconds <= MAX_DURATION:
        raise ValueError(
            f"duration_seconds {duration_seconds} is outside what STS accepts ({MIN_DURATION}-{MAX_DURATION}); "
            "above 3600 the role's maximum session duration must allow it too"
        )
    return duration_seconds


def resolve_session_name(session_name: str | None) -> str | None:
    """The session name: the argument, else ``AWS_ROLE_SESSION_NAME``; None means "derive it from the token"."""
    name = session_name or os.environ.get("AWS_ROLE_SESSION_NAME") or None
    if name is None:
        return None
    if not _SESSION_NAME.fullmatch(name):
        raise ValueError(
            f"session_name {name!r} is not a valid role session name: 2-64 characters of letters, digits and +=,.@_-"
        )
    return name


def default_session_name(claims: TokenClaims) -> str:
    """``NAMESPACE.POD`` (or the service account when the token names no pod), sanitised for STS.

    Names longer than 64 characters are cut and end in a hash of the full name, so two long pod names that share
    a prefix still give distinct sessions in CloudTrail.
    """
    who = claims.pod_name or claims.service_account
    raw = f"{claims.namespace}.{who}" if claims.namespace and who else claims.subject
    name = _NOT_ALLOWED.sub("-", raw).strip("-") or "cfke-auth"
    if len(name) > 64:
        digest = hashlib.sha256(raw.encode()).hexdigest()[:_HASH_CHARS]
        name = f"{name[: 64 - _HASH_CHARS - 1]}-{digest}"
    return name if len(name) >= 2 else f"cfke-auth-{name}"
