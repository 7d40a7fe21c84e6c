"""What callers pass to the AWS entry points, checked and completed from the environment before any network call.

A malformed role ARN, a duration STS would refuse, a session name it would reject, a session policy that is not a
JSON object or is over STS's size limit, or a bad hop of a role chain is a :class:`~cfke_auth.ConfigurationError`
naming the parameter at the call site, rather than a ``ValidationError`` from STS at the first request. The default
session name identifies the pod in CloudTrail: ``NAMESPACE.POD`` from the token, sanitised to what STS allows.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeAlias, TypedDict

from .._claims import TokenClaims
from .._errors import ConfigurationError
from .._http import HttpOptions
from .._source import SubjectTokenSource, subject_token_source
from .endpoint import configured_endpoint, regional_endpoint, resolve_fallback_endpoints, resolve_region

__all__ = [
    "MAX_CHAINED_DURATION",
    "MAX_DURATION",
    "MAX_POLICY_ARNS",
    "MAX_POLICY_CHARS",
    "MIN_DURATION",
    "AwsOptions",
    "AwsSettings",
    "Hop",
    "RoleHop",
    "account_id",
    "check_external_id",
    "check_policy",
    "check_policy_arns",
    "check_role_arn",
    "check_session_name",
    "default_session_name",
    "resolve",
    "resolve_chain",
    "resolve_duration",
    "resolve_role_arn",
    "resolve_session_name",
    "session_name_from",
]

MIN_DURATION = 900
MAX_DURATION = 43200
#: AWS caps a session reached by role chaining (``sts:AssumeRole`` with role credentials) at one hour.
MAX_CHAINED_DURATION = 3600
#: STS's limit on a session policy's plaintext (the minified JSON sent).
MAX_POLICY_CHARS = 2048
#: STS's limit on managed policy ARNs per call.
MAX_POLICY_ARNS = 10
_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::([0-9]{12}):role/(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}", re.ASCII)
_POLICY_ARN = re.compile(r"arn:aws[a-z-]*:iam::(?:[0-9]{12}|aws):policy/(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,128}", re.ASCII)
_EXTERNAL_ID = re.compile(r"[\w+=,.@:/-]{2,1224}", re.ASCII)
_POLICY_TEXT = re.compile(r"[\t\n\r\u0020-\u00ff]*")  # what STS accepts in a policy document
_SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}", re.ASCII)
_NOT_ALLOWED = re.compile(r"[^\w+=,.@-]+", re.ASCII)
_HASH_CHARS = 8


class RoleHop:
    """One ``sts:AssumeRole`` step of a role chain, checked when made (:class:`~cfke_auth.ConfigurationError`).

    ``role_arn`` is the role to assume with the previous hop's credentials; ``external_id`` the ``sts:ExternalId``
    its trust policy may require; ``session_name`` the role session's name (default: the previous hop's, so
    CloudTrail shows the pod at every hop); ``policy`` an inline session policy (JSON text or a mapping, kept as
    minified JSON) and ``policy_arns`` up to 10 managed policy ARNs, both narrowing what this hop's session may do.
    A hop may also be given as a role ARN string or a mapping with these keys.
    """

    __slots__ = ("external_id", "policy", "policy_arns", "role_arn", "session_name")

    def __init__(
        self,
        role_arn: str,
        *,
        external_id: str | None = None,
        session_name: str | None = None,
        policy: str | Mapping[str, Any] | None = None,
        policy_arns: Sequence[str] | None = None,
    ) -> None:
        set_ = object.__setattr__
        set_(self, "role_arn", check_role_arn(role_arn))
        set_(self, "external_id", check_external_id(external_id))
        set_(self, "session_name", None if session_name is None else check_session_name(session_name))
        set_(self, "policy", check_policy(policy))
        set_(self, "policy_arns", check_policy_arns(policy_arns))

    role_arn: str
    external_id: str | None
    session_name: str | None
    policy: str | None
    policy_arns: tuple[str, ...]

    def _key(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("RoleHop is immutable")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RoleHop) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        extras = [f"session_name={self.session_name!r}"] if self.session_name else []
        extras += [f"{name}=<set>" for name in ("external_id", "policy") if getattr(self, name)]
        extras += [f"policy_arns={self.policy_arns!r}"] if self.policy_arns else []
        return f"RoleHop({', '.join([repr(self.role_arn), *extras])})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_hop, (self._key(),))


def _hop(key: tuple[Any, ...]) -> RoleHop:
    external_id, policy, policy_arns, role_arn, session_name = key
    return RoleHop(role_arn, external_id=external_id, session_name=session_name, policy=policy, policy_arns=policy_arns)


#: A hop of a role chain as callers give it: a role ARN, a :class:`RoleHop`, or a mapping of its arguments.
Hop: TypeAlias = str | RoleHop | Mapping[str, Any]


class AwsOptions(TypedDict, total=False):
    """The keyword parameters every AWS entry point takes besides ``role_arn`` (all optional).

    ``region_name`` (else ``AWS_REGION``/``AWS_DEFAULT_REGION``/the profile's region) is the SDK region and picks
    the regional STS endpoint; ``session_name`` (else ``AWS_ROLE_SESSION_NAME``, else ``NAMESPACE.POD`` from the
    token) names the role session in CloudTrail; ``duration_seconds`` (900-43200, at most 3600 with a ``chain``,
    else the role's default); ``token_path`` (else ``AWS_WEB_IDENTITY_TOKEN_FILE``, ``CFKE_TOKEN_FILE``, the
    projected path) or ``token_source`` (any :class:`~cfke_auth.SubjectTokenSource`); ``sts_endpoint_url`` (else
    ``AWS_ENDPOINT_URL_STS``, ``AWS_ENDPOINT_URL``, the regional endpoint); ``http`` (:class:`~cfke_auth.HttpOptions`).
    ``chain`` lists roles (:data:`Hop` s) assumed one after the other from ``role_arn``; ``policy``/``policy_arns``
    are session policies for the web-identity call; ``sts_fallback_regions`` (else
    ``CFKE_AWS_STS_FALLBACK_REGIONS``) and ``sts_fallback_endpoint_urls`` are STS endpoints tried when the first one
    is unreachable or answers 5xx.
    """

    region_name: str | None
    session_name: str | None
    duration_seconds: int | None
    token_path: str | os.PathLike[str] | None
    token_source: SubjectTokenSource | None
    sts_endpoint_url: str | None
    http: HttpOptions | None
    chain: Sequence[Hop] | None
    policy: str | Mapping[str, Any] | None
    policy_arns: Sequence[str] | None
    sts_fallback_regions: str | Sequence[str] | None
    sts_fallback_endpoint_urls: Sequence[str] | None


@dataclass(frozen=True)
class AwsSettings:
    """One role assumption (or role chain), validated: what to ask STS, the SDK region, the token source and the
    HTTP options.

    Hashable, so it keys the process-wide credential. ``session_name`` None means "derive it from the token"
    (:func:`default_session_name`). ``policy``/``policy_arns`` are the web-identity call's session policies;
    ``chain`` the roles assumed after ``role_arn``, in order; ``fallback_endpoints`` the STS endpoints tried after
    ``endpoint`` fails.
    """

    role_arn: str
    endpoint: str
    source: SubjectTokenSource
    session_name: str | None = None
    duration_seconds: int | None = None
    region: str | None = None
    http: HttpOptions | None = None
    policy: str | None = None
    policy_arns: tuple[str, ...] = ()
    chain: tuple[RoleHop, ...] = ()
    fallback_endpoints: tuple[str, ...] = ()

    @property
    def endpoints(self) -> tuple[str, ...]:
        """Every STS endpoint to try, in order."""
        return (self.endpoint, *self.fallback_endpoints)

    @property
    def target_role_arn(self) -> str:
        """The role these settings end in: the last hop of the chain, else ``role_arn``."""
        return self.chain[-1].role_arn if self.chain else self.role_arn

    def steps(self) -> list[AwsSettings]:
        """The chain as settings, one per role from ``role_arn`` to the last hop: step ``i`` ends in role ``i``,
        so a chain's first hops are shared with any other chain that starts the same way."""
        return [replace(self, chain=self.chain[:length]) for length in range(len(self.chain) + 1)]


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


def check_session_name(name: str, what: str = "session_name") -> str:
    """``name`` if STS accepts it as a role session name, else a ConfigurationError naming ``what``."""
    if not isinstance(name, str) or not _SESSION_NAME.fullmatch(name):
        raise ConfigurationError(
            f"{what} {name!r} is not a valid role session name: 2-64 characters of letters, digits and +=,.@_-"
        )
    return name


def resolve_session_name(session_name: str | None) -> str | None:
    """The session name: the argument, else ``AWS_ROLE_SESSION_NAME``; None means "derive it from the token"."""
    name = session_name or os.environ.get("AWS_ROLE_SESSION_NAME") or None
    return None if name is None else check_session_name(name)


def check_external_id(external_id: str | None, what: str = "external_id") -> str | None:
    """``external_id`` if STS accepts it (2-1224 characters of letters, digits and ``+=,.@:/-``), None for None."""
    if external_id is None:
        return None
    if not isinstance(external_id, str) or not _EXTERNAL_ID.fullmatch(external_id):
        raise ConfigurationError(
            f"{what} must be 2-1224 characters of letters, digits and +=,.@:/_- (what the role's trust policy "
            "compares sts:ExternalId with)"
        )
    return external_id


def check_policy(policy: str | Mapping[str, Any] | None, what: str = "policy") -> str | None:
    """An inline session policy as the minified JSON sent to STS: ``policy`` must be a JSON object (text or a
    mapping) whose minified form STS accepts -- at most :data:`MAX_POLICY_CHARS` characters, none past U+00FF."""
    if policy is None:
        return None
    document: object = policy
    if isinstance(policy, str):
        try:
            document = json.loads(policy)
        except (ValueError, RecursionError):
            raise ConfigurationError(f"{what} is not valid JSON: give an IAM policy document") from None
    if not isinstance(document, Mapping):
        raise ConfigurationError(
            f"{what} must be a JSON object (an IAM policy document, as text or a mapping), not "
            f"{type(document).__name__}"
        )
    try:
        text = json.dumps(document, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ConfigurationError(f"{what} cannot be written as JSON ({type(exc).__name__})") from None
    if not _POLICY_TEXT.fullmatch(text):
        raise ConfigurationError(f"{what} holds characters STS does not accept in a policy (beyond U+00FF)")
    if len(text) > MAX_POLICY_CHARS:
        raise ConfigurationError(
            f"{what} is {len(text)} characters as minified JSON; STS accepts at most {MAX_POLICY_CHARS}: narrow it, "
            "or move statements into a managed policy passed in policy_arns"
        )
    return text


def check_policy_arns(policy_arns: Sequence[str] | None, what: str = "policy_arns") -> tuple[str, ...]:
    """Managed session policy ARNs (``arn:aws:iam::ACCOUNT_ID:policy/NAME``, ``arn:aws:iam::aws:policy/NAME``), at
    most :data:`MAX_POLICY_ARNS`."""
    if policy_arns is None:
        return ()
    if isinstance(policy_arns, str) or not isinstance(policy_arns, Sequence):
        raise ConfigurationError(f"{what} must be a sequence of policy ARNs, such as [{policy_arns!r}]")
    for arn in policy_arns:
        if not isinstance(arn, str) or not _POLICY_ARN.fullmatch(arn):
            raise ConfigurationError(
                f"{what} entry {arn!r} is not an IAM policy ARN of the form arn:aws:iam::ACCOUNT_ID:policy/NAME"
            )
    if len(policy_arns) > MAX_POLICY_ARNS:
        raise ConfigurationError(f"{what} has {len(policy_arns)} ARNs; STS accepts at most {MAX_POLICY_ARNS}")
    return tuple(policy_arns)


_HOP_KEYS = frozenset(("role_arn", "external_id", "session_name", "policy", "policy_arns"))


def _as_hop(value: object) -> RoleHop:
    if isinstance(value, RoleHop):
        return value
    if isinstance(value, str):
        return RoleHop(value)
    if isinstance(value, Mapping):
        unknown = sorted(str(key) for key in value if key not in _HOP_KEYS)
        if unknown:
            raise ConfigurationError(f"unknown keys {unknown}; a hop has {sorted(_HOP_KEYS)}")
        if "role_arn" not in value:
            raise ConfigurationError("a hop needs a role_arn")
        return RoleHop(**value)
    raise ConfigurationError(f"a hop is a role ARN, a RoleHop or a mapping, not {type(value).__name__}")


def resolve_chain(chain: Sequence[Hop] | None, duration_seconds: int | None = None) -> tuple[RoleHop, ...]:
    """``chain`` as checked :class:`RoleHop` s; errors name the hop (``chain[1]``). With a chain, a
    ``duration_seconds`` above :data:`MAX_CHAINED_DURATION` is refused: AWS would cap or refuse it."""
    if chain is None:
        return ()
    if isinstance(chain, (str, Mapping, RoleHop)) or not isinstance(chain, Sequence):
        raise ConfigurationError(
            "chain must be a sequence of hops, such as chain=('arn:aws:iam::ACCOUNT_ID:role/NAME',), not "
            f"{type(chain).__name__}"
        )
    hops = []
    for index, value in enumerate(chain):
        try:
            hops.append(_as_hop(value))
        except ConfigurationError as exc:
            raise ConfigurationError(f"chain[{index}]: {exc}") from None
    if hops and duration_seconds is not None and duration_seconds > MAX_CHAINED_DURATION:
        raise ConfigurationError(
            f"duration_seconds {duration_seconds} is more than AWS allows for a role chain: a session reached by "
            f"chaining roles lasts at most {MAX_CHAINED_DURATION} s (1 hour); ask for {MAX_CHAINED_DURATION} or less"
        )
    return tuple(hops)


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
    chain: Sequence[Hop] | None = None,
    policy: str | Mapping[str, Any] | None = None,
    policy_arns: Sequence[str] | None = None,
    sts_fallback_regions: str | Sequence[str] | None = None,
    sts_fallback_endpoint_urls: Sequence[str] | None = None,
) -> AwsSettings:
    """Arguments completed from the environment (``AWS_ROLE_ARN``, ``AWS_ROLE_SESSION_NAME``, ``AWS_REGION``, ...)
    and checked; :class:`~cfke_auth.ConfigurationError` names the first bad one. Reads no token, makes no request."""
    region = resolve_region(region_name)
    duration = resolve_duration(duration_seconds)
    custom = configured_endpoint(sts_endpoint_url)
    endpoint = custom or regional_endpoint(region)
    return AwsSettings(
        role_arn=resolve_role_arn(role_arn),
        endpoint=endpoint,
        session_name=resolve_session_name(session_name),
        duration_seconds=duration,
        region=region,
        source=subject_token_source(token_path, token_source, "AWS_WEB_IDENTITY_TOKEN_FILE"),
        http=http,
        policy=check_policy(policy),
        policy_arns=check_policy_arns(policy_arns),
        chain=resolve_chain(chain, duration),
        fallback_endpoints=resolve_fallback_endpoints(
            endpoint, sts_fallback_regions, sts_fallback_endpoint_urls, custom=custom is not None
        ),
    )
