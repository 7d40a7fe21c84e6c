"""The broker (``cfke-auth serve``) and the credential-process cache, on moto: STS calls for 20 client processes
(broker vs each process's own botocore web identity), the AWS endpoint under 50 concurrent connections for a bounded
10 s (requests/s, p50, p99) and on one connection, the broker's memory, and STS calls for 5 AWS CLI runs through
``credential_process`` (cached vs ``--no-cache``)."""

from __future__ import annotations

import asyncio
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
from harness import Row, at_most, count, reported

from cfke_auth.testing import OidcIssuer, TokenFile
from cfke_auth.testing.aws import AwsCli, MotoServer

ROLE = "arn:aws:iam::123456789012:role/bench"
CLIENTS = 20
CONNECTIONS = 50
LOAD_SECONDS = 10.0
CLI_RUNS = 5
# One client process: botocore's default chain, then its credentials (the container provider, or web identity).
CLIENT = "import botocore.session; botocore.session.get_session().get_credentials().get_frozen_credentials()"


class Broker:
    """A ``cfke-auth serve`` process for AWS on moto, started with the environment of a pod."""

    def __init__(self, moto: MotoServer, token: TokenFile, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.log = directory / "broker.log"
        argv = [sys.executable, "-m", "cfke_auth", "serve", "--port", "0", "--secrets-dir", str(directory / "s")]
        argv += ["--aws-role-arn", ROLE, "--aws-region", "us-east-1", "--aws-token-path", token.path]
        argv += ["--aws-sts-endpoint-url", moto.url]
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(argv, stderr=out)
        deadline = time.monotonic() + 30
        while not (found := re.search(r"listening on (http://\S+)", self.log.read_text())):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"the broker did not start: {self.log.read_text()}")
            time.sleep(0.05)
        self.url = found.group(1)
        self.secret_file = directory / "s" / "aws-container-authorization-token"
        self.env = {
            "PATH": os.environ["PATH"],
            "HOME": str(directory),
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": f"{self.url}/aws/credentials",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": str(self.secret_file),
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def rss_mib(self) -> float:
        """The broker's resident memory now (MiB)."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024  # type: ignore[union-attr]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(15)


def _clients(env: dict[str, str]) -> None:
    """``CLIENTS`` botocore processes at once, each asking for credentials."""
    processes = [subprocess.Popen([sys.executable, "-c", CLIENT], env=env) for _ in range(CLIENTS)]
    if any(process.wait(120) for process in processes):
        raise RuntimeError("a client process failed")


async def _load(url: str, secret: str, connections: int, seconds: float) -> tuple[float, list[float]]:
    """``connections`` clients, each on its own keep-alive connection asking again as soon as answered, for
    ``seconds``: (requests per second, the latencies in ms)."""
    latencies: list[float] = []
    headers = {"Authorization": secret}
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        stop_at = time.perf_counter() + seconds

        async def client() -> None:
            while (start := time.perf_counter()) < stop_at:
                async with session.get(url, headers=headers) as answer:
                    await answer.read()
                    if answer.status != 200:
                        raise RuntimeError(f"the broker answered {answer.status}")
                latencies.append((time.perf_counter() - start) * 1e3)

        began = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(connections)))
        return len(latencies) / (time.perf_counter() - began), latencies


def _p(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1)]


def _broker_rows(moto: MotoServer, token: TokenFile, directory: Path) -> Iterator[Row]:
    before = moto.sts_calls
    broker = Broker(moto, token, directory)
    try:
        _clients(broker.env)
        ours = moto.sts_calls - before
        web_identity = {
            **broker.env,
            "AWS_ROLE_ARN": ROLE,
            "AWS_WEB_IDENTITY_TOKEN_FILE": token.path,
            "AWS_ENDPOINT_URL_STS": moto.url,
        }
        for name in ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"):
            web_identity.pop(name)
        before = moto.sts_calls
        _clients(web_identity)
        anchor = "botocore web identity in each process"
        yield Row(f"AWS STS calls, {CLIENTS} client processes", ours, moto.sts_calls - before, anchor, "", count(1))

        url, secret = f"{broker.url}/aws/credentials", broker.secret_file.read_text()
        rate, latencies = asyncio.run(_load(url, secret, CONNECTIONS, LOAD_SECONDS))
        what = f"broker /aws/credentials, {CONNECTIONS} connections for {LOAD_SECONDS:.0f} s"
        note = "throughput: reported, no goal"
        yield Row(f"{what}: requests/s", round(rate), None, "-", "req/s", reported(), note=note)
        yield Row(f"{what}: p50", round(statistics.median(latencies), 2), None, "-", "ms", at_most(2.0))
        yield Row(f"{what}: p99", round(_p(latencies, 0.99), 2), None, "-", "ms", at_most(2.0))
        _, single = asyncio.run(_load(url, secret, 1, 2.0))
        yield Row(
            "broker /aws/credentials, 1 connection: p99", round(_p(single, 0.99), 2), None, "-", "ms", at_most(2.0)
        )
        yield Row("broker RSS after the load", round(broker.rss_mib(), 1), None, "-", "MiB", at_most(80.0))
    finally:
        broker.stop()


def _cli_calls(moto: MotoServer, token: TokenFile, directory: Path, *flags: str) -> int:
    """STS calls of ``CLI_RUNS`` ``aws sts get-caller-identity`` runs through ``credential_process``."""
    process = " ".join([sys.executable, "-m", "cfke_auth", "aws", "credential-process", "--role-arn", ROLE, *flags])
    cli = AwsCli(process, directory, endpoint_url=moto.url, token_path=token.path)
    before = moto.sts_calls
    for _ in range(CLI_RUNS):
        cli.run("sts", "get-caller-identity").check_returncode()
    return moto.sts_calls - before


def rows() -> Iterator[Row]:
    with OidcIssuer() as issuer, MotoServer() as moto, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        token = TokenFile(work / "token", issuer, namespace="bench", audience="sts.amazonaws.com")
        token.rotate()
        yield from _broker_rows(moto, token, work / "broker")
        (work / "cached").mkdir()
        (work / "uncached").mkdir()
        yield Row(
            f"AWS STS calls, {CLI_RUNS} aws sts get-caller-identity through credential-process",
            _cli_calls(moto, token, work / "cached"),
            _cli_calls(moto, token, work / "uncached", "--no-cache"),
            "credential-process --no-cache",
            "",
            count(1),
        )
