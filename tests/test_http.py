"""The HTTP stack as a corporate pod and an attacker see it: proxies (a real CONNECT proxy on loopback), CA variables
and real TLS through a local CA, the User-Agent, and bounded exchanges (huge bodies, gzip bombs, dripping servers),
for every provider, in threads and on event loops."""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import assert_no_secrets

import cfke_auth
from cfke_auth import ConfigurationError, ExchangeError, HttpOptions, Issued, TokenSource
from cfke_auth._flow import Flow, arun, run, send, subject_token
from cfke_auth._http import USER_AGENT, Http, check_endpoint
from cfke_auth._proxy import ProxyConfig
from cfke_auth._tls import AWS_CA_VARIABLES
from cfke_auth.testing import (
    ConnectProxy,
    FakeEntra,
    FakeSts,
    GoogleFake,
    LocalCA,
    LoopbackServer,
    OidcIssuer,
    RecordedRequest,
    Reply,
    TokenExchangeServer,
    TokenFile,
)

HOST = "tokens.example.test"  # resolves nowhere: only the proxy can reach it, as a corporate proxy does
ENV = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE")


@pytest.fixture(autouse=True)
def clean_network_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV + AWS_CA_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def ca() -> LocalCA:
    return LocalCA.shared()


@pytest.fixture
def proxy() -> Iterator[ConnectProxy]:
    with ConnectProxy() as running:
        yield running


def _via(proxy: ConnectProxy, server: LoopbackServer) -> str:
    """``server``'s URL under :data:`HOST`, routed by ``proxy`` to its loopback port."""
    proxy.routes[f"{HOST}:{server.port}"] = ("127.0.0.1", server.port)
    return server.url_for(HOST)


def _echo_flow(url: str) -> Flow[str]:
    token = yield from subject_token()
    response = yield from send(httpx.Request("POST", f"{url}/token", data={"subject_token": token}))
    if response.status_code != 200:
        raise ExchangeError(f"HTTP {response.status_code}", provider="echo", code=f"http-{response.status_code}")
    return Issued(response.json()["access_token"], time.time() + 3600)


def _echo_server(ca: LocalCA | None = None) -> LoopbackServer:
    return LoopbackServer(
        {("POST", "/token"): lambda _: Reply.json({"access_token": "issued"})}, tls=ca, hostnames=[HOST]
    )


# -- the URL rule and the User-Agent ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["https://sts.amazonaws.com", "http://127.0.0.1:8080/", "http://localhost:1", "http://[::1]:9/x"]
)
def test_endpoints_allowed(url: str) -> None:
    assert check_endpoint(url, what="endpoint") == url.rstrip("/")


@pytest.mark.parametrize(
    "url", ["http://sts.amazonaws.com", "http://10.0.0.1", "ftp://127.0.0.1", "sts", "https://", "https://h:port"]
)
def test_endpoints_refused(url: str) -> None:
    with pytest.raises(ConfigurationError, match="endpoint"):
        check_endpoint(url, what="endpoint")


def test_endpoint_with_credentials_in_the_url_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="must not carry credentials"):
        check_endpoint("https://client:secret@idp.example.com/token", what="token_url")


def test_every_exchange_names_cfke_auth_in_its_user_agent(cfke_token_file: TokenFile) -> None:
    with _echo_server() as server:
        run(lambda: _echo_flow(server.url), TokenSource(cfke_token_file.path), Http(), "echo")
        asyncio.run(arun(lambda: _echo_flow(server.url), TokenSource(cfke_token_file.path), Http(), "echo"))
        agents = {r.headers["user-agent"] for r in server.requests}
    assert agents == {USER_AGENT}
    assert f"cfke-auth/{cfke_auth.__version__} python/{sys.version_info[0]}.{sys.version_info[1]}" == USER_AGENT


# -- proxies ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["upper", "lower", "all_proxy"])
@pytest.mark.parametrize("driver", ["sync", "async"])
def test_https_goes_through_the_proxy_the_environment_names(
    ca: LocalCA,
    proxy: ConnectProxy,
    cfke_token_file: TokenFile,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
    driver: str,
) -> None:
    variable = {"upper": "HTTPS_PROXY", "lower": "https_proxy", "all_proxy": "ALL_PROXY"}[case]
    monkeypatch.setenv(variable, proxy.url)
    monkeypatch.setenv("SSL_CERT_FILE", ca.ca_file)
    with _echo_server(ca) as server:
        url = _via(proxy, server)
        source = TokenSource(cfke_token_file.path)
        if driver == "sync":
            issued = run(lambda: _echo_flow(url), source, Http(), "echo")
        else:
            issued = asyncio.run(arun(lambda: _echo_flow(url), source, Http(), "echo"))
    assert issued.value == "issued"
    assert proxy.tunnels == [(HOST, server.port)]


def test_proxy_credentials_are_sent_and_never_shown(
    ca: LocalCA, cfke_token_file: TokenFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    password = "pr0xy-p@ss-0123456789"
    monkeypatch.setenv("SSL_CERT_FILE", ca.ca_file)
    with ConnectProxy(credentials=("alice", password)) as proxy, _echo_server(ca) as server:
        url = _via(proxy, server)
        source = TokenSource(cfke_token_file.path)
        monkeypatch.setenv("HTTPS_PROXY", proxy.url_with("alice", password))
        assert run(lambda: _echo_flow(url), source, Http(), "echo").value == "issued"
        monkeypatch.setenv("HTTPS_PROXY", proxy.url_with("alice", "wrong-" + password))
        with pytest.raises(ExchangeError) as info:
            run(lambda: _echo_flow(url), source, Http(), "echo")
    assert (info.value.code, info.value.retryable) == ("proxy", True)
    assert "HTTPS_PROXY" in (info.value.hint or "")
    assert_no_secrets([password], str(info.value), repr(info.value))
    assert info.value.__context__ is None and info.value.__cause__ is None
    assert proxy.tunnel_count == 1 and [r.status for r in proxy.refusals] == [407]


def test_loopback_is_never_proxied(
    cfke_token_file: TokenFile, proxy: ConnectProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, proxy.url)
    with _echo_server() as server:
        assert run(lambda: _echo_flow(server.url), TokenSource(cfke_token_file.path), Http(), "echo").value
    assert proxy.tunnel_count == 0 and proxy.requests == []


@pytest.mark.parametrize(
    ("no_proxy", "url", "proxied"),
    [
        ("example.test", "https://tokens.example.test/", False),
        (".example.test", "https://tokens.example.test/", False),
        ("*.example.test", "https://example.test/", False),
        ("example.test", "https://badexample.test/", True),  # a label boundary, not a suffix
        ("tokens.example.test:8443", "https://tokens.example.test:8443/", False),
        ("tokens.example.test:8443", "https://tokens.example.test/", True),
        ("10.0.0.0/8", "https://10.1.2.3/", False),
        ("10.0.0.0/8", "https://11.1.2.3/", True),
        ("fd00::/8", "https://[fd00::1]/", False),
        ("192.0.2.7", "https://192.0.2.7/", False),
        ("*", "https://anything.example/", False),
        ("other.test, example.test", "https://a.example.test/", False),
        ("", "https://a.example.test/", True),
    ],
)
def test_no_proxy_rules(no_proxy: str, url: str, proxied: bool) -> None:
    config = ProxyConfig.from_env({"HTTPS_PROXY": "http://proxy.corp:3128", "no_proxy": no_proxy})
    assert (config.proxy_for(httpx.URL(url)) is not None) is proxied


def test_lower_case_wins_and_a_socks_proxy_is_a_clear_error() -> None:
    config = ProxyConfig.from_env({"https_proxy": "http://low:1", "HTTPS_PROXY": "http://up:2"})
    assert config.https is not None and config.https.url == "http://low:1"
    with pytest.raises(ConfigurationError, match="SOCKS"):
        ProxyConfig.from_env({"ALL_PROXY": "socks5://proxy.corp:1080"})
    assert repr(ProxyConfig.from_env({"HTTPS_PROXY": "http://u:sekrit@p:1"}).https).count("sekrit") == 0


def test_options_override_the_environment(
    ca: LocalCA, proxy: ConnectProxy, cfke_token_file: TokenFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = TokenSource(cfke_token_file.path)
    with _echo_server(ca) as server:
        url = _via(proxy, server)
        options = HttpOptions(proxy=proxy.url, verify=ca.ca_file)  # nothing in the environment
        assert run(lambda: _echo_flow(url), source, Http(options), "echo").value == "issued"
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.setenv("SSL_CERT_FILE", ca.ca_file)
        with pytest.raises(ExchangeError) as info:  # trust_env=False: no proxy, and HOST does not resolve
            run(lambda: _echo_flow(url), source, Http(HttpOptions(trust_env=False)), "echo")
        assert info.value.code == "connection"
        with httpx.Client(proxy=proxy.url, verify=ca.client_context()) as own:  # the caller's own client, as is
            assert run(lambda: _echo_flow(url), source, Http(HttpOptions(client=own)), "echo").value == "issued"
    assert proxy.tunnel_count == 2


@pytest.mark.parametrize("bad", [{"deadline": 0}, {"timeout": -1}, {"max_response_bytes": True}])
def test_bad_http_options_are_configuration_errors(bad: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match="HttpOptions"):
        HttpOptions(**bad)


# -- CA variables and real TLS ---------------------------------------------------------------------------------------


def test_an_untrusted_certificate_is_a_tls_error_with_the_fix(ca: LocalCA, cfke_token_file: TokenFile) -> None:
    with _echo_server(ca) as server, pytest.raises(ExchangeError) as info:
        run(lambda: _echo_flow(server.url), TokenSource(cfke_token_file.path), Http(), "echo")
    assert (info.value.code, info.value.retryable) == ("tls", True)
    assert "SSL_CERT_FILE" in (info.value.hint or "") and "REQUESTS_CA_BUNDLE" in (info.value.hint or "")


@pytest.mark.parametrize("variable", ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "SSL_CERT_DIR"])
def test_the_ca_variables_are_honoured(
    ca: LocalCA, cfke_token_file: TokenFile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    if variable == "SSL_CERT_DIR":  # a hashed directory, as c_rehash lays it out
        hashed = tmp_path / "certs"
        hashed.mkdir()
        (hashed / f"{_subject_hash(ca.ca_file)}.0").write_bytes(ca.ca_pem)
        monkeypatch.setenv(variable, str(hashed))
    else:
        monkeypatch.setenv(variable, ca.ca_file)
    with _echo_server(ca) as server:
        assert run(lambda: _echo_flow(server.url), TokenSource(cfke_token_file.path), Http(), "echo").value


def _subject_hash(pem_file: str) -> str:
    """OpenSSL's subject hash of a certificate, the name a hashed CA directory files it under."""
    import subprocess

    try:
        out = subprocess.run(
            ["openssl", "x509", "-hash", "-noout", "-in", pem_file], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("the openssl command is needed to build a hashed CA directory")
    return out.stdout.strip()


def test_aws_ca_bundle_applies_to_the_aws_exchange_only(
    ca: LocalCA, cfke_token_file: TokenFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_CA_BUNDLE", ca.ca_file)
    source = TokenSource(cfke_token_file.path)
    with _echo_server(ca) as server:
        assert run(lambda: _echo_flow(server.url), source, Http(None, AWS_CA_VARIABLES), "aws-sts").value
        with pytest.raises(ExchangeError, match="TLS"):
            run(lambda: _echo_flow(server.url), source, Http(), "echo")


def test_a_ca_bundle_that_cannot_be_loaded_is_a_configuration_error(
    ca: LocalCA, cfke_token_file: TokenFile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "missing.pem"))
    with _echo_server(ca) as server, pytest.raises(ConfigurationError, match="REQUESTS_CA_BUNDLE"):
        run(lambda: _echo_flow(server.url), TokenSource(cfke_token_file.path), Http(), "echo")


# -- every provider through the proxy, over TLS ----------------------------------------------------------------------


@pytest.fixture
def corporate(ca: LocalCA, proxy: ConnectProxy, monkeypatch: pytest.MonkeyPatch) -> ConnectProxy:
    """A pod behind a TLS-inspecting corporate proxy: HTTPS_PROXY, and its CA in SSL_CERT_FILE/AWS_CA_BUNDLE."""
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("SSL_CERT_FILE", ca.ca_file)
    return proxy


@pytest.mark.usefixtures("cfke_aws_env")
def test_aws_through_the_proxy(ca: LocalCA, corporate: ConnectProxy, cfke_token_file: TokenFile) -> None:
    with FakeSts(tls=ca, hostnames=[HOST]) as sts:
        session = cfke_auth.get_boto3_session(
            "arn:aws:iam::123456789012:role/app", sts_endpoint_url=_via(corporate, sts.server)
        )
        assert session.get_credentials().get_frozen_credentials().access_key == sts.issued[-1]["access_key_id"]
    assert corporate.tunnels == [(HOST, sts.server.port)]


def test_gcp_through_the_proxy(
    ca: LocalCA, corporate: ConnectProxy, cfke_issuer: OidcIssuer, cfke_token_file: TokenFile
) -> None:
    from google.auth.transport.requests import Request

    fake = GoogleFake(cfke_issuer, cfke_token_file.path, server=LoopbackServer(tls=ca, hostnames=[HOST]))
    cfke_token_file.rotate(audience=fake.provider.audience)
    with fake:
        url = _via(corporate, fake.server)
        options = {**fake.credential_kwargs(), "sts_endpoint_url": url, "iam_endpoint_url": url}
        credentials = cfke_auth.get_gcp_credentials(**options)
        credentials.refresh(Request())
        assert credentials.token is not None
    assert corporate.tunnels == [(HOST, fake.server.port)]


def test_azure_through_the_proxy(ca: LocalCA, corporate: ConnectProxy, cfke_token_file: TokenFile) -> None:
    cfke_token_file.rotate(audience="api://AzureADTokenExchange")
    with FakeEntra("tenant-1", "client-1", cfke_token_file.path, tls=ca, hostnames=[HOST]) as entra:
        credential = cfke_auth.get_azure_credential(
            "tenant-1", "client-1", authority_host=_via(corporate, entra.server)
        )
        assert credential.get_token("https://storage.azure.com/.default").token == entra.issued[-1]
    assert corporate.tunnels == [(HOST, entra.server.port)]


def test_rfc8693_through_the_proxy(ca: LocalCA, corporate: ConnectProxy, cfke_token_file: TokenFile) -> None:
    with TokenExchangeServer(lambda: cfke_token_file.token, tls=ca, hostnames=[HOST]) as endpoint:
        auth = cfke_auth.get_token_exchange_auth(f"{_via(corporate, endpoint.server)}/token", audience="proxy")
        assert auth.token() == endpoint.issued[-1]
    assert corporate.tunnels == [(HOST, endpoint.server.port)]


# -- bounded exchanges -----------------------------------------------------------------------------------------------


def _answer(reply: Reply) -> LoopbackServer:
    return LoopbackServer({("POST", "/token"): lambda _: reply})


@pytest.mark.parametrize("driver", ["sync", "async"])
@pytest.mark.parametrize("kind", ["huge", "gzip-bomb"])
def test_a_huge_answer_is_cut_at_the_cap(cfke_token_file: TokenFile, driver: str, kind: str) -> None:
    reply = Reply.huge(256 * 1024 * 1024) if kind == "huge" else Reply.gzip_bomb(256 * 1024 * 1024)
    source = TokenSource(cfke_token_file.path)
    with _answer(reply) as server:
        tracemalloc.start()
        try:
            with pytest.raises(ExchangeError) as info:
                if driver == "sync":
                    run(lambda: _echo_flow(server.url), source, Http(), "echo")
                else:
                    asyncio.run(arun(lambda: _echo_flow(server.url), source, Http(), "echo"))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert (info.value.code, info.value.retryable) == ("response-too-large", True)
    assert f"{server.url}/token" in str(info.value)
    assert peak < 8 * 1024 * 1024  # the cap is 1 MiB; the answer is 256 MiB decoded


@pytest.mark.parametrize("driver", ["sync", "async"])
@pytest.mark.parametrize("phase", ["headers", "body"])
def test_a_dripping_server_is_cut_at_the_deadline(cfke_token_file: TokenFile, driver: str, phase: str) -> None:
    """A byte every 0.2 s keeps every read alive; one deadline for the whole exchange still ends it."""
    reply = Reply.drip(b'{"access_token": "' + b"x" * 200 + b'"}', 0.2, phase=phase)  # type: ignore[arg-type]
    http = Http(HttpOptions(deadline=1.0, timeout=5.0))
    source = TokenSource(cfke_token_file.path)
    with _answer(reply) as server:
        started = time.monotonic()
        with pytest.raises(ExchangeError) as info:
            if driver == "sync":
                run(lambda: _echo_flow(server.url), source, http, "echo")
            else:
                asyncio.run(arun(lambda: _echo_flow(server.url), source, http, "echo"))
        elapsed = time.monotonic() - started
    assert (info.value.code, info.value.retryable) == ("timeout", True)
    assert elapsed < 4.0  # generous: the deadline is 1 s, the drip would take 40 s


def test_a_transport_error_chains_nothing(cfke_token_file: TokenFile) -> None:
    """The failed request (the token in its body) must not ride along on ``__context__``."""
    server = LoopbackServer()
    url = server.url
    server.stop()
    with pytest.raises(ExchangeError) as info:
        run(lambda: _echo_flow(url), TokenSource(cfke_token_file.path), Http(), "echo")
    assert info.value.__context__ is None and info.value.__cause__ is None


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc to count file descriptors")
def test_many_event_loops_leave_no_loops_or_sockets_behind(cfke_token_file: TokenFile) -> None:
    source = TokenSource(cfke_token_file.path)
    with _echo_server() as server:

        async def once() -> str:
            return (await arun(lambda: _echo_flow(server.url), source, Http(), "echo")).value

        asyncio.run(once())  # warm: imports, the worker thread pool
        gc.collect()
        fds = _open_fds()
        for _ in range(150):
            asyncio.run(once())
        gc.collect()
        assert _open_fds() <= fds + 2
        loops = [o for o in gc.get_objects() if isinstance(o, asyncio.AbstractEventLoop) and not o.is_closed()]
        assert loops == []
        assert len(server.requests) == 151


def test_a_request_is_recorded_exactly(cfke_token_file: TokenFile) -> None:
    seen: list[RecordedRequest] = []

    def record(request: RecordedRequest) -> Reply:
        seen.append(request)
        return Reply.json({"access_token": "ok"})

    with LoopbackServer({("POST", "/token"): record}) as server:
        run(lambda: _echo_flow(server.url), TokenSource(cfke_token_file.path), Http(), "echo")
    assert seen[0].headers["accept-encoding"] == "identity"


def test_a_proxy_that_cannot_reach_the_endpoint_reports_its_status(
    ca: LocalCA, proxy: ConnectProxy, cfke_token_file: TokenFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 502 or 503 answer to the CONNECT means the proxy could not reach the endpoint either: the status is kept,
    so STS failover treats it as the outage it is."""
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    proxy.refuse_with(502)
    with _echo_server(ca) as server, pytest.raises(ExchangeError) as info:
        url = _via(proxy, server)
        run(lambda: _echo_flow(url), TokenSource(cfke_token_file.path), Http(), "echo")
    assert (info.value.code, info.value.status, info.value.retryable) == ("proxy", 502, True)
