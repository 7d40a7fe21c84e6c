"""What a check reports, and the helpers every check uses to read a token and judge its lifetime."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from .._claims import TokenClaims
from .._errors import ExchangeError, TokenError
from .._source import TokenSource

__all__ = [
    "CloudSide",
    "Finding",
    "GcpFlags",
    "Status",
    "duration",
    "exchange_failure",
    "lifetime",
    "read_claims",
    "unreachable",
]

#: ``ok``: nothing to do; ``warn``: works, but worth a look; ``fail``: this will not work, and ``fix`` says why.
Status = Literal["ok", "warn", "fail"]
#: What the cloud's side of the trust must hold, as (setting, value) pairs in the order a person checks them.
CloudSide = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Finding:
    """One line of the report: what a check found, the fix when something is wrong, and the values the cloud's
    configuration must hold for this pod (empty when the check is not about a cloud)."""

    status: Status
    check: str
    detail: str
    fix: str | None = None
    cloud_side: CloudSide = ()

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: ``cloud_side`` as an object keyed by setting."""
        return {
            "status": self.status,
            "check": self.check,
            "detail": self.detail,
            "fix": self.fix,
            "cloud_side": dict(self.cloud_side),
        }


@dataclass(frozen=True)
class GcpFlags:
    """A provider named on the command line, as ``get_gcp_credentials`` takes it."""

    pool: str | None = None
    provider: str | None = None
    project_number: str | None = None
    service_account: str | None = None

    @property
    def given(self) -> bool:
        return any((self.pool, self.provider, self.project_number, self.service_account))


def duration(seconds: float) -> str:
    """``3725`` -> ``'1h 2m'`` (the two largest units); ``'0s'`` for anything under a second."""
    total = int(abs(seconds))
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if total >= size or (unit == "s" and not parts):
            parts.append(f"{total // size}{unit}")
            total %= size
    return " ".join(parts[:2])


def read_claims(check: str, path: str, why: str) -> TokenClaims | Finding:
    """The claims of the token at ``path``, or a failing finding; ``why`` says which setting points there."""
    try:
        return TokenSource(path).claims()
    except TokenError as exc:
        return Finding(
            "fail",
            check,
            f"{why}, but that token is unusable: {exc}",
            fix="mount the projected token volume and point the variable at its file (`cfke-auth inject` wires both)",
        )


def lifetime(claims: TokenClaims) -> float:
    """Seconds from issue to expiry, what Entra ID and Google STS limit (``exp`` even for an extended token)."""
    start = claims.issued_at or claims.not_before or claims.expires_at
    return (claims.expires_at - start).total_seconds()


#: Codes meaning the endpoint could not be reached or answered as a server in trouble, not a refusal.
_UNREACHED = ("timeout", "connection", "tls", "proxy", "unexpected-response", "malformed", "malformed-response")


def unreachable(exc: ExchangeError) -> bool:
    """True when ``exc`` says the endpoint was not reached (or not the right one), rather than a refusal."""
    return exc.code in _UNREACHED or exc.code.startswith("http-5") or exc.code == "http-429"


def exchange_failure(check: str, exc: ExchangeError, what: str) -> Finding:
    """A failed exchange that no specific mapping explains: its code and message, the library's hint as the fix."""
    if unreachable(exc):
        return Finding(
            "fail",
            check,
            f"{what} could not be completed: {exc.code}: {exc.message}",
            fix="check egress from this pod to the endpoint, the proxy variables (HTTPS_PROXY, NO_PROXY) and the CA "
            "bundle; in normal operation the library retries this with backoff",
        )
    return Finding("fail", check, f"{what} was refused: {exc.code}: {exc.message}", fix=exc.hint)
