"""``cfke-auth aws``: credential-process (also as the AWS CLI's credential_process against moto), whoami and
trust-policy, run as real processes."""

from __future__ import annotations

import calendar
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cfke_auth.cli import main
from cfke_auth.testing import TokenFile
from cfke_auth.testing.aws import AwsCli, FakeSts, MotoServer

pytestmark = [pytest.mark.usefixtures("cfke_aws_env"), pytest.mark.cfke_token(audience="sts.amazonaws.com")]

ROLE = "arn:aws:iam::123456789012:role/app"
BIN = Path(sys.executable).parent


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``cfke-auth ARGS...`` in a process of its own, with this test's environment plus ``env``."""
    command = [sys.executable, "-m", "cfke_auth", *args]
    return subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=120, check=False
    )


def test_credential_process_prints_version_1_json(cfke_token_file: TokenFile, cfke_fake_sts: FakeSts) -> None:
    result = _cli("aws", "credential-process", "--role-arn", ROLE, "--sts-endpoint-url", cfke_fake_sts.url)
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    issued = cfke_fake_sts.issued[-1]
    assert output == {
        "Version": 1,
        "AccessKeyId": issued["access_key_id"],
        "SecretAccessKey": issued["secret_access_key"],
        "SessionToken": issued["session_token"],
        "Expiration": output["Expiration"],
    }
    expires = calendar.timegm(time.strptime(output["Expiration"], "%Y-%m-%dT%H:%M:%SZ"))
    assert 3500 < expires - time.time() <= 3600


def test_credential_process_passes_options(cfke_token_file: TokenFile, cfke_fake_sts: FakeSts) -> None:
    result = _cli(
        "aws",
        "credential-process",
        "--region",
        "eu-central-1",
        "--session-name",
        "cli-session",
        "--duration",
        "1800",
        env={"AWS_ROLE_ARN": ROLE, "AWS_ENDPOINT_URL_STS": cfke_fake_sts.url},
    )
    assert result.returncode == 0, result.stderr
    form = cfke_fake_sts.calls[-1].form()
    assert (form["RoleArn"], form["RoleSessionName"], form["DurationSeconds"]) == (ROLE, "cli-session", "1800")


def test_credential_process_imports_no_aws_sdk(cfke_token_file: TokenFile, cfke_fake_sts: FakeSts) -> None:
    code = (
        "import sys; from cfke_auth.cli import main; "
        f"status = main(['aws', 'credential-process', '--role-arn', '{ROLE}', "
        f"'--sts-endpoint-url', '{cfke_fake_sts.url}']); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', 'aiobotocore')), "
        "file=sys.stderr); sys.exit(status)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "[]"


def test_credential_process_errors_are_one_line_without_secrets(
    cfke_token_file: TokenFile, cfke_fake_sts: FakeSts
) -> None:
    cfke_fake_sts.fail_with("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity", 403)
    result = _cli("aws", "credential-process", "--role-arn", ROLE, "--sts-endpoint-url", cfke_fake_sts.url)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("cfke-auth: aws-sts: AccessDenied: Not authorized")
    assert "hint: the trust policy" in result.stderr
    assert "Traceback" not in result.stderr
    assert cfke_token_file.token
    assert cfke_token_file.token not in result.stderr


def test_credential_process_bad_arguments_exit_2(cfke_token_file: TokenFile) -> None:
    assert main(["aws", "credential-process", "--role-arn", "arn:aws:iam::1:role/x"]) == 2
    assert main(["aws", "credential-process", "--role-arn", ROLE, "--duration", "100"]) == 2


def test_aws_cli_uses_credential_process_against_moto(
    cfke_token_file: TokenFile, cfke_moto: MotoServer, tmp_path: Path
) -> None:
    bucket = f"cli-{time.time_ns()}"
    subprocess.run(
        [
            sys.executable,
            "-c",
            f"import boto3; boto3.client('s3', endpoint_url='{cfke_moto.url}', region_name="
            f"'us-east-1', aws_access_key_id='x', aws_secret_access_key='y').create_bucket(Bucket='{bucket}')",
        ],
        check=True,
    )
    process = f"{BIN / 'cfke-auth'} aws credential-process --role-arn {ROLE}"
    cli = AwsCli(process, tmp_path, endpoint_url=cfke_moto.url, token_path=cfke_token_file.path)
    before = cfke_moto.sts_calls
    result = cli.run("s3api", "list-buckets")
    assert result.returncode == 0, result.stderr
    assert bucket in [b["Name"] for b in json.loads(result.stdout)["Buckets"]]
    assert cfke_moto.sts_calls == before + 1
    identity = cli.run("sts", "get-caller-identity")
    assert identity.returncode == 0, identity.stderr
    assert json.loads(identity.stdout)["Arn"] == "arn:aws:sts::123456789012:assumed-role/app/default.app-7d9f8-x2x4q"


def test_whoami_shows_the_assumed_role(cfke_token_file: TokenFile, cfke_fake_sts: FakeSts) -> None:
    result = _cli("aws", "whoami", "--role-arn", ROLE, "--sts-endpoint-url", cfke_fake_sts.url, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["assumed_role_arn"] == "arn:aws:sts::123456789012:assumed-role/app/default.app-7d9f8-x2x4q"
    assert report["subject"] == "system:serviceaccount:default:default"
    assert report["audience"] == "sts.amazonaws.com"
    assert report["account_id"] == "123456789012"
    assert cfke_fake_sts.issued[-1]["secret_access_key"] not in result.stdout
    text = _cli("aws", "whoami", "--role-arn", ROLE, "--sts-endpoint-url", cfke_fake_sts.url)
    assert "assumed role arn  arn:aws:sts::123456789012:assumed-role/app/" in text.stdout
    assert "expires" in text.stdout


@pytest.mark.cfke_token(namespace="shop", service_account="checkout", audience="sts.amazonaws.com")
def test_trust_policy_from_the_token(cfke_token_file: TokenFile, cfke_issuer: object) -> None:
    result = _cli("aws", "trust-policy", "--account-id", "123456789012")
    assert result.returncode == 0, result.stderr
    issuer = json.loads(_cli("token", "--json").stdout)["issuer"]
    key = issuer.partition("://")[2]
    assert json.loads(result.stdout) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": f"arn:aws:iam::123456789012:oidc-provider/{key}"},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{key}:aud": "sts.amazonaws.com",
                        f"{key}:sub": "system:serviceaccount:shop:checkout",
                    }
                },
            }
        ],
    }
    document = json.dumps({"Url": issuer, "ClientIDList": ["sts.amazonaws.com"]})
    assert f"aws iam create-open-id-connect-provider --cli-input-json '{document}'" in result.stderr


def test_trust_policy_without_a_token(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CFKE_TOKEN_FILE", str(tmp_path / "missing"))
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(tmp_path / "missing"))
    cluster = "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"
    args = ["--account-id", "123456789012", "--cluster-id", cluster, "--namespace", "ns", "--service-account", "sa"]
    result = _cli("aws", "trust-policy", *args, "--audience", "sts.amazonaws.com")
    assert result.returncode == 0, result.stderr
    statement = json.loads(result.stdout)["Statement"][0]
    assert (
        statement["Principal"]["Federated"]
        == f"arn:aws:iam::123456789012:oidc-provider/api.cloudfleet.ai/v1/clusters/{cluster}"
    )
    assert (
        statement["Condition"]["StringEquals"][f"api.cloudfleet.ai/v1/clusters/{cluster}:sub"]
        == "system:serviceaccount:ns:sa"
    )
    missing = _cli("aws", "trust-policy", "--account-id", "123456789012", "--cluster-id", cluster)
    assert missing.returncode == 2
    assert "does not exist" in missing.stderr


def test_trust_policy_rejects_a_bad_account(cfke_token_file: TokenFile) -> None:
    result = _cli("aws", "trust-policy", "--account-id", "12345")
    assert result.returncode == 2
    assert "12-digit" in result.stderr
