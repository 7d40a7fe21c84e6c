"""Driving sans-IO exchanges: one protocol implementation, run by a sync and an async driver.

An exchange is written as a generator (a *flow*) that yields what it needs -- :data:`SUBJECT_TOKEN` for the pod's
token, :data:`RENEW_SUBJECT_TOKEN` to have the cached one forgotten, or an :class:`httpx.Request` to send -- and
returns an :class:`~cfke_auth.Issued`. It never does I/O itself, so the same lines serve threads and asyncio, and
tests can feed it canned responses. The drivers get everything they act on passed in: the subject-token source and
the HTTP stack (:class:`~cfke_auth._http.Http`), whose one deadline bounds the whole exchange.

Every flow is run inside :func:`retrying_stale`: a provider rejecting the subject token as expired makes the flow
ask for the token to be renewed (re-read) and run once more.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from typing import Final, TypeVar

import httpx

from ._engine import Issued, RefreshingCredential
from ._errors import ExchangeError
from ._http import Http
from ._source import SubjectTokenSource
from ._transport import deadline

__all__ = [
    "RENEW_SUBJECT_TOKEN",
    "SUBJECT_TOKEN",
    "Flow",
    "FlowFactory",
    "arun",
    "refreshing",
    "retrying_stale",
    "run",
    "send",
    "subject_token",
]

T = TypeVar("T")


class _Step:
    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


#: Yielded by a flow to receive the current subject token.
SUBJECT_TOKEN: Final = _Step("SUBJECT_TOKEN")
#: Yielded by a flow to have the cached subject token forgotten, so the next :data:`SUBJECT_TOKEN` re-reads it.
RENEW_SUBJECT_TOKEN: Final = _Step("RENEW_SUBJECT_TOKEN")

Step = _Step | httpx.Request
Reply = str | httpx.Response | None
Flow = Generator[Step, Reply, Issued[T]]
FlowFactory = Callable[[], Flow[T]]


def subject_token() -> Generator[Step, Reply, str]:
    """``token = yield from subject_token()`` inside a flow: the current subject token."""
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


def retrying_stale(factory: FlowFactory[T]) -> Flow[T]:
    """``factory``'s flow, run once more with a renewed subject token if the provider rejected it as expired."""
    try:
        return (yield from factory())
    except ExchangeError as exc:
        if not exc.stale_token:
            raise
    yield RENEW_SUBJECT_TOKEN  # outside the except block: the second attempt's errors chain to nothing
    return (yield from factory())


def run(factory: FlowFactory[T], source: SubjectTokenSource, http: Http, provider: str) -> Issued[T]:
    """Run a flow with blocking I/O, within ``http``'s deadline."""
    until = time.monotonic() + http.options.deadline
    flow = retrying_stale(factory)
    reply: Reply = None
    with deadline(until):
        while True:
            try:
                step = flow.send(reply)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            if isinstance(step, httpx.Request):
                reply = http.send(step, provider=provider, until=until)
            elif step is RENEW_SUBJECT_TOKEN:
                source.invalidate()
                reply = None
            else:
                reply = source.token()


async def arun(factory: FlowFactory[T], source: SubjectTokenSource, http: Http, provider: str) -> Issued[T]:
    """Run a flow on the running event loop, within ``http``'s deadline; the token is read in a worker thread."""
    import asyncio

    until = time.monotonic() + http.options.deadline
    flow = retrying_stale(factory)
    reply: Reply = None
    async with http.session() as session:
        with deadline(until):
            while True:
                try:
                    step = flow.send(reply)
                except StopIteration as done:
                    return done.value  # type: ignore[no-any-return]
                if isinstance(step, httpx.Request):
                    reply = await session.send(step, provider=provider, until=until)
                elif step is RENEW_SUBJECT_TOKEN:
                    source.invalidate()
                    reply = None
                else:
                    reply = await asyncio.to_thread(source.token)


def refreshing(
    factory: FlowFactory[T], source: SubjectTokenSource, http: Http, *, provider: str, name: str
) -> RefreshingCredential[T]:
    """A :class:`~cfke_auth.RefreshingCredential` whose value comes from running ``factory``'s flow against
    ``source``'s token, in threads (:func:`run`) or on an event loop (:func:`arun`)."""

    def fetch() -> Issued[T]:
        return run(factory, source, http, provider)

    async def afetch() -> Issued[T]:
        return await arun(factory, source, http, provider)

    return RefreshingCredential(fetch, afetch, name=name, provider=provider)
