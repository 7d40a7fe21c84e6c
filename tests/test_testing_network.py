"""The test kit's network parts, driven by real clients: TLS through a local CA, a real CONNECT proxy, hostile
replies, and servers that stop at once."""

from __future__ import annotations

import gzip
import os
import socket
import ssl
import sys
import threading
import time
import tracemalloc
import urllib.request
import zlib
from collections.abc import Callable, Iterator

import httpx
import pytest

from cfke_auth import ConfigurationError
from cfke_auth.testing.proxy import ConnectProxy, ProxyRefusal
from cfke_auth.testing.server import LoopbackServer, RecordedRequest, Reply
from cfke_auth.testing.tls import LocalCA

HOST = "sts.example.test"  # .test never resolves: only the proxy's routes lead there
MIB = 1 << 20


def _hello(request: RecordedRequest) -> Reply:
    return Reply.json({"path": request.path, "host": request.headers.get("host")})


ROUTES = {("GET", "/hello"): _hello, ("POST", "/hello"): _hello}


@pytest.fixture(scope="module")
def ca() -> LocalCA:
    pytest.importorskip("trustme", reason="trustme (a test dependency) is needed for the TLS tests")
    return LocalCA.shared()


@pytest.fixture
def https_server(ca: LocalCA) -> Iterator[LoopbackServer]:
    with LoopbackServer(ROUTES, tls=ca, hostnames=[HOST]) as server:
        yield server


@pytest.fixture
def proxy(https_server: LoopbackServer) -> Iterator[ConnectProxy]:
    with ConnectProxy({f"{HOST}:{https_server.port}": ("127.0.0.1", https_server.port)}) as proxy:
        yield proxy


def _raw_exchange(address: tuple[str, int], data: bytes, *, half_close: bool = False) -> bytes:
    """Send ``data`` on a plain socket and read until the other side closes."""
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


def _trusting(ca: LocalCA) -> ssl.SSLContext:
    """What a client builds from a CA bundle path (httpx 0.28 takes a context rather than a path)."""
    return ssl.create_default_context(cafile=ca.ca_file)


def _address(url: str) -> tuple[str, int]:
    parts = httpx.URL(url)
    assert parts.port is not None
    return parts.host, parts.port


# --- TLS ---------------------------------------------------------------------------------------------------------


def test_https_verified_with_the_ca_file(https_server: LoopbackServer, ca: LocalCA) -> None:
    assert https_server.url == f"https://127.0.0.1:{https_server.port}"
    response = httpx.get(f"{https_server.url}/hello", verify=_trusting(ca))
    assert response.json() == {"path": "/hello", "host": f"127.0.0.1:{https_server.port}"}
    assert httpx.get(f"{https_server.url_for('localhost')}/hello", verify=ca.client_context()).status_code == 200


def test_https_trusted_through_the_ca_variables(
    https_server: LoopbackServer, ca: LocalCA, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in ca.ca_variables().items():
        monkeypatch.setenv(name, value)
    assert set(ca.ca_variables()) == {"SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "AWS_CA_BUNDLE"}
    assert httpx.get(f"{https_server.url}/hello").status_code == 200  # httpx reads SSL_CERT_FILE


def test_stdlib_client_over_https(https_server: LoopbackServer, ca: LocalCA) -> None:
    with urllib.request.urlopen(f"{https_server.url}/hello", context=ca.client_context()) as response:
        assert response.status == 200


def test_https_refused_without_the_ca(https_server: LoopbackServer, ca: LocalCA) -> None:
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{https_server.url}/hello")  # the system bundle does not know the local CA
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{https_server.url}/hello", verify=_trusting(LocalCA()))  # nor does another CA
    assert httpx.get(f"{https_server.url}/hello", verify=_trusting(ca)).status_code == 200  # the server survived both


def test_certificate_names(https_server: LoopbackServer, ca: LocalCA) -> None:
    """The certificate covers the loopback names and ``hostnames``; other names are refused before any request."""
    assert https_server.url_for(HOST.upper()) == f"https://{HOST.upper()}:{https_server.port}"
    with pytest.raises(ConfigurationError, match=r"other\.example\.test"):
        https_server.url_for("other.example.test")
    context = ca.client_context()
    with socket.create_connection(("127.0.0.1", https_server.port)) as raw, pytest.raises(ssl.SSLCertVerificationError):
        context.wrap_socket(raw, server_hostname="other.example.test")
    with LoopbackServer() as plain:
        assert plain.url_for("anything.test") == f"http://anything.test:{plain.port}"  # plain http: any name


def test_a_stalled_handshake_does_not_stall_other_clients(https_server: LoopbackServer, ca: LocalCA) -> None:
    with socket.create_connection(("127.0.0.1", https_server.port)) as silent:
        silent.sendall(b"\x16\x03\x01")  # the start of a ClientHello, then nothing
        with socket.create_connection(("127.0.0.1", https_server.port)) as garbage:
            garbage.sendall(b"GET / HTTP/1.1\r\n\r\n")  # plain http to a TLS port
            response = httpx.get(f"{https_server.url}/hello", verify=_trusting(ca), timeout=5)
            assert response.status_code == 200


async def test_async_client_over_https(https_server: LoopbackServer, ca: LocalCA) -> None:
    async with httpx.AsyncClient(verify=_trusting(ca)) as client:
        responses = [await client.get(f"{https_server.url}/hello") for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 200]


def test_a_clear_error_without_trustme(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "trustme", None)  # what a missing package looks like to `import`
    with pytest.raises(ModuleNotFoundError, match="needs the 'trustme' package"):
        LocalCA()


# --- Stopping ------------------------------------------------------------------------------------------------------


def test_stop_is_prompt_and_drops_kept_alive_connections() -> None:
    server = LoopbackServer(ROUTES).start()
    with httpx.Client() as client:
        assert client.get(f"{server.url}/hello").status_code == 200  # the connection stays in the pool
        started = time.perf_counter()
        server.stop()
        assert time.perf_counter() - started < 0.3  # socketserver's shutdown() waited up to 0.5 s
        with pytest.raises(httpx.TransportError):
            client.get(f"{server.url}/hello")  # a stopped server answers nothing, pooled connection or not


def test_many_servers_start_and_stop_quickly_and_leave_nothing_behind() -> None:
    threads, fds = threading.active_count(), _open_fds()
    started = time.perf_counter()
    with httpx.Client() as client:  # keeps a connection to every server in its pool
        for _ in range(20):
            with LoopbackServer(ROUTES) as server:
                assert client.get(f"{server.url}/hello").status_code == 200
        elapsed = time.perf_counter() - started
        _wait_until(lambda: threading.active_count() <= threads)  # every handler thread ended with its server
    assert elapsed < 2.0  # 20 x 0.5 s = 10 s before
    assert _open_fds() <= fds


def _open_fds() -> int:
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("counting file descriptors needs /proc")
    return len(os.listdir("/proc/self/fd"))


def _wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


# --- The CONNECT proxy ---------------------------------------------------------------------------------------------


def test_https_through_the_proxy_under_a_name_that_does_not_resolve(
    https_server: LoopbackServer, proxy: ConnectProxy, ca: LocalCA
) -> None:
    url = f"{https_server.url_for(HOST)}/hello"
    with httpx.Client(proxy=proxy.url, verify=_trusting(ca)) as client:
        answers = [client.get(url).json() for _ in range(3)]
    assert answers == [{"path": "/hello", "host": f"{HOST}:{https_server.port}"}] * 3
    assert proxy.tunnels == [(HOST, https_server.port)]  # one tunnel, kept alive for all three requests
    assert proxy.tunnel_count == 1
    assert proxy.requests == []
    assert proxy.refusals == []


async def test_async_client_through_the_proxy(https_server: LoopbackServer, proxy: ConnectProxy, ca: LocalCA) -> None:
    async with httpx.AsyncClient(proxy=proxy.url, verify=_trusting(ca)) as client:
        response = await client.post(f"{https_server.url_for(HOST)}/hello", data={"a": "b"})
    assert response.status_code == 200
    assert proxy.tunnels == [(HOST, https_server.port)]
    assert https_server.requests[0].form() == {"a": "b"}


def test_stdlib_client_through_the_proxy(https_server: LoopbackServer, proxy: ConnectProxy, ca: LocalCA) -> None:
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({"https": proxy.url}), urllib.request.HTTPSHandler(context=ca.client_context())
    )
    with opener.open(f"{https_server.url_for(HOST)}/hello", timeout=5) as response:
        assert response.status == 200
    assert proxy.tunnels == [(HOST, https_server.port)]


def test_proxy_credentials(https_server: LoopbackServer, ca: LocalCA) -> None:
    routes = {f"{HOST}:{https_server.port}": ("127.0.0.1", https_server.port)}
    url = f"{https_server.url_for(HOST)}/hello"
    with ConnectProxy(routes, credentials=("alice", "s3cret:/@")) as proxy:
        for proxy_url in (proxy.url, proxy.url_with("alice", "wrong")):
            with pytest.raises(httpx.ProxyError, match="407"):
                httpx.get(url, proxy=proxy_url, verify=_trusting(ca))
        assert proxy.tunnels == []
        assert httpx.get(url, proxy=proxy.url_with("alice", "s3cret:/@"), verify=_trusting(ca)).status_code == 200
        assert proxy.tunnels == [(HOST, https_server.port)]
        assert proxy.refusals == [ProxyRefusal("CONNECT", f"{HOST}:{https_server.port}", 407)] * 2
        answer = _raw_exchange(_address(proxy.url), f"CONNECT {HOST}:443 HTTP/1.1\r\nHost: {HOST}:443\r\n\r\n".encode())
        assert answer.startswith(b"HTTP/1.1 407 Proxy Authentication Required\r\n")
        assert b'\r\nProxy-Authenticate: Basic realm="cfke-auth test proxy"\r\n' in answer
    assert "proxy-authorization" not in https_server.requests[0].headers  # the tunnel carries only the client's TLS


def test_proxy_refusals(https_server: LoopbackServer, proxy: ConnectProxy, ca: LocalCA) -> None:
    url = f"{https_server.url_for(HOST)}/hello"
    proxy.refuse_with(403)
    with pytest.raises(httpx.ProxyError, match="403"):
        httpx.get(url, proxy=proxy.url, verify=_trusting(ca))
    proxy.refuse_with(None)
    assert httpx.get(url, proxy=proxy.url, verify=_trusting(ca)).status_code == 200
    with pytest.raises(httpx.ProxyError, match="502"):
        httpx.get("https://unknown.example.test/hello", proxy=proxy.url, verify=_trusting(ca))
    assert [r.status for r in proxy.refusals] == [403, 502]
    assert proxy.refusals[1].target == "unknown.example.test:443"
    assert proxy.tunnels == [(HOST, https_server.port)]


def test_plain_http_is_forwarded() -> None:
    with LoopbackServer(ROUTES) as server, ConnectProxy({"api.example.test:80": ("127.0.0.1", server.port)}) as proxy:
        with httpx.Client(proxy=proxy.url) as client:
            first = client.post("http://api.example.test/hello?x=1", data={"a": "b"})
            second = client.get("http://api.example.test/hello")
        assert first.json() == {"path": "/hello", "host": "api.example.test"}
        assert first.headers["connection"] == "close"  # one request per forwarded connection
        assert second.status_code == 200
        assert [(r.method, r.url) for r in proxy.requests] == [
            ("POST", "http://api.example.test/hello?x=1"),
            ("GET", "http://api.example.test/hello"),
        ]
        assert server.requests[0].query == {"x": ["1"]}
        assert server.requests[0].form() == {"a": "b"}
        assert proxy.tunnels == []


def test_ip_literals_go_through_without_a_route() -> None:
    with LoopbackServer(ROUTES) as server, ConnectProxy() as proxy:
        assert httpx.get(f"{server.url}/hello", proxy=proxy.url).status_code == 200
        assert [r.url for r in proxy.requests] == [f"{server.url}/hello"]


def test_a_route_callable() -> None:
    with LoopbackServer(ROUTES) as server:
        asked: list[tuple[str, int]] = []

        def route(host: str, port: int) -> tuple[str, int] | None:
            asked.append((host, port))
            return ("127.0.0.1", server.port) if host.endswith(".internal.test") else None

        with ConnectProxy(route) as proxy:
            assert httpx.get("http://a.internal.test/hello", proxy=proxy.url).status_code == 200
            assert httpx.get("http://b.elsewhere.test/hello", proxy=proxy.url).status_code == 502
        assert asked == [("a.internal.test", 80), ("b.elsewhere.test", 80)]


def test_a_half_closed_tunnel_still_gets_its_answer() -> None:
    with LoopbackServer(ROUTES) as server, ConnectProxy() as proxy:
        request = (
            f"CONNECT 127.0.0.1:{server.port} HTTP/1.1\r\n\r\n"
            "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        answer = _raw_exchange(_address(proxy.url), request.encode(), half_close=True)
    assert answer.startswith(b"HTTP/1.1 200 Connection Established\r\n")
    assert answer.endswith(b'{"path": "/hello", "host": "x"}')


def test_stop_closes_open_tunnels_and_survives_disconnects() -> None:
    with LoopbackServer(ROUTES) as server:
        proxy = ConnectProxy().start()
        connect = f"CONNECT 127.0.0.1:{server.port} HTTP/1.1\r\n\r\n".encode()
        with socket.create_connection(_address(proxy.url), timeout=5) as dropped:
            dropped.sendall(connect)
            assert dropped.recv(1024).startswith(b"HTTP/1.1 200")
        with socket.create_connection(_address(proxy.url), timeout=5) as tunnel:
            tunnel.sendall(connect)
            assert tunnel.recv(1024).startswith(b"HTTP/1.1 200")
            started = time.perf_counter()
            proxy.stop()
            assert time.perf_counter() - started < 0.3
            assert tunnel.recv(1024) == b""  # the proxy ended the tunnel
        assert proxy.tunnel_count == 2


# --- Hostile replies -----------------------------------------------------------------------------------------------


def test_a_huge_body_is_streamed_with_bounded_memory() -> None:
    size = 256 * MIB
    with LoopbackServer({("GET", "/huge"): lambda _: Reply.huge(size)}) as server:
        tracemalloc.start()
        try:
            received = 0
            with httpx.stream("GET", f"{server.url}/huge") as response:
                assert response.headers["content-length"] == str(size)
                for chunk in response.iter_raw():
                    received += len(chunk)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert received == size
    assert peak < 4 * MIB  # server and client together; the body never exists in one piece


def test_a_gzip_bomb_is_small_and_decodes_exactly() -> None:
    size = 256 * MIB + 12345
    server = LoopbackServer({("GET", "/bomb"): lambda _: Reply.gzip_bomb(size)})
    with server, httpx.stream("GET", f"{server.url}/bomb") as response:
        assert response.headers["content-encoding"] == "gzip"
        compressed = b"".join(response.iter_raw())
    assert len(compressed) < 300 * 1024
    decoder, decoded, data = zlib.decompressobj(31), 0, compressed
    while data:  # decode in bounded steps, checking every byte is zero
        piece = decoder.decompress(data, MIB)
        assert piece.count(0) == len(piece)
        decoded += len(piece)
        data = decoder.unconsumed_tail
    decoded += len(decoder.flush())
    assert decoder.eof
    assert decoded == size  # gzip's own size and CRC trailer checked too, by the decoder reaching eof cleanly
    assert gzip.decompress(Reply.gzip_bomb(1000).body) == bytes(1000)
    assert gzip.decompress(Reply.gzip_bomb(0).body) == b""


def test_a_body_drip_delivers_headers_then_stalls() -> None:
    reply = Reply.drip(b'{"access_token": "t"}', 30.0)
    server = LoopbackServer({("GET", "/drip"): lambda _: reply})
    with server, httpx.stream("GET", f"{server.url}/drip", timeout=0.5) as response:
        assert response.status_code == 200  # the header block came at once
        with pytest.raises(httpx.ReadTimeout):
            response.read()  # the body trickles: one byte, then 30 s of nothing


def test_a_header_drip_stalls_before_the_status() -> None:
    server = LoopbackServer({("GET", "/drip"): lambda _: Reply.drip(b"{}", 30.0, phase="headers")})
    with server, pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{server.url}/drip", timeout=0.5)


def test_a_quick_drip_completes() -> None:
    body = b'{"access_token": "t"}'
    for phase in ("headers", "body"):
        route = {("GET", "/drip"): lambda _, phase=phase: Reply.drip(body, 0.002, phase=phase)}
        with LoopbackServer(route) as server:
            assert httpx.get(f"{server.url}/drip", timeout=10).content == body


def test_stop_ends_a_drip_in_progress() -> None:
    server = LoopbackServer({("GET", "/drip"): lambda _: Reply.drip(b"x" * 100, 30.0)}).start()
    outcome: list[BaseException] = []

    def client() -> None:
        try:
            httpx.get(f"{server.url}/drip", timeout=60)
        except httpx.HTTPError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=client)
    thread.start()
    _wait_until(lambda: bool(server.requests))  # the request has arrived; the drip is under way
    started = time.perf_counter()
    server.stop()
    assert time.perf_counter() - started < 0.3
    thread.join(5)
    assert not thread.is_alive()
    assert len(outcome) == 1
    assert isinstance(outcome[0], httpx.TransportError)  # the connection ended mid-body


def test_bad_hostile_sizes_are_refused() -> None:
    with pytest.raises(ConfigurationError):
        Reply.huge(-1)
    with pytest.raises(ConfigurationError):
        Reply.huge(10, chunk_size=0)
    with pytest.raises(ConfigurationError):
        Reply.gzip_bomb(-1)


def test_retry_after_and_other_headers() -> None:
    busy = Reply.json({"error": "slow_down"}, 429, headers={"Retry-After": "7"})
    renamed = Reply.text("x").with_headers({"content-type": "text/csv", "Retry-After": "3"})
    assert renamed.headers == {"content-type": "text/csv", "Retry-After": "3"}
    streamed = Reply(stream=lambda: iter([b"no ", b"length"]))
    routes = {("GET", "/busy"): lambda _: busy, ("GET", "/csv"): lambda _: renamed, ("GET", "/s"): lambda _: streamed}
    with LoopbackServer(routes) as server:
        response = httpx.get(f"{server.url}/busy")
        assert (response.status_code, response.headers["retry-after"]) == (429, "7")
        assert httpx.get(f"{server.url}/csv").headers.get_list("content-type") == ["text/csv"]
        with server.outage(503, headers={"Retry-After": "120"}):
            response = httpx.get(f"{server.url}/busy")
        assert (response.status_code, response.headers["retry-after"]) == (503, "120")
        response = httpx.get(f"{server.url}/s")
        assert (response.content, response.headers["connection"]) == (b"no length", "close")
