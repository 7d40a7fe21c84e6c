"""Role chaining and session policies: web identity into the first role, then ``sts:AssumeRole`` into each hop,
signed with the previous hop's keys. Against moto's server (what a real SDK client sees) and the fake STS, which
verifies every signature with botocore's signer and refuses as STS does."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import time_machine
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import CredentialRetrievalError
from conftest import assert_no_secrets, eventually, run_threads

import cfke_auth
from cfke_auth import ConfigurationError, ExchangeError
from cfke_auth.aws.protocol import StsCredentials, build_hop_request
from cfke_auth.aws.settings import MAX_POLICY_CHARS, RoleHop, resolve
from cfke_auth.aws.sigv4 import sign_form_post
from cfke_auth.cli import main
from cfke_auth.testing import TokenFile
from cfke_auth.testing.aws import AwsCli, FakeSts, MotoServer

pytestmark = [pytest.mark.usefixtures("cfke_aws_env"), pytest.mark.cfke_token(extended=True, namespace="shop")]

ENTRY = "arn:aws:iam::111111111111:role/entry"
TARGET = "arn:aws:iam::222222222222:role/target"
THIRD = "arn:aws:iam::333333333333:role/third"
SESSION = "shop.app-7d9f8-x2x4q"  # NAMESPACE.POD of the test token
POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"


@pytest.fixture
def clock() -> Iterator[time_machine.Coordinates]:
    with time_machine.travel(time.time(), tick=True) as traveller:
        yield traveller


def _session(sts: FakeSts, *chain: Any, **options: Any) -> Any:
    return cfke_auth.get_boto3_session(ENTRY, chain=chain, sts_endpoint_url=sts.url, **options)


# -- the signature ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "token"), [("http://127.0.0.1:8443/", "FwoGsession"), ("https://sts.example/x/", None)]
)
def test_signature_is_botocores(url: str, token: str | None) -> None:
    body = b"Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A222222222222%3Arole%2Ftarget"
    parts = httpx.URL(url)
    headers = sign_form_post(
        host=parts.netloc.decode(), path=parts.path, body=body, content_type="application/x-www-form-urlencoded",
        access_key_id="ASIAEXAMPLE", secret_access_key="secret/key", session_token=token, region="eu-west-1",
        service="sts", now=1_767_225_600.0,
    )  # fmt: skip
    request = AWSRequest("POST", url, data=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    request.context["timestamp"] = headers["X-Amz-Date"]
    for name in ("X-Amz-Date", "X-Amz-Security-Token"):
        if name in headers:
            request.headers[name] = headers[name]
    signer = SigV4Auth(Credentials("ASIAEXAMPLE", "secret/key", token), "sts", "eu-west-1")
    signature = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    assert headers["X-Amz-Date"] == "20260101T000000Z"
    assert headers["Authorization"].endswith(f", Signature={signature}")
    assert ("X-Amz-Security-Token" in headers) == (token is not None)


def _forged(sts: FakeSts, keys: StsCredentials, *, now: float) -> httpx.Response:
    settings = resolve(ENTRY, chain=[TARGET], sts_endpoint_url=sts.url)
    return httpx.Client().send(build_hop_request(settings, keys, "s", sts.url, now=now))


def test_fake_sts_refuses_what_sts_refuses(cfke_token_file: TokenFile, cfke_fake_sts: FakeSts) -> None:
    _session(cfke_fake_sts).get_credentials().get_frozen_credentials()
    issued = cfke_fake_sts.issued[-1]
    good = StsCredentials(
        access_key_id=issued["access_key_id"], secret_access_key=issued["secret_access_key"],
        session_token=issued["session_token"], expires_at=time.time() + 3600,
    )  # fmt: skip
    wrong_secret = StsCredentials(**{**_fields(good), "secret_access_key": "not-the-secret"})
    unknown = StsCredentials(**{**_fields(good), "access_key_id": "ASIAUNKNOWN"})
    assert _forged(cfke_fake_sts, good, now=time.time()).status_code == 200
    for keys, now, code in [
        (wrong_secret, time.time(), "SignatureDoesNotMatch"),
        (good, time.time() - 600, "SignatureDoesNotMatch"),  # signed ten minutes ago
        (unknown, time.time(), "InvalidClientTokenId"),
    ]:
        response = _forged(cfke_fake_sts, keys, now=now)
        assert response.status_code == 403
        assert f"<Code>{code}</Code>" in response.text


def _fields(keys: StsCredentials) -> dict[str, Any]:
    return {name: getattr(keys, name) for name in ("access_key_id", "secret_access_key", "session_token", "expires_at")}


# -- chains end to end ------------------------------------------------------------------------------------------------


def test_chain_on_moto_ends_in_the_last_role(cfke_token_file: TokenFile, cfke_moto: MotoServer) -> None:
    before = (cfke_moto.sts_calls, cfke_moto.assume_role_calls)
    session = cfke_auth.get_boto3_session(
        ENTRY, chain=[TARGET, {"role_arn": THIRD, "external_id": "ext-1234"}], region_name="eu-west-1",
        sts_endpoint_url=cfke_moto.url, policy=POLICY, policy_arns=[READ_ONLY],
    )  # fmt: skip
    identity = session.client("sts", endpoint_url=cfke_moto.url).get_caller_identity()
    assert identity["Arn"] == f"arn:aws:sts::333333333333:assumed-role/third/{SESSION}"
    assert identity["Account"] == "333333333333"
    s3 = session.client("s3", endpoint_url=cfke_moto.url)
    bucket = f"chained-{time.time_ns()}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert (cfke_moto.sts_calls, cfke_moto.assume_role_calls) == (before[0] + 1, before[1] + 2)


async def test_aiobotocore_chain_on_moto(cfke_token_file: TokenFile, cfke_moto: MotoServer) -> None:
    session = cfke_auth.get_aiobotocore_session(
        ENTRY, chain=[TARGET], region_name="us-east-1", sts_endpoint_url=cfke_moto.url
    )
    async with session.create_client("sts", endpoint_url=cfke_moto.url) as sts:
        identity = await sts.get_caller_identity()
    assert identity["Arn"] == f"arn:aws:sts::222222222222:assumed-role/target/{SESSION}"


def test_each_hop_is_signed_with_the_previous_hops_keys(cfke_token_file: TokenFile, cfke_fake_sts: FakeSts) -> None:
    cfke_fake_sts.external_ids[THIRD] = "ext-1234"
    hop = RoleHop(THIRD, external_id="ext-1234", session_name="third-session", policy=POLICY, policy_arns=[READ_ONLY])
    session = _session(cfke_fake_sts, TARGET, hop, region_name="eu-west-1", policy=json.dumps(POLICY, indent=2))
    frozen = session.get_credentials().get_frozen_credentials()
    entry, target, third = cfke_fake_sts.issued
    assert [i["role_arn"] for i in cfke_fake_sts.issued] == [ENTRY, TARGET, THIRD]
    assert (entry["caller"], target["caller"], third["caller"]) == ("", entry["access_key_id"], target["access_key_id"])
    assert (frozen.access_key, frozen.secret_key, frozen.token) == (
        third["access_key_id"], third["secret_access_key"], third["session_token"],
    )  # fmt: skip
    web, first, second = (call.form() for call in cfke_fake_sts.calls)
    minified = json.dumps(POLICY, separators=(",", ":"))
    assert (web["Action"], web["Policy"], "PolicyArns.member.1.arn" in web) == (
        "AssumeRoleWithWebIdentity",
        minified,
        False,
    )
    assert (first["Action"], first["RoleSessionName"], "ExternalId" in first, "Policy" in first) == (
        "AssumeRole", SESSION, False, False,
    )  # fmt: skip
    assert (second["RoleSessionName"], second["ExternalId"]) == ("third-session", "ext-1234")
    assert (second["Policy"], second["PolicyArns.member.1.arn"]) == (minified, READ_ONLY)
    assert "Credential=" + entry["access_key_id"] + "/" in cfke_fake_sts.calls[1].headers["authorization"]
    assert "/eu-west-1/sts/aws4_request" in cfke_fake_sts.calls[1].headers["authorization"]


def test_a_hop_as_arn_mapping_or_roleHop_is_one_credential(cfke_token_file: TokenFile, cfke_fake_sts: FakeSts) -> None:
    sessions = [
        _session(cfke_fake_sts, TARGET),
        _session(cfke_fake_sts, {"role_arn": TARGET}),
        _session(cfke_fake_sts, RoleHop(TARGET)),
    ]
    engines = {id(s.get_credentials().refreshing) for s in sessions}
    assert len(engines) == 1
    sessions[0].get_credentials().get_frozen_credentials()
    longer = _session(cfke_fake_sts, TARGET, THIRD).get_credentials()
    longer.get_frozen_credentials()
    assert [i["role_arn"] for i in cfke_fake_sts.issued] == [ENTRY, TARGET, THIRD]  # the shared hops are not repeated
    assert pickle.loads(pickle.dumps(longer)).refreshing is longer.refreshing


def test_64_threads_cold_make_one_call_per_hop(cfke_token_file: TokenFile, cfke_fake_sts: FakeSts) -> None:
    credentials = _session(cfke_fake_sts, TARGET).get_credentials()
    keys = run_threads(64, lambda: credentials.get_frozen_credentials().access_key, fail=True)
    assert set(keys) == {cfke_fake_sts.issued[-1]["access_key_id"]}
    assert len(cfke_fake_sts.calls) == 2


def test_hops_refresh_on_their_own_schedules(
    cfke_token_file: TokenFile, cfke_fake_sts: FakeSts, clock: time_machine.Coordinates
) -> None:
    credentials = _session(cfke_fake_sts, TARGET).get_credentials()
    first = credentials.get_frozen_credentials()
    clock.shift(0.85 * 3600)  # both hops past their refresh points, both still valid
    assert credentials.get_frozen_credentials() == first  # served at once; the refreshes run behind
    credentials.refreshing.settle()
    eventually(lambda: len(cfke_fake_sts.calls) == 4)
    actions = [call.form()["Action"] for call in cfke_fake_sts.calls]
    assert sorted(actions[2:]) == ["AssumeRole", "AssumeRoleWithWebIdentity"]
    refreshed = credentials.get_frozen_credentials()
    assert refreshed.access_key == next(i for i in cfke_fake_sts.issued[2:] if i["role_arn"] == TARGET)["access_key_id"]
    assert refreshed.access_key != first.access_key


def test_expired_previous_keys_renew_the_previous_hop(
    cfke_token_file: TokenFile, cfke_fake_sts: FakeSts, clock: time_machine.Coordinates
) -> None:
    cfke_fake_sts.fail_with(
        "ExpiredToken", "The security token included in the request is expired", times=1, role_arn=TARGET
    )
    credentials = _session(cfke_fake_sts, TARGET).get_credentials()
    with pytest.raises(ExchangeError) as info:
        credentials.get_frozen_credentials()
    assert (info.value.code, info.value.retryable) == ("ExpiredToken", True)
    assert "expired before STS saw them" in (info.value.hint or "")
    clock.shift(2)  # past the first retry's backoff
    assert credentials.get_frozen_credentials().access_key == cfke_fake_sts.issued[-1]["access_key_id"]
    actions = [call.form()["Action"] for call in cfke_fake_sts.calls]
    assert actions == ["AssumeRoleWithWebIdentity", "AssumeRole", "AssumeRoleWithWebIdentity", "AssumeRole"]


# -- errors name their hop ------------------------------------------------------------------------------------------


def test_a_refused_hop_is_named_with_its_position_and_the_fix(
    cfke_token_file: TokenFile, cfke_fake_sts: FakeSts
) -> None:
    cfke_fake_sts.external_ids[THIRD] = "ext-1234"
    credentials = _session(cfke_fake_sts, TARGET, THIRD).get_credentials()
    with pytest.raises(CredentialRetrievalError) as info:
        credentials.get_frozen_credentials()
    error = info.value
    assert isinstance(error, ExchangeError)
    assert (error.code, error.status, error.retryable) == ("AccessDenied", 403, False)
    assert str(error).startswith(f"aws-sts: AccessDenied: role chain hop 3 ({THIRD}): User: arn:aws:sts::222222222222")
    assert f'for the principal {{"AWS": "{TARGET}"}}' in (error.hint or "")
    assert "give this hop an external_id" in (error.hint or "")
    secrets = [cfke_token_file.token or ""] + [
        i[k] for i in cfke_fake_sts.issued for k in ("secret_access_key", "session_token")
    ]
    assert_no_secrets(secrets, str(error), repr(error), str(pickle.loads(pickle.dumps(error))))


@pytest.mark.parametrize(
    ("role", "position", "code", "hint"),
    [
        (ENTRY, 1, "AccessDenied", "sts:AssumeRoleWithWebIdentity"),
        (TARGET, 2, "MalformedPolicyDocument", "session policy"),
        (TARGET, 2, "PackedPolicyTooLarge", "packed-size limit"),
        (TARGET, 2, "ValidationError", "at most 3600 in a role chain"),
    ],
)
def test_refusals_name_the_hop(
    cfke_token_file: TokenFile, cfke_fake_sts: FakeSts, role: str, position: int, code: str, hint: str
) -> None:
    cfke_fake_sts.fail_with(code, status=403 if code == "AccessDenied" else 400, role_arn=role)
    with pytest.raises(ExchangeError, match=rf"^aws-sts: {code}: role chain hop {position} \({role}\): ") as info:
        _session(cfke_fake_sts, TARGET).get_credentials().get_frozen_credentials()
    assert hint in (info.value.hint or "")


def test_web_identity_policy_refusals_have_hints(cfke_token_file: TokenFile, cfke_fake_sts: FakeSts) -> None:
    cfke_fake_sts.fail_with("MalformedPolicyDocument", "Syntax errors in policy.")
    session = cfke_auth.get_boto3_session(ENTRY, sts_endpoint_url=cfke_fake_sts.url, policy=POLICY)
    with pytest.raises(ExchangeError, match=r"^aws-sts: MalformedPolicyDocument: Syntax errors") as info:
        session.get_credentials().get_frozen_credentials()
    assert "Statement entries with Effect, Action and Resource" in (info.value.hint or "")


# -- bad settings, before any request ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"chain": [TARGET, "arn:aws:iam::1:role/x"]}, r"^chain\[1\]: role_arn 'arn:aws:iam::1:role/x' is not an IAM"),
        ({"chain": [{"role_arn": TARGET, "externalid": "x"}]}, r"^chain\[0\]: unknown keys \['externalid'\]"),
        ({"chain": [{"external_id": "x"}]}, r"^chain\[0\]: a hop needs a role_arn"),
        ({"chain": [{"role_arn": TARGET, "external_id": "x"}]}, r"^chain\[0\]: external_id must be 2-1224"),
        ({"chain": [RoleHop(TARGET), 42]}, r"^chain\[1\]: a hop is a role ARN, a RoleHop or a mapping, not int"),
        ({"chain": TARGET}, r"^chain must be a sequence of hops"),
        ({"chain": [TARGET], "duration_seconds": 7200}, r"at most 3600 s \(1 hour\)"),
        ({"policy": "{not json"}, r"^policy is not valid JSON"),
        ({"policy": "[1, 2]"}, r"^policy must be a JSON object .*not list"),
        ({"policy": {"Statement": "x" * MAX_POLICY_CHARS}}, r"^policy is 2064 characters as minified JSON; STS"),
        ({"policy": {"Sid": "\u20ac"}}, r"^policy holds characters STS does not accept"),
        ({"policy_arns": READ_ONLY}, r"^policy_arns must be a sequence of policy ARNs"),
        ({"policy_arns": [READ_ONLY] * 11}, r"^policy_arns has 11 ARNs; STS accepts at most 10"),
        ({"policy_arns": [TARGET]}, r"^policy_arns entry .* is not an IAM policy ARN"),
        ({"chain": [{"role_arn": TARGET, "policy": "{}", "policy_arns": ["x"]}]}, r"^chain\[0\]: policy_arns entry"),
        ({"chain": [{"role_arn": TARGET, "session_name": "a b"}]}, r"^chain\[0\]: session_name 'a b' is not a valid"),
    ],
)
def test_bad_chains_and_policies_are_refused_before_any_request(
    cfke_token_file: TokenFile, cfke_fake_sts: FakeSts, options: dict[str, Any], match: str
) -> None:
    with pytest.raises(ConfigurationError, match=match):
        cfke_auth.get_boto3_session(ENTRY, sts_endpoint_url=cfke_fake_sts.url, **options)
    assert cfke_fake_sts.calls == []


def test_the_policy_limit_is_on_minified_json() -> None:
    padded = json.dumps({"Sid": "x" * (MAX_POLICY_CHARS - 10)}, indent=8)  # 2048 minified, more as written
    assert len(padded) > MAX_POLICY_CHARS
    assert resolve(ENTRY, sts_endpoint_url="https://sts.example", policy=padded).policy == json.dumps(
        json.loads(padded), separators=(",", ":")
    )


# -- the command line -------------------------------------------------------------------------------------------------


def test_credential_process_chain_with_per_hop_options(
    cfke_token_file: TokenFile, cfke_fake_sts: FakeSts, tmp_path: Path
) -> None:
    cfke_fake_sts.external_ids[TARGET] = "ext-1234"
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(json.dumps(POLICY, indent=2))
    code = (
        "import sys; from cfke_auth.cli import main; status = main(sys.argv[1:]); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')), file=sys.stderr); "
        "sys.exit(status)"
    )
    argv = [
        "aws", "credential-process", "--role-arn", ENTRY, "--sts-endpoint-url", cfke_fake_sts.url,
        "--policy-arn", READ_ONLY, "--chain", TARGET, "--external-id", "ext-1234", "--policy", f"file://{policy_file}",
        "--chain", THIRD, "--policy-arn", READ_ONLY, "--policy-arn", "arn:aws:iam::333333333333:policy/narrow",
    ]  # fmt: skip
    result = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "[]"  # neither boto3 nor botocore: the signer is cfke-auth's own
    assert json.loads(result.stdout)["AccessKeyId"] == cfke_fake_sts.issued[-1]["access_key_id"]
    web, target, third = (call.form() for call in cfke_fake_sts.calls)
    assert (web["PolicyArns.member.1.arn"], "Policy" in web, "ExternalId" in web) == (READ_ONLY, False, False)
    assert (target["ExternalId"], json.loads(target["Policy"]), "PolicyArns.member.1.arn" in target) == (
        "ext-1234", POLICY, False,
    )  # fmt: skip
    assert [third.get(f"PolicyArns.member.{n}.arn") for n in (1, 2)] == [
        READ_ONLY,
        "arn:aws:iam::333333333333:policy/narrow",
    ]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--external-id", "ext-1234", "--chain", TARGET], "--external-id belongs to a hop of the chain"),
        (["--chain", TARGET, "--policy", "{}", "--policy", "{}"], "--policy is given twice for one role"),
        (["--chain", TARGET, "--duration", "7200"], "at most 3600 s (1 hour)"),
        (["--chain", "arn:aws:iam::1:role/x"], "chain[0]: role_arn"),
        (["--policy", "file:///nonexistent/policy.json"], "cannot read /nonexistent/policy.json"),
    ],
)
def test_credential_process_bad_chain_arguments_exit_2(
    cfke_token_file: TokenFile,
    cfke_fake_sts: FakeSts,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    argv = ["aws", "credential-process", "--role-arn", ENTRY, "--sts-endpoint-url", cfke_fake_sts.url, *extra]
    try:
        status = main(argv)
    except SystemExit as exit_:  # argparse's own errors
        status = int(exit_.code or 0)
    assert status == 2
    assert message in capsys.readouterr().err
    assert cfke_fake_sts.calls == []


def test_aws_cli_runs_a_chained_credential_process_against_moto(
    cfke_token_file: TokenFile, cfke_moto: MotoServer, tmp_path: Path
) -> None:
    process = (
        f"{Path(sys.executable).parent / 'cfke-auth'} aws credential-process --role-arn {ENTRY} "
        f"--chain {TARGET} --external-id ext-1234 --policy-arn {READ_ONLY}"
    )
    cli = AwsCli(process, tmp_path, endpoint_url=cfke_moto.url, token_path=cfke_token_file.path)
    before = cfke_moto.assume_role_calls
    result = cli.run("sts", "get-caller-identity")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["Arn"] == f"arn:aws:sts::222222222222:assumed-role/target/{SESSION}"
    assert cfke_moto.assume_role_calls == before + 1
