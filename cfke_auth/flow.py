"""Driving sans-IO exchanges: one protocol implementation, run by a sync and an async driver.

An exchange is written as a generator (a *flow*) that yields what it needs -- :data:`SUBJECT_TOKEN` for the pod's
token, or an :class:`httpx.Request` to send -- and returns an :class:`~cfke_auth.engine.Issued`. It never does I/O
itself, so the same lines serve threads and asyncio, and tests can feed it canned responses.

The drivers add the two behaviours every provider wants: transport failures become retryable
:class:`~cfke_auth.ExchangeError` s, and a provider rejecting the token as expired makes the token source re-read
the file and the flow run once more.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Final, TypeVar

import httpx

from .engine import Issued, RefreshingCredential
from .errors import ExchangeError
from .http import async_client, sync_client
from .source import TokenSource

__all__ = ["SUBJECT_TOKEN", "Flow", "FlowFactory", "arun", "refreshing", "run", "send", "subject_token"]

T = TypeVar("T")


class _SubjectToken:
    def __repr__(self) -> str:
        return "SUBJECT_TOKEN"


#: Yielded by a flow to receive the pod's current token.
SUBJECT_TOKEN: Final = _SubjectToken()

Step = _SubjectToken | httpx.Request
Reply = str | httpx.Response | None
Flow = Generator[Step, Reply, Issued[T]]
FlowFactory = Callable[[], Flow[T]]


def subject_token() -> Generator[Step, Reply, str]:
    """``token = yield from subject_token()`` inside a flow: the pod's current token."""
    reply = yield SUBJECT_TOKEN
    if not isinstance(reply, str):
        raise TypeError("the driver answered SUBJECT_TOKEN with something other than the token")
    return reply


def send(request: httpx.Request) -> Generator[Step, Reply, httpx.Response]:
    """``response = yield from send(request)`` inside a flow: the response to ``request``."""
    reply = yield request
    if not isinstance(reply, httpx.Response):
        raise TypeError("the driver answered a request with something other than a response")
    return reply


def _transport_error(exc: httpx.RequestError, request: httpx.Request, provider: str) -> ExchangeError:
    url = request.url.copy_with(query=None)
    code = "timeout" if isinstance(exc, httpx.TimeoutException) else "connection"
    return ExchangeError(
        f"{request.method} {url} failed: {type(exc).__name__}",
        provider=provider,
        code=code,
        retryable=True,
        hint="the endpoint is unreachable or slow; the request is retried with backoff",
    )


def _retrying_stale(factory: FlowFactory[T], source: TokenSource) -> Flow[T]:
    """The flow, run once more after the token source forgot its token if the provider rejected it as expired."""
    try:
        return (yield from factory())
    except ExchangeError as exc:
        if not exc.stale_token:
            raise
    source.invalidate()
    return (yield from factory())


def run(factory: FlowFactory[T], source: TokenSource, provider: str) -> Issued[T]:
    """Run a flow with blocking I/O on the shared sync client."""
    client = sync_client()
    flow = _retrying_stale(factory, source)
    reply: Reply = None
    try:
        while True:
            step = flow.send(reply)
            if isinstance(step, httpx.Request):
                try:
                    reply = client.send(step)
                except httpx.RequestError as exc:  # transport failures, undecodable bodies, redirect loops
                    raise _transport_error(exc, step, provider) from None
            else:
                reply = source.token()
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


async def arun(factory: FlowFactory[T], source: TokenSource, provider: str) -> Issued[T]:
    """Run a flow on the running event loop; reading the token file happens in a worker thread."""
    client = await async_client()
    flow = _retrying_stale(factory, source)
    reply: Reply = None
    try:
        while True:
            step = flow.send(reply)
            if isinstance(step, httpx.Request):
                try:
                    reply = await client.send(step)
                except httpx.RequestError as exc:  # transport failures, undecodable bodies, redirect loops
                    raise _transport_error(exc, step, provider) from None
            else:
                import asyncio

                reply = await asyncio.to_thread(source.token)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


def refreshing(factory: FlowFactory[T], source: TokenSource, *, provider: str, name: str) -> RefreshingCredential[T]:
    """A :class:`RefreshingCredential` whose value comes from running ``factory``'s flow against ``source``'s token,
    in threads (:func:`run`) or on an event loop (:func:`arun`)."""

    def fetch() -> Issued[T]:
        return run(factory, source, provider)

    async def afetch() -> Issued[T]:
        return await arun(factory, source, provider)

    return RefreshingCredential(fetch, afetch, name=name, provider=provider)
