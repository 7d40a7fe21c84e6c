"""The broker over time and at its edges: a rotated pod token used by the next exchange, AWS credentials served with
15 minutes left, readiness at 5 minutes, refused exchanges answered in each protocol's shape and counted by code,
SIGTERM draining a request in flight, the startup refusals (non-loopback address, no cloud, Azure on IPv6 only),
and the secrets files kept across restarts but replaced when untrustworthy."""

from __future__ import annotations

import argparse
import asyncio
import calendar
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import time_machine
from conftest import assert_no_secrets
from test_broker import RunningBroker

from cfke_auth.broker import Broker, BrokerConfig
from cfke_auth.broker.config import add_arguments, from_args
from cfke_auth.broker.secrets import AWS_SECRET, AZURE_SECRET, load_or_create
from cfke_auth.cli import main
from cfke_auth.testing import FakeEntra, FakeSts, LoopbackServer, OidcIssuer, RecordedRequest, Reply, TokenFile
from cfke_auth.testing.aws import sts_success_xml
from cfke_auth.testing.gcp import GoogleFake
from cfke_auth.testing.plugin import ENTRA_CLIENT_ID, ENTRA_TENANT_ID

ROLE = "arn:aws:iam::123456789012:role/broker"
AZURE = ("--azure-tenant-id", ENTRA_TENANT_ID, "--azure-client-id", ENTRA_CLIENT_ID)


@pytest.fixture(autouse=True)
def _no_cloud_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ROLE_ARN", "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)


def _config(tmp_path: Path, *flags: str) -> BrokerConfig:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return from_args(parser.parse_args(["--port", "0", "--secrets-dir", str(tmp_path / "secrets"), *flags]))


@pytest.fixture
def aws_token(tmp_path: Path, cfke_issuer: OidcIssuer) -> TokenFile:
    token = TokenFile(tmp_path / "aws-token", cfke_issuer, audience="sts.amazonaws.com")
    token.rotate()
    return token


async def _aws(client: httpx.AsyncClient, broker: Broker) -> httpx.Response:
    secret = (broker.config.secrets_dir / AWS_SECRET).read_text()
    return await client.get(f"{broker.urls[0]}/aws/credentials", headers={"Authorization": secret})


def _left(expiration: str) -> float:
    return calendar.timegm(time.strptime(expiration, "%Y-%m-%dT%H:%M:%SZ")) - time.time()


async def _until(check: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "still not true"
        await asyncio.sleep(0.02)


async def test_rotated_token_is_used_and_aws_credentials_keep_15_minutes(tmp_path: Path, aws_token: TokenFile) -> None:
    with FakeSts() as sts:
        config = _config(
            tmp_path, "--aws-role-arn", ROLE, "--aws-token-path", aws_token.path, "--aws-sts-endpoint-url", sts.url
        )
        async with Broker(config) as broker, httpx.AsyncClient() as client:
            first = (await _aws(client, broker)).json()
            assert sts.calls[0].form()["WebIdentityToken"] != (rotated := aws_token.rotate())
            with time_machine.travel(time.time() + 44.5 * 60, tick=True):  # 15.5 min left: past the broker's mark

                async def renewed() -> bool:
                    return (await _aws(client, broker)).json()["AccessKeyId"] != first["AccessKeyId"]

                await _until(renewed)
                served = (await _aws(client, broker)).json()
                assert _left(served["Expiration"]) > 55 * 60
            assert len(sts.calls) == 2 and sts.calls[1].form()["WebIdentityToken"] == rotated


async def test_readiness_needs_five_minutes_and_a_failed_refresh_is_counted(
    tmp_path: Path, aws_token: TokenFile
) -> None:
    with FakeSts() as sts:
        config = _config(
            tmp_path, "--aws-role-arn", ROLE, "--aws-token-path", aws_token.path, "--aws-sts-endpoint-url", sts.url
        )
        async with Broker(config) as broker, httpx.AsyncClient() as client:
            assert (await _aws(client, broker)).status_code == 200
            assert (await client.get(f"{broker.urls[0]}/readyz")).status_code == 200
            sts.fail_with("ServiceUnavailable", status=503)
            with time_machine.travel(time.time() + 56 * 60, tick=True):  # 4 min left, and STS refuses to renew

                async def counted() -> bool:
                    page = (await client.get(f"{broker.urls[0]}/metrics")).text
                    return 'cfke_broker_exchange_failures_total{code="ServiceUnavailable",provider="aws"}' in page

                await _until(counted)
                assert (await _aws(client, broker)).status_code == 200  # still valid: still served
                ready = await client.get(f"{broker.urls[0]}/readyz")
                assert ready.status_code == 503 and f"aws {ROLE}: " in ready.text and " s left" in ready.text


async def test_refused_exchanges_answer_in_each_protocols_shape(
    tmp_path: Path, cfke_issuer: OidcIssuer, aws_token: TokenFile
) -> None:
    azure_token = TokenFile(tmp_path / "azure-token", cfke_issuer, audience="api://AzureADTokenExchange")
    azure_token.rotate()
    gcp_token = TokenFile(tmp_path / "gcp-token", cfke_issuer)
    google = GoogleFake(cfke_issuer, gcp_token.path)
    gcp_token.rotate(audience="wrong-audience")  # Google STS refuses it: invalid_grant, not retryable
    with FakeSts() as sts, google, FakeEntra(ENTRA_TENANT_ID, ENTRA_CLIENT_ID, azure_token.path) as entra:
        sts.fail_with("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity", status=403)
        entra.fail_with(70021, "No matching federated identity record found")
        config = _config(
            tmp_path,
            *("--aws-role-arn", ROLE, "--aws-token-path", aws_token.path, "--aws-sts-endpoint-url", sts.url),
            *("--gcp-pool", "cfke", "--gcp-provider", "cfke", "--gcp-project-number", "123456789012"),
            *("--gcp-token-path", gcp_token.path, "--gcp-sts-endpoint-url", google.url),
            *(*AZURE, "--azure-token-path", azure_token.path, "--azure-authority-host", entra.url),
        )
        async with Broker(config) as broker, httpx.AsyncClient() as client:
            base = broker.urls[0]
            aws = await _aws(client, broker)
            assert aws.status_code == 502 and aws.json()["Code"] == "AccessDenied"
            gce = await client.get(
                f"{base}/computeMetadata/v1/instance/service-accounts/default/token",
                headers={"Metadata-Flavor": "Google"},
            )
            assert gce.status_code == 502 and "invalid_grant" in gce.text and gce.headers["metadata-flavor"] == "Google"
            header = (broker.config.secrets_dir / AZURE_SECRET).read_text()
            azure = await client.get(
                f"{base}/msi/token",
                params={"api-version": "2019-08-01", "resource": "https://management.azure.com"},
                headers={"X-IDENTITY-HEADER": header},
            )
            assert azure.status_code == 502 and azure.json()["statusCode"] == 502
            assert "AADSTS70021" in azure.json()["message"]
            ready = await client.get(f"{base}/readyz")
            assert ready.status_code == 503 and ready.text.count("not obtained") == 3
            page = (await client.get(f"{base}/metrics")).text
            for provider, code in (("aws", "AccessDenied"), ("gcp", "invalid_grant"), ("azure", "AADSTS70021")):
                assert f'cfke_broker_exchange_failures_total{{code="{code}",provider="{provider}"}}' in page, page
            assert_no_secrets([aws_token.token or "", azure_token.token or "", header], aws.text, gce.text, azure.text)


def _slow_sts(delay: float) -> LoopbackServer:
    """An STS that takes ``delay`` seconds to answer: a request in flight for the drain to wait for."""

    def answer(request: RecordedRequest) -> Reply:
        time.sleep(delay)
        form = request.form()
        body = sts_success_xml(
            access_key_id="ASIASLOWSTS000000001",
            secret_access_key="s" * 40,
            session_token="slow-session-token",
            expires_at=time.time() + 3600,
            role_arn=ROLE,
            session_name=form["RoleSessionName"],
            subject="sub",
            audience="aud",
            provider="iss",
        )
        return Reply.text(body, 200, "text/xml")

    return LoopbackServer({("POST", "/"): answer})


def test_sigterm_drains_the_request_in_flight_and_exits_0(tmp_path: Path, aws_token: TokenFile) -> None:
    with _slow_sts(2.0) as sts:
        broker = RunningBroker.start(
            tmp_path, "--aws-role-arn", ROLE, "--aws-token-path", aws_token.path, "--aws-sts-endpoint-url", sts.url
        )
        answers: list[httpx.Response] = []
        secret = broker.secret(AWS_SECRET)
        asking = threading.Thread(
            target=lambda: answers.append(
                httpx.get(f"{broker.url}/aws/credentials", headers={"Authorization": secret}, timeout=30)
            )
        )
        asking.start()
        time.sleep(0.5)  # the request waits on the (slow) first exchange
        started = time.monotonic()
        assert broker.stop(signal.SIGTERM) == 0, broker.text()
        asking.join(30)
        assert time.monotonic() - started < 8
        assert answers and answers[0].status_code == 200 and answers[0].json()["AccessKeyId"] == "ASIASLOWSTS000000001"
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{broker.url}/healthz")
        assert "stopping" in broker.text() and "Traceback" not in broker.text()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--bind", "0.0.0.0", "--aws-role-arn", ROLE], "--bind 0.0.0.0: refusing a non-loopback address"),
        (["--bind", "10.1.2.3", "--aws-role-arn", ROLE], "--bind 10.1.2.3: refusing a non-loopback address"),
        (["--bind", "localhost", "--aws-role-arn", ROLE], "is not an IP address"),
        ([], "no cloud configured"),
        (["--bind", "::1", *AZURE], "Azure needs an IPv4 loopback address"),
        (["--gcp-pool", "cfke"], "needs both --gcp-pool and --gcp-provider"),
        (["--print-env", "--port", "0", "--aws-role-arn", ROLE], "--print-env needs the port"),
    ],
    ids=["any", "pod-ip", "name", "no-cloud", "azure-ipv6", "gcp-half", "print-env-port-0"],
)
def test_startup_refusals_are_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    argv = ["serve", "--secrets-dir", str(tmp_path), *flags]
    if "--port" not in flags:
        argv += ["--port", "0"]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert not out and err.startswith("cfke-auth: ") and message in err and err.count("\n") == 1


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


async def test_ipv6_loopback(tmp_path: Path, aws_token: TokenFile) -> None:
    if not _has_ipv6_loopback():
        pytest.skip("this machine has no IPv6 loopback")
    with FakeSts() as sts:
        config = _config(
            tmp_path,
            "--bind",
            "::1",
            "--aws-role-arn",
            ROLE,
            "--aws-token-path",
            aws_token.path,
            "--aws-sts-endpoint-url",
            sts.url,
        )
        async with Broker(config) as broker, httpx.AsyncClient() as client:
            assert broker.urls[0].startswith("http://[::1]:")
            assert (await _aws(client, broker)).status_code == 200


@pytest.mark.parametrize("damage", ["loose-mode", "symlink", "not-ours", "garbage"])
def test_secrets_are_kept_across_restarts_but_untrusted_ones_replaced(tmp_path: Path, damage: str) -> None:
    secrets_dir = tmp_path / "shared"
    first = load_or_create(secrets_dir, AWS_SECRET)
    assert first.path.stat().st_mode & 0o777 == 0o600 and first.path.read_text() == first.value
    assert load_or_create(secrets_dir, AWS_SECRET).value == first.value  # a restarted broker keeps its clients
    assert load_or_create(secrets_dir, AZURE_SECRET).value != first.value  # one secret per protocol
    if damage == "loose-mode":
        first.path.chmod(0o644)
    elif damage == "symlink":
        planted = secrets_dir / "planted"
        planted.write_text(first.value)
        planted.chmod(0o600)
        first.path.unlink()
        first.path.symlink_to(planted)
    elif damage == "not-ours":
        if os.geteuid() != 0:
            pytest.skip("giving the file to another user needs root")
        os.chown(first.path, 4321, -1)
    else:
        first.path.write_text("not-a-secret\n")
    replaced = load_or_create(secrets_dir, AWS_SECRET)
    assert replaced.value != first.value and not first.path.is_symlink()
    assert first.path.stat().st_mode & 0o777 == 0o600 and first.path.stat().st_uid == os.geteuid()
    assert repr(replaced).count(replaced.value) == 0


def test_secrets_directory_that_cannot_be_written_is_a_configuration_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cfke_auth",
            "serve",
            "--port",
            "0",
            "--secrets-dir",
            str(blocker / "dir"),
            "--aws-role-arn",
            ROLE,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2 and "cannot write the broker's secrets" in result.stderr
    assert result.stderr.count("\n") == 1
