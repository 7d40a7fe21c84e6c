"""The process-wide refreshing STS credentials behind every AWS adapter and the ``aws`` commands.

:func:`sts_credential` returns the one :class:`~cfke_auth.RefreshingCredential` for a set of settings, so every
session, client and command built with the same parameters in a process shares one schedule and never stampedes STS.
A role chain is one credential per role, each hop's exchange reading the previous hop's credential: single flight
from end to end, and each hop refreshed on its own schedule.

Every exchange tries the settings' STS endpoints in order within one deadline: the next one only when the last was
unreachable, timed out or answered 5xx (see :class:`_Attempt`); a refusal is final wherever it came from.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from dataclasses import replace

from .. import _log
from .._engine import Issued, RefreshingCredential
from .._errors import ExchangeError
from .._flow import FlowFactory, arun, run
from .._http import Http
from .._registry import shared
from .._tls import AWS_CA_VARIABLES
from .errors import PROVIDER, hop_label
from .protocol import StsCredentials, assume_role_flow, chained_role_flow
from .settings import AwsSettings

__all__ = ["exchange_once", "http_for", "sts_credential"]

_MIN_DEADLINE = 0.001  # what is left of the deadline for a fallback endpoint is never zero (HttpOptions refuses it)


def http_for(settings: AwsSettings) -> Http:
    """The HTTP stack of the AWS exchange: the settings' options, honouring ``AWS_CA_BUNDLE`` as botocore does."""
    return Http(settings.http, AWS_CA_VARIABLES)


def _outage(error: ExchangeError) -> bool:
    """Whether another region's endpoint may do better: this one was unreachable, timed out or failed (5xx)."""
    return error.code in ("connection", "timeout") or (error.status or 0) >= 500


class _Attempt:
    """One exchange of one step of the settings (a web-identity call when ``keys`` is None, else the ``AssumeRole``
    into the step's last hop, signed with ``keys``): its endpoints in order, under one deadline.

    ``previous`` is the credential ``keys`` came from, dropped when STS says they expired; ``chained`` names the hop
    in errors (the first role of a chain is hop 1).
    """

    def __init__(
        self,
        step: AwsSettings,
        keys: StsCredentials | None,
        previous: RefreshingCredential[StsCredentials] | None,
        chained: bool,
    ) -> None:
        self._step = step
        self._keys = keys
        self._previous = previous
        self._chained = chained
        self._http = http_for(step)
        self._until = time.monotonic() + self._http.options.deadline
        self._tried: list[tuple[str, str]] = []
        self._endpoint = step.endpoint

    def __iter__(self) -> Iterator[tuple[FlowFactory[StsCredentials], Http]]:
        for endpoint in self._step.endpoints:
            self._endpoint = endpoint
            http = self._http
            if self._tried:  # a fallback gets what is left of the attempt's deadline
                left = max(self._until - time.monotonic(), _MIN_DEADLINE)
                http = Http(replace(http.options, deadline=left), http.ca_variables)
            if self._keys is None:
                yield functools.partial(assume_role_flow, self._step, endpoint), http
            else:
                yield functools.partial(chained_role_flow, self._step, self._keys, endpoint), http

    def failed(self, error: ExchangeError) -> None:
        """Return when the next endpoint is worth a try (this one was down and time is left), else raise ``error``:
        named after its hop in a chain, and listing every endpoint tried when there was more than one."""
        self._tried.append((self._endpoint, error.code))
        endpoints = self._step.endpoints
        if _outage(error) and len(self._tried) < len(endpoints) and time.monotonic() < self._until:
            _log.warning(
                "%s: STS endpoint %s failed (%s); trying %s", PROVIDER, self._endpoint, error.code,
                endpoints[len(self._tried)],
            )  # fmt: skip
            return
        if error.code == "ExpiredToken" and self._previous is not None and self._keys is not None:
            self._previous.invalidate(self._keys)  # the next attempt renews the previous hop first
        message = error.message
        if len(self._tried) > 1:
            message += f" (tried {', '.join(f'{url} ({code})' for url, code in self._tried)})"
        if self._chained:
            message = f"{hop_label(self._step)}: {message}"
        raise error if message == error.message else ExchangeError(message, **error.fields())


def _exchange(
    step: AwsSettings,
    keys: StsCredentials | None,
    previous: RefreshingCredential[StsCredentials] | None = None,
    chained: bool = False,
) -> Issued[StsCredentials]:
    """One exchange of ``step`` with blocking I/O (see :class:`_Attempt`)."""
    attempt = _Attempt(step, keys, previous, chained)
    for factory, http in attempt:
        try:
            return run(factory, step.source, http, PROVIDER)
        except ExchangeError as exc:
            error = exc
        attempt.failed(error)  # outside the except block: a fallback's errors chain to nothing
    raise AssertionError("unreachable: failed() raises after the last endpoint")


async def _aexchange(
    step: AwsSettings,
    keys: StsCredentials | None,
    previous: RefreshingCredential[StsCredentials] | None = None,
    chained: bool = False,
) -> Issued[StsCredentials]:
    """:func:`_exchange` on the running event loop."""
    attempt = _Attempt(step, keys, previous, chained)
    for factory, http in attempt:
        try:
            return await arun(factory, step.source, http, PROVIDER)
        except ExchangeError as exc:
            error = exc
        attempt.failed(error)
    raise AssertionError("unreachable: failed() raises after the last endpoint")


def _leaving(issued: Issued[StsCredentials], min_left: float) -> Issued[StsCredentials]:
    """``issued``, advising the engine to refresh ``min_left`` seconds before expiry (if that is earlier)."""
    return Issued(issued.value, issued.expires_at, issued.expires_at - min_left) if min_left else issued


def _credential(
    step: AwsSettings,
    previous: RefreshingCredential[StsCredentials] | None,
    chained: bool,
    min_left: float = 0.0,
) -> RefreshingCredential[StsCredentials]:
    """The refreshing credential of one step; a hop's exchange first gets the previous hop's current keys (an
    exchange of its own only when that one has nothing valid)."""

    def fetch() -> Issued[StsCredentials]:
        return _leaving(_exchange(step, previous.get() if previous else None, previous, chained), min_left)

    async def afetch() -> Issued[StsCredentials]:
        keys = await previous.aget() if previous else None
        return _leaving(await _aexchange(step, keys, previous, chained), min_left)

    name = f"{PROVIDER} {hop_label(step)}" if chained else f"{PROVIDER} {step.role_arn}"
    return RefreshingCredential(fetch, afetch, name=name, provider=PROVIDER)


def sts_credential(settings: AwsSettings, *, min_left: float = 0.0) -> RefreshingCredential[StsCredentials]:
    """The shared refreshing credential for ``settings``: created on first use, then the same object every time.
    With a chain, the last hop's, reading the one before it, and so on to the web-identity role; chains that start
    with the same hops share those.

    With ``min_left``, the (last) credential is refreshed before fewer than that many seconds of its lifetime
    remain, whatever the engine's own schedule says: the broker hands credentials to SDKs that refresh them
    themselves 15 minutes before expiry, and must never serve them less."""
    tag = (min_left,) if min_left else ()
    if not settings.chain:
        return shared((PROVIDER, settings, *tag), functools.partial(_credential, settings, None, False, min_left))
    credential: RefreshingCredential[StsCredentials] | None = None
    steps = settings.steps()
    for i, step in enumerate(steps):
        last = min_left if i == len(steps) - 1 else 0.0
        key = (PROVIDER, "chain", step, *(tag if last else ()))
        credential = shared(key, functools.partial(_credential, step, credential, True, last))
    assert credential is not None
    return credential


def exchange_once(settings: AwsSettings) -> StsCredentials:
    """One exchange (one per hop of a chain), now, without the engine: for short-lived processes (the ``aws``
    commands) that need no refresh schedule and should fail at once, with the STS error, rather than retry."""
    keys: StsCredentials | None = None
    for step in settings.steps():
        keys = _exchange(step, keys, chained=bool(settings.chain)).value
    assert keys is not None
    return keys
