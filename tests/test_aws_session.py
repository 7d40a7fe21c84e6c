"""get_boto3_session / get_aiobotocore_session end to end: moto's real server for S3 and STS, the fake STS for
what moto cannot show (call counts across expiry, outages). The clock is moved with time_machine."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from conftest import run_threads

import cfke_auth
from cfke_auth import ExchangeError
from cfke_auth.testing import TokenFile
from cfke_auth.testing.aws import FakeSts, MotoServer

pytestmark = [pytest.mark.usefixtures("cfke_aws_env"), pytest.mark.cfke_token(extended=True, namespace="shop")]

ROLE = "arn:aws:iam::123456789012:role/app"
_KEY_IN_AUTH = re.compile(r"Credential=(\w+)/")


@pytest.fixture
def clock() -> Iterator[time_machine.Coordinates]:
    with time_machine.travel(time.time(), tick=True) as traveller:
        yield traveller


def _bucket(name: str) -> str:
    return f"{name}-{time.time_ns()}"


def test_boto3_session_creates_and_lists_buckets_on_moto(cfke_token_file: TokenFile, cfke_moto: MotoServer) -> None:
    session = cfke_auth.get_boto3_session(ROLE, region_name="us-east-1", sts_endpoint_url=cfke_moto.url)
    s3 = session.client("s3", endpoint_url=cfke_moto.url)
    name = _bucket("boto3")
    s3.create_bucket(Bucket=name)
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    sts = session.client("sts", endpoint_url=cfke_moto.url)
    assert sts.get_caller_identity()["Arn"] == "arn:aws:sts::123456789012:assumed-role/app/shop.app-7d9f8-x2x4q"
    assert session.region_name == "us-east-1"
    assert session.get_credentials().method == "cfke-auth-web-identity"


async def test_aiobotocore_session_creates_and_lists_buckets_on_moto(
    cfke_token_file: TokenFile, cfke_moto: MotoServer
) -> None:
    from aiobotocore.credentials import AioRefreshableCredentials

    session = cfke_auth.get_aiobotocore_session(ROLE, region_name="eu-west-1", sts_endpoint_url=cfke_moto.url)
    credentials = await session.get_credentials()
    assert isinstance(credentials, AioRefreshableCredentials)
    name = _bucket("aio")
    async with session.create_client("s3", endpoint_url=cfke_moto.url) as s3:
        await s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        listed = await s3.list_buckets()
    assert name in [b["Name"] for b in listed["Buckets"]]
    frozen = await credentials.get_frozen_credentials()
    assert frozen.access_key.startswith("ASIA")
    assert await credentials.get_access_key() == frozen.access_key
    assert not credentials.refresh_needed()


def test_parameters_from_the_environment(
    cfke_token_file: TokenFile, cfke_fake_sts: FakeSts, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ROLE_ARN", ROLE)
    monkeypatch.setenv("AWS_ROLE_SESSION_NAME", "env-session")
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", cfke_fake_sts.url)
    session = cfke_auth.get_boto3_session()
    assert session.region_name == "eu-central-1"
    session.get_credentials().get_frozen_credentials()
    form = cfke_fake_sts.calls[-1].form()
    assert (form["RoleArn"], form["RoleSessionName"]) == (ROLE, "env-session")


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        ({"role_arn": "arn:aws:iam::1:role/x"}, "role_arn"),
        ({"duration_seconds": 60}, "duration_seconds"),
        ({"session_name": "bad name"}, "session_name"),
        ({"region_name": "mars"}, "region"),
        ({"sts_endpoint_url": "http://sts.example.com"}, "STS endpoint"),
    ],
)
def test_bad_arguments_fail_before_any_request(
    cfke_token_file: TokenFile, cfke_fake_sts: FakeSts, kwargs: dict[str, Any], word: str
) -> None:
    kwargs = {"role_arn": ROLE, "sts_endpoint_url": cfke_fake_sts.url, **kwargs}
    with pytest.raises(ValueError, match=word):
        cfke_auth.get_boto3_session(**kwargs)
    with pytest.raises(ValueError, match=word):
        cfke_auth.get_aiobotocore_session(**kwargs)
    assert cfke_fake_sts.calls == []


def test_same_parameters_share_one_credential(cfke_token_file: TokenFile, cfke_fake_sts: FakeSts) -> None:
    keys = {
        cfke_auth.get_boto3_session(ROLE, sts_endpoint_url=cfke_fake_sts.url)
        .get_credentials()
        .get_frozen_credentials()
        .access_key
        for _ in range(20)
    }
    assert len(keys) == 1
    assert len(cfke_fake_sts.calls) == 1
    other = cfke_auth.get_boto3_session(ROLE, sts_endpoint_url=cfke_fake_sts.url, session_name="other")
    assert other.get_credentials().get_frozen_credentials().access_key not in keys
    assert len(cfke_fake_sts.calls) == 2


def test_clients_sign_with_refreshed_keys_across_expiry(
    cfke_token_file: TokenFile, cfke_fake_sts: FakeSts, cfke_moto: MotoServer, clock: time_machine.Coordinates
) -> None:
    session = cfke_auth.get_boto3_session(ROLE, region_name="us-east-1", sts_endpoint_url=cfke_fake_sts.url)
    s3 = session.client("s3", endpoint_url=cfke_moto.url)
    signed: list[str] = []

    def record(request: Any, **_: Any) -> None:
        match = _KEY_IN_AUTH.search(request.headers["Authorization"].decode())
        assert match is not None
        signed.append(match.group(1))

    s3.meta.events.register("before-send.s3.ListBuckets", record)
    s3.list_buckets()
    clock.shift(3700)  # past the first credentials' expiry
    cfke_token_file.rotate()  # the kubelet keeps rotating the token meanwhile
    s3.list_buckets()
    clock.shift(3700)
    cfke_token_file.rotate()
    s3.list_buckets()
    issued = [c["access_key_id"] for c in cfke_fake_sts.issued]
    assert signed == issued
    assert len(set(issued)) == 3


def test_token_rotation_is_picked_up_at_the_next_exchange(
    cfke_token_file: TokenFile, cfke_fake_sts: FakeSts, clock: time_machine.Coordinates
) -> None:
    credentials = cfke_auth.get_boto3_session(ROLE, sts_endpoint_url=cfke_fake_sts.url).get_credentials()
    credentials.get_frozen_credentials()
    first = cfke_token_file.token
    clock.shift(60)
    second = cfke_token_file.rotate()
    credentials.get_frozen_credentials()
    assert len(cfke_fake_sts.calls) == 1  # no exchange just because the token changed
    clock.shift(3000)  # past the refresh point
    credentials.get_frozen_credentials()
    assert credentials.refreshing.settle()
    assert [c.form()["WebIdentityToken"] for c in cfke_fake_sts.calls] == [first, second]


def test_refresh_starts_ahead_of_expiry(
    cfke_token_file: TokenFile, cfke_fake_sts: FakeSts, clock: time_machine.Coordinates
) -> None:
    credentials = cfke_auth.get_boto3_session(ROLE, sts_endpoint_url=cfke_fake_sts.url).get_credentials()
    first = credentials.get_frozen_credentials().access_key
    clock.shift(3600 * 0.70)
    assert credentials.get_frozen_credentials().access_key == first
    clock.shift(3600 * 0.12)  # 82 %: past the jittered 75-80 % refresh point, an hour's credentials still valid
    assert credentials.get_frozen_credentials().access_key == first  # served at once; the refresh runs behind
    assert credentials.refreshing.settle()
    assert credentials.get_frozen_credentials().access_key != first
    assert len(cfke_fake_sts.calls) == 2


def _hammer(credentials: Any, threads: int) -> list[str]:
    """Every thread's access key, from ``threads`` threads released together; none may fail."""
    return run_threads(threads, lambda: credentials.get_frozen_credentials().access_key, fail=True)


def test_64_threads_cold_make_one_sts_call(cfke_token_file: TokenFile, cfke_fake_sts: FakeSts) -> None:
    credentials = cfke_auth.get_boto3_session(ROLE, sts_endpoint_url=cfke_fake_sts.url).get_credentials()
    keys = _hammer(credentials, 64)
    assert len(cfke_fake_sts.calls) == 1
    assert set(keys) == {cfke_fake_sts.issued[0]["access_key_id"]}


def test_64_threads_at_expiry_make_one_sts_call(
    cfke_token_file: TokenFile, cfke_fake_sts: FakeSts, clock: time_machine.Coordinates
) -> None:
    credentials = cfke_auth.get_boto3_session(ROLE, sts_endpoint_url=cfke_fake_sts.url).get_credentials()
    credentials.get_frozen_credentials()
    clock.shift(3600 + 5)
    keys = _hammer(credentials, 64)
    assert len(cfke_fake_sts.calls) == 2
    assert set(keys) == {cfke_fake_sts.issued[1]["access_key_id"]}


async def test_64_tasks_at_expiry_make_one_sts_call(
    cfke_token_file: TokenFile, cfke_fake_sts: FakeSts, clock: time_machine.Coordinates
) -> None:
    session = cfke_auth.get_aiobotocore_session(ROLE, sts_endpoint_url=cfke_fake_sts.url)
    credentials = await session.get_credentials()
    await credentials.get_frozen_credentials()
    clock.shift(3600 + 5)
    frozen = await asyncio.gather(*(credentials.get_frozen_credentials() for _ in range(64)))
    assert len(cfke_fake_sts.calls) == 2
    assert {f.access_key for f in frozen} == {cfke_fake_sts.issued[1]["access_key_id"]}


def test_sts_outage_while_credentials_are_valid_fails_no_call(
    cfke_token_file: TokenFile, cfke_fake_sts: FakeSts, clock: time_machine.Coordinates
) -> None:
    credentials = cfke_auth.get_boto3_session(ROLE, sts_endpoint_url=cfke_fake_sts.url).get_credentials()
    first = credentials.get_frozen_credentials().access_key
    clock.shift(3600 * 0.8)  # refresh due
    failed = 0
    with cfke_fake_sts.server.outage(503):
        for _ in range(60):  # the rest of the credentials' life, up to the safety margin
            try:
                assert credentials.get_frozen_credentials().access_key == first
            except ExchangeError:
                failed += 1
            assert credentials.refreshing.settle()  # the background attempt this call may have started is over
            clock.shift(10)
        attempts = len(cfke_fake_sts.calls)
    assert failed == 0
    assert attempts > 2  # refreshes were tried, with backoff, not once per call
    assert attempts < 60
    clock.shift(120)
    assert credentials.get_frozen_credentials().access_key != first


def test_nothing_valid_left_raises_the_sts_error(
    cfke_token_file: TokenFile, cfke_fake_sts: FakeSts, clock: time_machine.Coordinates
) -> None:
    credentials = cfke_auth.get_boto3_session(ROLE, sts_endpoint_url=cfke_fake_sts.url).get_credentials()
    credentials.get_frozen_credentials()
    clock.shift(3600)
    cfke_fake_sts.fail_with("AccessDenied", status=403)
    with pytest.raises(ExchangeError) as info:
        credentials.get_frozen_credentials()
    assert info.value.code == "AccessDenied"


def test_no_secret_in_reprs_errors_or_logs(
    cfke_token_file: TokenFile,
    cfke_fake_sts: FakeSts,
    clock: time_machine.Coordinates,
    caplog: pytest.LogCaptureFixture,
) -> None:
    session = cfke_auth.get_boto3_session(ROLE, sts_endpoint_url=cfke_fake_sts.url)
    credentials = session.get_credentials()
    frozen = credentials.get_frozen_credentials()
    clock.shift(3600 * 0.85)
    caplog.set_level(logging.DEBUG)
    with cfke_fake_sts.server.outage(503):
        credentials.get_frozen_credentials()  # starts the refresh that fails, and logs
        assert credentials.refreshing.settle()
    clock.shift(3600)
    cfke_fake_sts.fail_with("InvalidIdentityToken", status=400)
    with pytest.raises(ExchangeError) as info:
        credentials.get_frozen_credentials()
    text = " ".join([repr(credentials), repr(session), str(info.value), repr(info.value), caplog.text])
    assert "refresh failed" in caplog.text
    for secret in (cfke_token_file.token, frozen.secret_key, frozen.token):
        assert secret
        assert secret not in text


def test_credentials_expose_botocore_properties(cfke_token_file: TokenFile, cfke_fake_sts: FakeSts) -> None:
    credentials = cfke_auth.get_boto3_session(ROLE, sts_endpoint_url=cfke_fake_sts.url).get_credentials()
    frozen = credentials.get_frozen_credentials()
    issued = cfke_fake_sts.issued[-1]
    assert (credentials.access_key, credentials.secret_key, credentials.token) == (
        issued["access_key_id"],
        issued["secret_access_key"],
        issued["session_token"],
    )
    assert credentials.account_id == frozen.account_id == "123456789012"
    assert credentials.get_frozen_credentials() is frozen  # built once per issued value


async def test_async_credentials_getters(cfke_token_file: TokenFile, cfke_fake_sts: FakeSts) -> None:
    credentials = await cfke_auth.get_aiobotocore_session(ROLE, sts_endpoint_url=cfke_fake_sts.url).get_credentials()
    issued_keys = (
        await credentials.get_access_key(),
        await credentials.get_secret_key(),
        await credentials.get_token(),
        await credentials.get_account_id(),
    )
    issued = cfke_fake_sts.issued[-1]
    expected = (issued["access_key_id"], issued["secret_access_key"], issued["session_token"], "123456789012")
    assert issued_keys == expected
    assert len(cfke_fake_sts.calls) == 1
    assert issued["secret_access_key"] not in repr(credentials)


async def test_async_refresh_needed_answers_from_the_engine(
    cfke_token_file: TokenFile, cfke_fake_sts: FakeSts, clock: time_machine.Coordinates
) -> None:
    credentials = await cfke_auth.get_aiobotocore_session(ROLE, sts_endpoint_url=cfke_fake_sts.url).get_credentials()
    assert credentials.refresh_needed()  # nothing held yet
    await credentials.get_frozen_credentials()
    assert not credentials.refresh_needed()
    assert credentials.refresh_needed(3600 + 60)
    clock.shift(3600 - 600)  # 10 minutes left: inside botocore's default (advisory) 15
    assert credentials.refresh_needed()
    assert not credentials.refresh_needed(300)
    assert len(cfke_fake_sts.calls) == 1  # asking never exchanges


def test_forked_child_keeps_serving_the_credentials(cfke_token_file: TokenFile, cfke_fake_sts: FakeSts) -> None:
    credentials = cfke_auth.get_boto3_session(ROLE, sts_endpoint_url=cfke_fake_sts.url).get_credentials()
    key = credentials.get_frozen_credentials().access_key
    pid = os.fork()
    if pid == 0:  # child: same credentials, no exchange, then leave without running pytest's teardown
        ok = credentials.get_frozen_credentials().access_key == key
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert len(cfke_fake_sts.calls) == 1


def test_credentials_pickle_as_their_settings(cfke_token_file: TokenFile, cfke_fake_sts: FakeSts) -> None:
    """multiprocessing and friends pickle what they are given: the settings travel, never the keys."""
    import pickle

    credentials = cfke_auth.get_boto3_session(ROLE, sts_endpoint_url=cfke_fake_sts.url).get_credentials()
    frozen = credentials.get_frozen_credentials()
    data = pickle.dumps(credentials)
    assert frozen.secret_key.encode() not in data and frozen.token.encode() not in data
    copy = pickle.loads(data)
    assert copy.get_frozen_credentials().access_key == frozen.access_key  # one process: the same engine
    assert len(cfke_fake_sts.calls) == 1
