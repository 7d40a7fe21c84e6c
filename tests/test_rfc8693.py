"""Generic RFC 8693 token exchange as an httpx.Auth, against a loopback token endpoint and resource server."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator

import httpx
import pytest
import time_machine
from conftest import assert_no_secrets, run_threads

from cfke_auth import ConfigurationError, ExchangeError, TokenSource, get_token_exchange_auth
from cfke_auth._engine import RENEWAL_GRACE
from cfke_auth.testing import Reply, TokenExchangeServer, TokenFile


@pytest.fixture
def endpoint(cfke_token_file: TokenFile) -> Iterator[TokenExchangeServer]:
    with TokenExchangeServer(lambda: cfke_token_file.token) as server:
        yield server


def test_bearer_reaches_the_service(endpoint: TokenExchangeServer, cfke_token_file: TokenFile) -> None:
    auth = get_token_exchange_auth(
        f"{endpoint.url}/token", audience="vault", scopes=["read", "write"], resource="https://svc"
    )
    with httpx.Client(auth=auth) as client:
        assert client.get(f"{endpoint.url}/api").json() == {"ok": True}
        assert client.get(f"{endpoint.url}/api").status_code == 200
    [exchange] = endpoint.token_requests()
    form = exchange.form()
    assert form == {
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token": cfke_token_file.token,
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "requested_token_type": "urn:ietf:params:oauth:token-type:access_token",
        "audience": "vault",
        "scope": "read write",
        "resource": "https://svc",
    }


async def test_async_client(endpoint: TokenExchangeServer) -> None:
    auth = get_token_exchange_auth(f"{endpoint.url}/token", audience="async")
    async with httpx.AsyncClient(auth=auth) as client:
        assert (await client.get(f"{endpoint.url}/api")).status_code == 200
    assert await auth.atoken() == endpoint.issued[-1]


def test_client_authentication(cfke_token_file: TokenFile) -> None:
    secret = "s3cr3t:with&odd=chars"
    with TokenExchangeServer(lambda: cfke_token_file.token, clients={"app one": secret}) as server:
        auth = get_token_exchange_auth(f"{server.url}/token", client_id="app one", client_secret=secret)
        assert auth.token() == server.issued[-1]
        header = server.server.requests[0].headers["authorization"]
        assert header == "Basic " + base64.b64encode(b"app+one:s3cr3t%3Awith%26odd%3Dchars").decode()
        wrong_secret = "wrong-secret-0123456789"
        wrong = get_token_exchange_auth(f"{server.url}/token", client_id="app one", client_secret=wrong_secret)
        with pytest.raises(ExchangeError) as info:
            wrong.token()
        assert info.value.code == "invalid_client"
        assert_no_secrets([secret, wrong_secret], repr(auth), repr(wrong), str(info.value))


def test_a_401_gets_one_retry_with_a_fresh_token(endpoint: TokenExchangeServer) -> None:
    auth = get_token_exchange_auth(f"{endpoint.url}/token", audience="retry")
    with httpx.Client(auth=auth) as client, time_machine.travel(time.time(), tick=False) as clock:
        client.get(f"{endpoint.url}/api")
        clock.shift(RENEWAL_GRACE + 1)  # the held token is not the renewal of a token just refused
        endpoint.issued.append("revoked-elsewhere")  # the service no longer accepts the held token
        assert client.get(f"{endpoint.url}/api").status_code == 200
    assert len(endpoint.token_requests()) == 2


def test_concurrent_401s_with_one_token_cause_one_exchange(endpoint: TokenExchangeServer) -> None:
    auth = get_token_exchange_auth(f"{endpoint.url}/token", audience="many-401")
    with time_machine.travel(time.time(), tick=False) as clock:
        auth.token()
        clock.shift(RENEWAL_GRACE + 1)
        endpoint.issued.append("revoked-elsewhere")  # the held token is refused from now on

        def call() -> int:
            with httpx.Client(auth=auth) as client:
                return client.get(f"{endpoint.url}/api").status_code

        assert run_threads(32, call) == [200] * 32
    assert len(endpoint.token_requests()) == 2


def test_a_service_refusing_every_token_does_not_make_every_request_exchange(endpoint: TokenExchangeServer) -> None:
    """30 requests to a service that answers 401 to everything: one renewal for the burst, not one per request."""
    auth = get_token_exchange_auth(f"{endpoint.url}/token", audience="always-401")
    refused = 0
    with httpx.Client(auth=auth) as client, time_machine.travel(time.time(), tick=False) as clock:
        auth.token()
        clock.shift(RENEWAL_GRACE + 1)
        endpoint.server.routes[("GET", "/api")] = lambda _: Reply.json({"error": "invalid_token"}, 401)
        for _ in range(30):
            refused += client.get(f"{endpoint.url}/api").status_code == 401
    assert refused == 30
    assert len(endpoint.token_requests()) == 2


def test_stampede_and_refresh(endpoint: TokenExchangeServer, cfke_token_file: TokenFile) -> None:
    auth = get_token_exchange_auth(f"{endpoint.url}/token", audience="stampede")
    with time_machine.travel(0, tick=False) as clock:
        clock.move_to(TokenSource(cfke_token_file.path).claims().issued_at)
        results = run_threads(64, auth.token)
        assert len(endpoint.token_requests()) == 1
        assert set(results) == {endpoint.issued[0]}
        clock.shift(3600 * 0.81)
        assert auth.token() == endpoint.issued[0]  # still valid: served at once, renewed in the background
        assert auth.credential.settle()
        assert auth.token() == endpoint.issued[1]
        assert len(endpoint.token_requests()) == 2


@pytest.mark.parametrize(
    ("code", "status", "retryable", "hint"),
    [
        ("invalid_grant", 400, False, "trusts the cluster issuer"),
        ("invalid_target", 400, False, "audience or resource"),
        ("unsupported_grant_type", 400, False, "RFC 8693"),
        ("temporarily_unavailable", 503, True, None),
    ],
)
def test_error_codes(endpoint: TokenExchangeServer, code: str, status: int, retryable: bool, hint: str | None) -> None:
    endpoint.fail_with(code, f"{code} happened", status)
    auth = get_token_exchange_auth(f"{endpoint.url}/token", audience=f"err-{code}")
    with pytest.raises(ExchangeError) as info:
        auth.token()
    error = info.value
    assert (error.code, error.status, error.retryable) == (code, status, retryable)
    assert (hint in (error.hint or "")) if hint else error.hint is None


def test_expired_subject_is_reread(endpoint: TokenExchangeServer, cfke_token_file: TokenFile) -> None:
    auth = get_token_exchange_auth(f"{endpoint.url}/token", audience="stale")
    auth.token()
    fresh = cfke_token_file.rotate()  # the token source still trusts its cached token for a few seconds
    auth.credential.invalidate()
    assert auth.token() == endpoint.issued[-1]
    sent = [r.form()["subject_token"] for r in endpoint.token_requests()]
    assert sent[1:] == [sent[0], fresh]  # the stale one was refused as expired, re-read, and retried once


def test_not_json_is_said_plainly(endpoint: TokenExchangeServer) -> None:
    auth = get_token_exchange_auth(f"{endpoint.url}/token", audience="outage")
    with endpoint.outage(502), pytest.raises(ExchangeError) as info:
        auth.token()
    assert info.value.code == "http-502"
    assert info.value.retryable
    assert "text/plain" in str(info.value)


def test_success_without_a_token_is_malformed(endpoint: TokenExchangeServer) -> None:
    endpoint.answer_with(Reply.json({"token_type": "Bearer"}))
    with pytest.raises(ExchangeError, match="access_token") as info:
        get_token_exchange_auth(f"{endpoint.url}/token", audience="malformed").token()
    assert info.value.code == "malformed-response"


def test_a_scope_string_is_one_scope(endpoint: TokenExchangeServer) -> None:
    get_token_exchange_auth(f"{endpoint.url}/token", audience="scope-str", scopes="orders:read").token()
    assert endpoint.token_requests()[-1].form()["scope"] == "orders:read"


def test_same_parameters_share_one_credential(endpoint: TokenExchangeServer) -> None:
    url = f"{endpoint.url}/token"
    same = get_token_exchange_auth(url, audience="a").credential
    assert get_token_exchange_auth(url, audience="a").credential is same
    assert get_token_exchange_auth(url, audience="b").credential is not same


def test_plain_http_elsewhere_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="token_url"):
        get_token_exchange_auth("http://sts.example.com/token")


def test_a_non_positive_lifetime_is_malformed(endpoint: TokenExchangeServer) -> None:
    endpoint.answer_with(Reply.json({"access_token": "t", "expires_in": 0}))
    with pytest.raises(ExchangeError, match="positive 'expires_in'") as info:
        get_token_exchange_auth(f"{endpoint.url}/token", audience="zero").token()
    assert info.value.code == "malformed-response"
