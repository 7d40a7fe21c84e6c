"""The flow drivers over real loopback HTTP: token hand-off, stale-token renewal as a flow step, transport failures
as typed errors."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from conftest import assert_no_secrets

from cfke_auth import ExchangeError, HttpOptions, Issued, TokenSource
from cfke_auth._flow import (
    RENEW_SUBJECT_TOKEN,
    SUBJECT_TOKEN,
    Flow,
    arun,
    refreshing,
    retrying_stale,
    run,
    send,
    subject_token,
)
from cfke_auth._http import Http
from cfke_auth.testing import LoopbackServer, RecordedRequest, Reply, TokenFile

HTTP = Http()


class EchoIssuer:
    """A token endpoint that issues ``issued-N`` for a subject token, or says 'expired' when told to."""

    def __init__(self) -> None:
        self.reject_as_expired = 0
        self.server = LoopbackServer({("POST", "/token"): self.handle}).start()

    def handle(self, request: RecordedRequest) -> Reply:
        if self.reject_as_expired:
            self.reject_as_expired -= 1
            return Reply.json({"error": "expired_token"}, 400)
        return Reply.json({"access_token": f"issued-{len(self.server.requests)}", "expires_in": 3600})

    def flow(self) -> Flow[str]:
        return echo_flow(self.server.url)


def echo_flow(url: str) -> Flow[str]:
    """POST the subject token to ``url``/token; a non-200 answer means the token was stale."""
    token = yield from subject_token()
    response = yield from send(httpx.Request("POST", f"{url}/token", data={"subject_token": token}))
    body = response.json()
    if response.status_code != 200:
        raise ExchangeError("rejected", provider="echo", code=body["error"], stale_token=True)
    return Issued(body["access_token"], time.time() + body["expires_in"])


@pytest.fixture
def echo() -> Iterator[EchoIssuer]:
    issuer = EchoIssuer()
    yield issuer
    issuer.server.stop()


def test_the_flow_gets_the_current_token(echo: EchoIssuer, cfke_token_file: TokenFile) -> None:
    issued = run(echo.flow, TokenSource(cfke_token_file.path), HTTP, "echo")
    assert issued.value == "issued-1"
    assert echo.server.requests[0].form()["subject_token"] == cfke_token_file.token


def test_stale_token_is_reread_and_retried_once(echo: EchoIssuer, cfke_token_file: TokenFile) -> None:
    source = TokenSource(cfke_token_file.path)
    source.token()
    fresh = cfke_token_file.rotate()  # rotated, but the source still trusts its cache for a few seconds
    echo.reject_as_expired = 1
    assert run(echo.flow, source, HTTP, "echo").value == "issued-2"
    assert [r.form()["subject_token"] == fresh for r in echo.server.requests] == [False, True]


def test_stale_twice_gives_up(echo: EchoIssuer, cfke_token_file: TokenFile) -> None:
    echo.reject_as_expired = 2
    with pytest.raises(ExchangeError, match="rejected"):
        run(echo.flow, TokenSource(cfke_token_file.path), HTTP, "echo")
    assert len(echo.server.requests) == 2


async def test_async_driver_retries_stale_tokens_too(echo: EchoIssuer, cfke_token_file: TokenFile) -> None:
    echo.reject_as_expired = 1
    issued = await arun(echo.flow, TokenSource(cfke_token_file.path), HTTP, "echo")
    assert issued.value == "issued-2"


def test_connection_refused_is_a_retryable_error(cfke_token_file: TokenFile) -> None:
    server = LoopbackServer()
    url = server.url
    server.stop()  # nothing listens on the port any more

    def flow() -> Flow[str]:
        token = yield from subject_token()
        yield from send(httpx.Request("POST", f"{url}/token?x=1", data={"subject_token": token}))
        raise AssertionError("unreachable")

    with pytest.raises(ExchangeError) as info:
        run(flow, TokenSource(cfke_token_file.path), HTTP, "echo")
    assert info.value.code == "connection" and info.value.retryable
    assert f"{url}/token" in str(info.value) and "x=1" not in str(info.value)
    assert_no_secrets([cfke_token_file.token or ""], str(info.value), repr(info.value))


@pytest.mark.parametrize("driver", ["sync", "async"])
async def test_slow_endpoint_times_out(driver: str, cfke_token_file: TokenFile) -> None:
    release = threading.Event()

    def slow(_: RecordedRequest) -> Reply:
        release.wait(5)
        return Reply.json({})

    with LoopbackServer({("POST", "/token"): slow}) as server:
        source = TokenSource(cfke_token_file.path)
        http = Http(HttpOptions(timeout=0.2))
        try:
            with pytest.raises(ExchangeError) as info:
                if driver == "sync":
                    run(lambda: echo_flow(server.url), source, http, "echo")
                else:
                    await arun(lambda: echo_flow(server.url), source, http, "echo")
        finally:
            release.set()
    assert info.value.code == "timeout" and info.value.retryable


async def test_refreshing_serves_threads_and_tasks(echo: EchoIssuer, cfke_token_file: TokenFile) -> None:
    cred = refreshing(echo.flow, TokenSource(cfke_token_file.path), HTTP, provider="echo", name="echo")
    assert await cred.aget() == "issued-1"
    assert cred.get() == "issued-1"
    assert cred.attempts == 1


def test_a_stale_token_renewal_is_a_step_the_driver_answers() -> None:
    """The flow asks for the renewal; it never touches a token source itself (sans-IO)."""
    answers = iter(["old", "new"])

    def flow() -> Flow[str]:
        token = yield from subject_token()
        if token == "old":
            raise ExchangeError("expired", provider="echo", code="expired", stale_token=True)
        return Issued(token, 0)

    steps = retrying_stale(flow)
    assert steps.send(None) is SUBJECT_TOKEN
    assert steps.send(next(answers)) is RENEW_SUBJECT_TOKEN
    assert steps.send(None) is SUBJECT_TOKEN
    with pytest.raises(StopIteration) as done:
        steps.send(next(answers))
    assert done.value.value.value == "new"
