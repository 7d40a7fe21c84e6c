"""What every provider's protocol code shares: the parser's view of a request, reading answers, times, redaction.

Each provider's ``parse_response(response, context, *, now)`` is pure: it reads no clock (``now`` is passed) and no
``response.request`` (the :class:`Context` says where the request went and which secrets it carried), so parser tests
run on bare ``httpx.Response`` objects. The helpers here are the pieces several providers would otherwise each write:
the JSON-object body, "429 or 5xx means later", ``Retry-After``, the malformed-answer error, lifetimes and ISO 8601
instants that never raise, and the redaction of every known secret from text a server sent back.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote_plus

import httpx

from ._claims import TokenClaims, decode_claims
from ._errors import ExchangeError, TokenError

__all__ = [
    "MAX_LIFETIME",
    "Context",
    "claims_of",
    "json_object",
    "lifetime",
    "malformed",
    "number",
    "redact",
    "retry_after",
    "timestamp",
    "transient",
]

S = TypeVar("S")

#: No credential lives longer than this; a longer lifetime is a malformed answer, not a date overflow later.
MAX_LIFETIME = 366 * 24 * 3600.0
#: Provider text quoted in an error is cut to this many characters.
MAX_QUOTED = 300
_JWT = re.compile(r"eyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*")
_ISO = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,12}))?"
    r"(?:([Zz])|([+-])([0-9]{2}):?([0-9]{2}))?",
    re.ASCII,
)


def claims_of(token: str) -> TokenClaims | None:
    """The claims of a subject token for error hints, or None when it is not a decodable JWT."""
    try:
        return decode_claims(token)
    except TokenError:
        return None


@dataclass(frozen=True, repr=False)
class Context(Generic[S]):
    """What a parser knows of the request it answers.

    ``settings`` is the provider's request parameters, ``url`` where the request went (no query), ``secrets`` what
    it carried that must never be quoted back (the subject token, an access token, a client secret), and ``claims``
    the subject token's claims, for hints.
    """

    settings: S
    url: str
    secrets: tuple[str, ...] = ()
    claims: TokenClaims | None = None

    @classmethod
    def of(cls, settings: S, url: str, subject_token: str, *secrets: str) -> Context[S]:
        """The context of a request to ``url`` carrying ``subject_token`` (and any other ``secrets``)."""
        return cls(settings, url.partition("?")[0], (subject_token, *secrets), claims_of(subject_token))

    def redact(self, text: str) -> str:
        """``text`` with this request's secrets removed (see :func:`redact`)."""
        return redact(text, self.secrets)

    def __repr__(self) -> str:  # never the secrets
        return f"Context(url={self.url!r}, settings={self.settings!r})"


def redact(text: str, secrets: tuple[str, ...] | list[str], *, limit: int = MAX_QUOTED) -> str:
    """``text`` with every secret (also form-encoded) and anything JWT-shaped replaced, cut to ``limit`` characters.

    Servers echo requests in their error text; the request held the pod's token or another secret.
    """
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>").replace(quote_plus(secret), "<redacted>")
    text = _JWT.sub("<redacted-jwt>", text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def json_object(response: httpx.Response) -> dict[str, Any] | None:
    """The body as a JSON object, or None when it is not one (not JSON, a list, nested too deep to parse)."""
    try:
        body = json.loads(response.content)
    except (ValueError, RecursionError):
        return None
    return body if isinstance(body, dict) else None


def transient(status: int) -> bool:
    """429 and 5xx are every provider's way of saying "later": retryable, whatever the body."""
    return status == 429 or status >= 500


def retry_after(response: httpx.Response, now: float) -> float | None:
    """The delay a ``Retry-After`` header asks for (seconds or an HTTP date), or None when absent or malformed."""
    value = response.headers.get("retry-after", "").strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(when.timestamp() - now, 0.0)


def malformed(provider: str, what: str, *, status: int = 200, hint: str | None = None) -> ExchangeError:
    """The error for an answer that is not what the protocol defines: retryable, since a proxy or an outage may
    answer in its place."""
    return ExchangeError(
        f"unexpected answer: {what}",
        provider=provider,
        code="malformed-response",
        retryable=True,
        status=status,
        hint=hint,
    )


def number(value: object, *, strings: bool = False) -> float | None:
    """``value`` as a finite float when it is a JSON number (not a boolean), else None; numeric strings count only
    with ``strings`` (Entra ID's v1 endpoints send them)."""
    if strings and isinstance(value, str) and value.isascii():
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        result = float(value)
    except OverflowError:  # an integer too large for a float
        return None
    return result if math.isfinite(result) else None


def lifetime(value: object, *, strings: bool = False) -> float | None:
    """A lifetime in seconds (``expires_in``): a positive finite number up to :data:`MAX_LIFETIME`, else None."""
    seconds = number(value, strings=strings)
    return seconds if seconds is not None and 0 < seconds <= MAX_LIFETIME else None


def timestamp(value: object) -> float | None:
    """Epoch seconds of an ISO 8601 / RFC 3339 instant (``2026-01-02T03:04:05.123456789Z``, or with an offset;
    no zone means UTC), or None for anything else: wrong shape, non-ASCII digits, a day or offset that does not
    exist, a year out of range."""
    found = _ISO.fullmatch(value) if isinstance(value, str) else None
    if found is None:
        return None
    year, month, day, hour, minute, second, fraction, _z, sign, off_h, off_m = found.groups()
    try:
        offset = timedelta(hours=int(off_h or 0), minutes=int(off_m or 0))
        zone = timezone(-offset if sign == "-" else offset)
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=zone)
        return moment.timestamp() + float(f"0.{fraction or 0}")
    except (ValueError, OverflowError):
        return None
