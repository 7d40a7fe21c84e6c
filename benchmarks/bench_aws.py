"""AWS figures, each beside botocore's own web-identity provider (``AWS_ROLE_ARN`` + ``AWS_WEB_IDENTITY_TOKEN_FILE``)
on the same moto server in the same run: the hot path, the first credentials of a process, STS calls under a
64-thread stampede, calls failing during an STS outage, and ``credential-process`` against ``aws sts``. A two-role
chain (web identity, then ``AssumeRole``) is measured beside botocore's own chaining: a config profile with
``role_arn`` + ``source_profile`` whose source profile has ``role_arn`` + ``web_identity_token_file``."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import time_machine
from harness import Row, at_most, count, per_call_us, ratio, settle

import cfke_auth
from cfke_auth.testing import OidcIssuer, TokenFile
from cfke_auth.testing.aws import MotoServer

ROLE = "arn:aws:iam::123456789012:role/bench"
CHAINED = "arn:aws:iam::210987654321:role/bench-chained"
BIN = Path(sys.executable).parent
RUNS = 7

# A process that has imported boto3 asks for its first credentials (printed in ms); argv[1] picks the side.
FIRST_CREDENTIALS = """
import sys, time
import boto3
import cfke_auth
start = time.perf_counter()
if sys.argv[1] == "ours":
    session = cfke_auth.get_boto3_session(sys.argv[2], sts_endpoint_url=sys.argv[3])
else:
    session = boto3.Session()
session.get_credentials().get_frozen_credentials()
print((time.perf_counter() - start) * 1e3)
"""


class Bench:
    """The shared setup: a token file, moto, and the environment botocore's provider reads."""

    def __init__(self, moto: MotoServer, token_file: TokenFile, directory: str) -> None:
        self.moto = moto
        self.token_file = token_file
        empty = Path(directory) / "empty-credentials"
        empty.write_text("")
        config = Path(directory) / "config"  # no default profile: botocore's web identity reads the environment
        config.write_text(
            f"[profile bench-entry]\nrole_arn = {ROLE}\nweb_identity_token_file = {token_file.path}\n"
            "role_session_name = botocore-entry\nregion = us-east-1\n"
            f"[profile bench-chained]\nrole_arn = {CHAINED}\nsource_profile = bench-entry\n"
            "role_session_name = botocore-chained\nregion = us-east-1\n"
        )
        self.env = {
            **os.environ,
            "AWS_ROLE_ARN": ROLE,
            "AWS_ROLE_SESSION_NAME": "botocore-bench",
            "AWS_WEB_IDENTITY_TOKEN_FILE": token_file.path,
            "AWS_ENDPOINT_URL_STS": moto.url,
            "AWS_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(config),
            "AWS_SHARED_CREDENTIALS_FILE": str(empty),
        }
        self._fresh = 0

    def ours(self, *chain: str) -> Any:
        """Fresh cfke-auth credentials (a new session name, so no earlier credential is shared), for ``ROLE`` or
        the chain from it."""
        self._fresh += 1
        session = cfke_auth.get_boto3_session(
            ROLE, chain=chain, sts_endpoint_url=self.moto.url, session_name=f"bench-{self._fresh}",
            token_path=self.token_file.path,
        )  # fmt: skip
        return session.get_credentials()

    def botocore(self, profile: str | None = None) -> Any:
        """Fresh botocore credentials: web identity configured from the environment (see :func:`rows`), or the
        config profile ``profile``."""
        import boto3

        return boto3.Session(profile_name=profile).get_credentials()

    def _exchanges(self) -> int:
        return self.moto.sts_calls + self.moto.assume_role_calls

    def calls_during(self, action: Callable[[], object]) -> int:
        """STS exchanges (web identity and ``AssumeRole``) made while ``action`` runs."""
        before = self._exchanges()
        action()
        return self._exchanges() - before


def _stampede(credentials: Any, threads: int = 64) -> None:
    barrier = threading.Barrier(threads)

    def work() -> None:
        barrier.wait()
        credentials.get_frozen_credentials()

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def _cold(bench: Bench, credentials: Any) -> int:
    return bench.calls_during(lambda: _stampede(credentials))


def _at_expiry(bench: Bench, credentials: Any) -> int:
    credentials.get_frozen_credentials()
    with time_machine.travel(time.time() + 3600 + 5, tick=True):
        bench.token_file.rotate()  # the kubelet kept rotating meanwhile
        return bench.calls_during(lambda: _stampede(credentials))


def _outage_failures(bench: Bench, credentials: Any, step: float = 30.0) -> tuple[int, int]:
    """Failed calls out of calls, one every ``step`` s from 600 s to 60 s before expiry, while STS answers 503."""
    credentials.get_frozen_credentials()
    expiry = time.time() + 3600
    failed = calls = 0
    with time_machine.travel(expiry - 600, tick=False) as clock, bench.moto.sts_outage():
        bench.token_file.rotate()
        while time.time() < expiry - 60:
            calls += 1
            try:
                credentials.get_frozen_credentials()
            except Exception:
                failed += 1
            settle(credentials)
            clock.shift(step)
    return failed, calls


def _worst_call_across_refresh(bench: Bench, credentials: Any, threads: int = 16) -> float:
    """The slowest single ``get_frozen_credentials()`` (ms) of ``threads`` threads signing requests for 2 s from the
    refresh point on (48 minutes into an hour's credentials: past ours, inside botocore's advisory 15 minutes),
    while STS answers 300 ms late."""
    credentials.get_frozen_credentials()
    worst = [0.0] * threads
    with time_machine.travel(time.time() + 48 * 60, tick=True), bench.moto.sts_latency(0.3):
        bench.token_file.rotate()
        start = threading.Barrier(threads)
        until = time.monotonic() + 2.0

        def work(i: int) -> None:
            start.wait()
            while time.monotonic() < until:
                began = time.perf_counter()
                credentials.get_frozen_credentials()
                worst[i] = max(worst[i], time.perf_counter() - began)
                time.sleep(0.002)  # a request's own work between signatures: no busy loop starving the others

        workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        settle(credentials)
    return max(worst) * 1e3


def _medians(samples: list[list[float]]) -> list[float]:
    return [statistics.median(column) for column in zip(*samples, strict=True)]


def _interleaved(ours: Callable[[], list[float]], theirs: Callable[[], list[float]]) -> tuple[list[float], list[float]]:
    """Medians of ``RUNS`` samples of each side, the sides alternating so that load from other processes on the
    machine falls on both alike. Each call returns one sample of one or more figures."""
    our_samples, their_samples = [], []
    for _ in range(RUNS):
        our_samples.append(ours())
        their_samples.append(theirs())
    return _medians(our_samples), _medians(their_samples)


def _first_credentials(bench: Bench, side: str) -> list[float]:
    argv = [sys.executable, "-c", FIRST_CREDENTIALS, side, ROLE, bench.moto.url]
    return [float(subprocess.run(argv, env=bench.env, capture_output=True, text=True, check=True).stdout)]


# Runs argv[1:] and prints its wall seconds and peak RSS (KiB). A small launcher, because a child forked from the
# bench process would report the bench's own (moto-sized) peak RSS as its starting point.
LAUNCHER = """
import os, subprocess, sys, time
start = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(proc.pid, 0)
proc.returncode = os.waitstatus_to_exitcode(status)
print(time.perf_counter() - start, usage.ru_maxrss, proc.returncode)
"""


def _process(argv: list[str], env: dict[str, str]) -> list[float]:
    """Wall seconds and peak RSS (MiB) of running ``argv`` to completion."""
    launched = [sys.executable, "-c", LAUNCHER, *argv]
    seconds, rss, status = subprocess.run(launched, env=env, capture_output=True, text=True, check=True).stdout.split()
    if status != "0":
        raise RuntimeError(f"{argv[0]} exited with {status}")
    return [float(seconds), float(rss) / 1024]


def _cli_rows(bench: Bench) -> Iterator[Row]:
    ours = [str(BIN / "cfke-auth"), "aws", "credential-process", "--no-cache", "--role-arn", ROLE]  # an exchange each
    ours += ["--sts-endpoint-url", bench.moto.url]
    env = {k: v for k, v in bench.env.items() if not k.startswith("AWS_ROLE") and k != "AWS_WEB_IDENTITY_TOKEN_FILE"}
    env["CFKE_TOKEN_FILE"] = bench.token_file.path
    token = bench.token_file.token or ""
    theirs = [str(BIN / "aws"), "sts", "assume-role-with-web-identity", "--role-arn", ROLE]
    theirs += ["--role-session-name", "cli-bench", "--web-identity-token", token, "--endpoint-url", bench.moto.url]
    (our_time, our_rss), (their_time, their_rss) = _interleaved(
        lambda: _process(ours, env), lambda: _process(theirs, env)
    )
    anchor = "aws sts assume-role-with-web-identity"
    yield Row("credential-process, whole process", round(our_time, 3), round(their_time, 3), anchor, "s", ratio(0.4))
    yield Row("credential-process, peak RSS", round(our_rss, 1), round(their_rss, 1), anchor, "MiB", ratio(0.4))


def rows() -> Iterator[Row]:
    with OidcIssuer() as issuer, MotoServer() as moto, tempfile.TemporaryDirectory() as tmp:
        token_file = TokenFile(tmp, issuer, namespace="bench", audience="sts.amazonaws.com")
        token_file.rotate()
        bench = Bench(moto, token_file, tmp)
        anchor = "botocore web identity"
        saved = dict(os.environ)
        os.environ.update(bench.env)  # botocore reads it when it first loads credentials; ours get arguments
        try:
            yield from _compare(bench, anchor)
        finally:
            os.environ.clear()
            os.environ.update(saved)


def _chain_rows(bench: Bench) -> Iterator[Row]:
    anchor = "botocore source_profile chain"
    ours, theirs = bench.ours(CHAINED), bench.botocore("bench-chained")
    ours.get_frozen_credentials()
    theirs.get_frozen_credentials()
    yield Row(
        "AWS 2-role chain get_frozen_credentials(), hot",
        per_call_us(ours.get_frozen_credentials),
        per_call_us(theirs.get_frozen_credentials, calls=50_000),
        anchor,
        "us",
        ratio(0.2),
    )
    yield Row(
        "AWS STS calls, 64 threads, cold, 2-role chain",
        _cold(bench, bench.ours(CHAINED)),
        _cold(bench, bench.botocore("bench-chained")),
        anchor,
        "",
        count(2),
    )


def _compare(bench: Bench, anchor: str) -> Iterator[Row]:

    ours, theirs = bench.ours(), bench.botocore()
    ours.get_frozen_credentials()
    theirs.get_frozen_credentials()
    yield Row(
        "AWS get_frozen_credentials(), hot",
        per_call_us(ours.get_frozen_credentials),
        per_call_us(theirs.get_frozen_credentials, calls=50_000),
        anchor,
        "us",
        ratio(0.2),
    )
    (ours_ms,), (theirs_ms,) = _interleaved(
        lambda: _first_credentials(bench, "ours"), lambda: _first_credentials(bench, "botocore")
    )
    yield Row(
        "AWS first credentials, boto3 already imported",
        round(ours_ms, 1),
        round(theirs_ms, 1),
        anchor,
        "ms",
        ratio(0.25),
    )
    yield Row(
        "AWS STS calls, 64 threads, cold",
        _cold(bench, bench.ours()),
        _cold(bench, bench.botocore()),
        anchor,
        "",
        count(1),
    )
    yield Row(
        "AWS STS calls, 64 threads at expiry",
        _at_expiry(bench, bench.ours()),
        _at_expiry(bench, bench.botocore()),
        anchor,
        "",
        count(1),
    )
    yield Row(
        "AWS worst get_frozen_credentials() across the refresh point, 16 threads, STS 300 ms",
        round(_worst_call_across_refresh(bench, bench.ours()), 2),
        round(_worst_call_across_refresh(bench, bench.botocore()), 2),
        anchor,
        "ms",
        at_most(10),
    )
    yield from _chain_rows(bench)
    our_failed, calls = _outage_failures(bench, bench.ours())
    os.environ["AWS_MAX_ATTEMPTS"] = "1"  # every retry would fail too: spare the bench botocore's retry sleeps
    their_failed, _ = _outage_failures(bench, bench.botocore())
    yield Row(
        f"AWS calls failing in an STS outage, 600-60 s before expiry (of {calls})",
        our_failed,
        their_failed,
        anchor,
        "",
        count(0),
    )
    yield from _cli_rows(bench)
