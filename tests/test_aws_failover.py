"""STS regional failover (opt-in): when an endpoint is unreachable, hangs or answers 5xx, the next one is tried in
the same attempt, under the same deadline; a refusal is final. Two (or more) loopback STS endpoints, one misbehaving;
and the regional endpoints by their real names, reached through a proxy."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

import cfke_auth
from cfke_auth import ConfigurationError, ExchangeError, HttpOptions
from cfke_auth.aws.endpoint import FALLBACK_REGIONS_VARIABLE
from cfke_auth.aws.settings import resolve
from cfke_auth.testing import ConnectProxy, LocalCA, Reply, TokenFile
from cfke_auth.testing.aws import FakeSts

pytestmark = [pytest.mark.usefixtures("cfke_aws_env"), pytest.mark.cfke_token(extended=True, namespace="shop")]

ROLE = "arn:aws:iam::111111111111:role/entry"
TARGET = "arn:aws:iam::222222222222:role/target"


@pytest.fixture
def primary() -> Iterator[FakeSts]:
    with FakeSts() as sts:
        yield sts


@pytest.fixture
def fallback(primary: FakeSts) -> Iterator[FakeSts]:
    with primary.replica() as sts:
        yield sts


def _closed_url() -> str:
    """A loopback URL nothing listens on: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _credentials(primary_url: str, *fallbacks: str, **options: Any) -> Any:
    session = cfke_auth.get_boto3_session(
        ROLE, sts_endpoint_url=primary_url, sts_fallback_endpoint_urls=fallbacks, **options
    )
    return session.get_credentials()


def test_an_unreachable_endpoint_fails_over_in_the_same_attempt(
    cfke_token_file: TokenFile, fallback: FakeSts, caplog: pytest.LogCaptureFixture
) -> None:
    down = _closed_url()
    credentials = _credentials(down, fallback.url)
    with caplog.at_level(logging.WARNING, logger="cfke_auth"):
        assert credentials.get_frozen_credentials().access_key == fallback.issued[-1]["access_key_id"]
    assert credentials.refreshing.attempts == 1
    assert f"STS endpoint {down} failed (connection); trying {fallback.url}" in caplog.text


@pytest.mark.parametrize(
    "reply",
    [
        Reply.text("<ErrorResponse><Error><Code>ServiceUnavailable</Code></Error></ErrorResponse>", 503, "text/xml"),
        Reply.text("<html>Internal error</html>", 500, "text/html"),
        Reply.text("Bad Gateway", 502),
    ],
    ids=["503-sts", "500-html", "502-text"],
)
def test_a_5xx_answer_fails_over(cfke_token_file: TokenFile, primary: FakeSts, fallback: FakeSts, reply: Reply) -> None:
    primary.answer_with(reply)
    credentials = _credentials(primary.url, fallback.url)
    assert credentials.get_frozen_credentials().access_key == fallback.issued[-1]["access_key_id"]
    assert (len(primary.calls), len(fallback.calls), credentials.refreshing.attempts) == (1, 1, 1)


@pytest.mark.parametrize(
    ("code", "status"), [("AccessDenied", 403), ("InvalidIdentityToken", 400), ("Throttling", 400)]
)
def test_a_refusal_is_never_retried_elsewhere(
    cfke_token_file: TokenFile, primary: FakeSts, fallback: FakeSts, code: str, status: int
) -> None:
    primary.fail_with(code, status=status)
    with pytest.raises(ExchangeError) as info:
        _credentials(primary.url, fallback.url).get_frozen_credentials()
    assert (info.value.code, info.value.status) == (code, status)
    assert "tried" not in info.value.message
    assert fallback.calls == []


def test_when_every_endpoint_fails_the_error_lists_them(
    cfke_token_file: TokenFile, primary: FakeSts, fallback: FakeSts
) -> None:
    down = _closed_url()
    fallback.fail_with("ServiceUnavailable", status=503)
    primary.fail_with("InternalFailure", status=500)
    with pytest.raises(ExchangeError) as info:
        _credentials(down, fallback.url, primary.url).get_frozen_credentials()
    error = info.value
    assert (error.code, error.retryable) == ("InternalFailure", True)
    assert error.message.endswith(
        f" (tried {down} (connection), {fallback.url} (ServiceUnavailable), {primary.url} (InternalFailure))"
    )


def test_a_hung_endpoint_leaves_the_next_one_the_rest_of_the_deadline(
    cfke_token_file: TokenFile, primary: FakeSts, fallback: FakeSts
) -> None:
    hang = Reply.drip(b"<never/>", 30.0, phase="headers")
    primary.answer_with(hang)
    credentials = _credentials(primary.url, fallback.url, http=HttpOptions(deadline=10, timeout=1))
    assert credentials.get_frozen_credentials().access_key == fallback.issued[-1]["access_key_id"]
    fallback.answer_with(hang)
    start = time.monotonic()
    slow = _credentials(primary.url, fallback.url, session_name="both-hung", http=HttpOptions(deadline=3, timeout=2.4))
    with pytest.raises(ExchangeError) as info:
        slow.get_frozen_credentials()
    elapsed = time.monotonic() - start
    assert info.value.code == "timeout"
    assert len(fallback.calls) == 2  # it was tried, with the 0.6 s the first endpoint left
    assert elapsed < 4.5  # one deadline (3 s) for both, not a timeout (2.4 s) each


def test_chain_hops_fail_over_with_the_previous_hops_keys(
    cfke_token_file: TokenFile, primary: FakeSts, fallback: FakeSts
) -> None:
    primary.fail_with("InternalFailure", status=500, role_arn=TARGET)
    session = cfke_auth.get_boto3_session(
        ROLE, chain=[TARGET], sts_endpoint_url=primary.url, sts_fallback_endpoint_urls=[fallback.url]
    )
    frozen = session.get_credentials().get_frozen_credentials()
    assert [i["role_arn"] for i in primary.issued] == [ROLE]
    assert [(i["role_arn"], i["caller"]) for i in fallback.issued] == [(TARGET, primary.issued[0]["access_key_id"])]
    assert frozen.access_key == fallback.issued[0]["access_key_id"]


async def test_aiobotocore_fails_over(cfke_token_file: TokenFile, fallback: FakeSts) -> None:
    session = cfke_auth.get_aiobotocore_session(
        ROLE, chain=[TARGET], sts_endpoint_url=_closed_url(), sts_fallback_endpoint_urls=[fallback.url]
    )
    frozen = await (await session.get_credentials()).get_frozen_credentials()
    assert frozen.access_key == fallback.issued[-1]["access_key_id"]


def test_regions_fail_over_by_their_real_endpoint_names(
    cfke_token_file: TokenFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca = LocalCA.shared()
    east_host, west_host = "sts.us-east-1.amazonaws.com", "sts.us-west-2.amazonaws.com"
    with FakeSts(tls=ca, hostnames=[east_host]) as east, east.replica(tls=ca, hostnames=[west_host]) as west:
        routes = {
            f"{east_host}:443": ("127.0.0.1", east.server.port),
            f"{west_host}:443": ("127.0.0.1", west.server.port),
        }
        with ConnectProxy(routes) as proxy:
            monkeypatch.setenv("HTTPS_PROXY", proxy.url)
            monkeypatch.setenv("AWS_CA_BUNDLE", ca.ca_file)
            monkeypatch.setenv(FALLBACK_REGIONS_VARIABLE, "us-west-2")
            east.fail_with("ServiceUnavailable", status=503)
            session = cfke_auth.get_boto3_session(ROLE, chain=[TARGET], region_name="us-east-1")
            frozen = session.get_credentials().get_frozen_credentials()
    assert frozen.access_key == west.issued[-1]["access_key_id"]
    assert session.region_name == "us-east-1"  # failover is STS's only; the SDK's region stays
    assert [call.form()["Action"] for call in west.calls] == ["AssumeRoleWithWebIdentity", "AssumeRole"]
    assert "/us-west-2/sts/aws4_request" in west.calls[1].headers["authorization"]  # signed for the region it reached
    assert (len(east.calls), proxy.tunnels[0][0]) == (2, east_host)


# -- how fallbacks are configured ---------------------------------------------------------------------------------


def test_fallback_regions_resolve_by_the_regional_rules(
    cfke_token_file: TokenFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = resolve(
        ROLE, region_name="eu-central-1", sts_fallback_regions=("eu-west-1", "eu-central-1", "us-west-2")
    )
    assert settings.endpoints == (
        "https://sts.eu-central-1.amazonaws.com",
        "https://sts.eu-west-1.amazonaws.com",  # the primary's own region is dropped
        "https://sts.us-west-2.amazonaws.com",
    )
    monkeypatch.setenv(FALLBACK_REGIONS_VARIABLE, " us-west-2 , cn-north-1,")
    monkeypatch.setenv("AWS_USE_DUALSTACK_ENDPOINT", "true")
    assert resolve(ROLE, region_name="us-east-1").fallback_endpoints == (
        "https://sts.us-west-2.api.aws",
        "https://sts.cn-north-1.api.amazonwebservices.com.cn",
    )
    assert resolve(ROLE, region_name="us-east-1", sts_fallback_regions=()).fallback_endpoints == ()


@pytest.mark.parametrize(
    ("options", "environment", "match"),
    [
        ({"sts_fallback_regions": ["us-west-2"], "sts_endpoint_url": "https://sts.example"}, {},
         r"^sts_fallback_regions \(us-west-2\) names AWS regional STS endpoints, which cannot back up the custom"),
        ({}, {"AWS_ENDPOINT_URL_STS": "https://sts.example", FALLBACK_REGIONS_VARIABLE: "us-west-2"},
         rf"^{FALLBACK_REGIONS_VARIABLE} \(us-west-2\) names AWS regional .* sts_fallback_regions=\(\) to ignore"),
        ({}, {FALLBACK_REGIONS_VARIABLE: "us-west-2,Oregon"}, rf"^{FALLBACK_REGIONS_VARIABLE} entry 'Oregon' is not"),
        ({"sts_fallback_regions": [2]}, {}, r"^sts_fallback_regions must be a sequence of strings"),
        ({"sts_fallback_endpoint_urls": ["http://sts.example"]}, {}, r"^STS fallback endpoint .* is not an https://"),
    ],
)  # fmt: skip
def test_bad_fallbacks_are_refused(
    cfke_token_file: TokenFile,
    monkeypatch: pytest.MonkeyPatch,
    options: dict[str, Any],
    environment: dict[str, str],
    match: str,
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=match):
        resolve(ROLE, region_name="us-east-1", **options)


def test_a_custom_endpoint_ignores_the_variable_when_told(
    cfke_token_file: TokenFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(FALLBACK_REGIONS_VARIABLE, "us-west-2")
    settings = resolve(
        ROLE, sts_endpoint_url="https://sts.example", sts_fallback_regions=(),
        sts_fallback_endpoint_urls=["https://sts-backup.example/", "https://sts.example"],
    )  # fmt: skip
    assert settings.endpoints == ("https://sts.example", "https://sts-backup.example")
