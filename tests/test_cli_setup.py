"""The commands that print the cloud-side setup: they take the cluster as a UUID or issuer URL and refuse anything
else, run off-cluster from flags alone, and what they print works: the OIDC-provider command in the real AWS CLI
against moto's IAM, the Terraform through hclwrite's formatter, the az command's issuer exactly the token's."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from cfke_auth.cli import main
from cfke_auth.testing import MotoServer, OidcIssuer, TokenFile

BIN = Path(sys.executable).parent
CLUSTER = "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"
ISSUER = f"https://api.cloudfleet.ai/v1/clusters/{CLUSTER}"
OFF_CLUSTER = ["--namespace", "shop", "--service-account", "checkout"]
PROVIDER = ["--pool", "cfke", "--provider", "cfke", "--project-number", "123456789012"]
HCL_TOOLS = Path(os.environ.get("CFKE_HCL_TOOLS") or BIN.parent / "hcl-tools/node_modules/@cdktf/hcl-tools")


@pytest.fixture
def off_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No token anywhere: every variable naming one points at a file that does not exist."""
    for name in ("CFKE_TOKEN_FILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AZURE_FEDERATED_TOKEN_FILE"):
        monkeypatch.setenv(name, str(tmp_path / "no-token"))


def _out(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[str, str]:
    assert main(list(argv)) == 0
    captured = capsys.readouterr()
    return captured.out, captured.err


def _usage_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    assert exited.value.code == 2
    return capsys.readouterr().err


# -- aws trust-policy ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cluster", [CLUSTER, CLUSTER.upper(), ISSUER, ISSUER + "/"])
def test_trust_policy_takes_a_cluster_uuid_or_its_issuer(
    cluster: str, off_cluster: None, capsys: pytest.CaptureFixture[str]
) -> None:
    out, err = _out(
        capsys, "aws", "trust-policy", "--account-id", "123456789012", "--cluster-id", cluster, *OFF_CLUSTER
    )
    statement = json.loads(out)["Statement"][0]
    assert (
        statement["Principal"]["Federated"]
        == f"arn:aws:iam::123456789012:oidc-provider/api.cloudfleet.ai/v1/clusters/{CLUSTER}"
    )
    assert statement["Condition"]["StringEquals"] == {
        f"api.cloudfleet.ai/v1/clusters/{CLUSTER}:aud": "sts.amazonaws.com",  # no token, no --audience: the default
        f"api.cloudfleet.ai/v1/clusters/{CLUSTER}:sub": "system:serviceaccount:shop:checkout",
    }
    assert json.dumps({"Url": ISSUER, "ClientIDList": ["sts.amazonaws.com"]}) in err


@pytest.mark.parametrize(
    "cluster",
    [
        "x",
        "CLUSTER_ID",
        f"https://api.cloudfleet.ai/v1/clusters/{CLUSTER}/x",
        f"http://api.cloudfleet.ai/v1/clusters/{CLUSTER}",
    ],
)
def test_trust_policy_refuses_anything_else(cluster: str, capsys: pytest.CaptureFixture[str]) -> None:
    err = _usage_error(
        capsys, "aws", "trust-policy", "--account-id", "123456789012", "--cluster-id", cluster, *OFF_CLUSTER
    )
    assert "is neither a cluster UUID nor a CFKE issuer URL" in err


def test_trust_policy_off_cluster_names_the_missing_flags(
    off_cluster: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["aws", "trust-policy", "--account-id", "123456789012", "--cluster-id", CLUSTER]) == 2
    assert "outside a pod pass --namespace, --service-account" in capsys.readouterr().err


def test_the_oidc_provider_command_runs_in_the_aws_cli(
    off_cluster: None, cfke_moto: MotoServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = str(uuid.uuid4())  # moto keeps providers for the session: a new cluster each run
    _, err = _out(capsys, "aws", "trust-policy", "--account-id", "123456789012", "--cluster-id", cluster, *OFF_CLUSTER)
    command = err.strip().splitlines()[-1]
    (tmp_path / "empty").write_text("")
    env = {
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "AWS_ENDPOINT_URL": cfke_moto.url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "empty"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "empty"),
    }
    version = subprocess.run(["aws", "--version"], env=env, capture_output=True, text=True, check=True)
    # v1 (v2 is not on PyPI). v1 releases before the exemption of this parameter fetched an https:// --url as a
    # document ("Unable to retrieve https://..."); inside --cli-input-json no release fetches anything.
    assert (version.stdout + version.stderr).startswith("aws-cli/1.")

    created = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert created.returncode == 0, created.stderr
    arn = json.loads(created.stdout)["OpenIDConnectProviderArn"]
    assert arn == f"arn:aws:iam::123456789012:oidc-provider/api.cloudfleet.ai/v1/clusters/{cluster}"
    shown = subprocess.run(
        ["aws", "iam", "get-open-id-connect-provider", "--open-id-connect-provider-arn", arn, "--output", "json"],
        env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert json.loads(shown.stdout)["ClientIDList"] == ["sts.amazonaws.com"]


@pytest.mark.cfke_token(namespace="shop", service_account="checkout", audience="sts.amazonaws.com")
def test_trust_policy_in_a_pod_takes_everything_from_the_token(
    cfke_token_file: TokenFile, cfke_issuer: OidcIssuer, capsys: pytest.CaptureFixture[str]
) -> None:
    out, _ = _out(capsys, "aws", "trust-policy", "--account-id", "123456789012")
    key = cfke_issuer.issuer.partition("://")[2]
    assert json.loads(out)["Statement"][0]["Condition"]["StringEquals"] == {
        f"{key}:aud": "sts.amazonaws.com",
        f"{key}:sub": "system:serviceaccount:shop:checkout",
    }


# -- gcp principal ------------------------------------------------------------------------------------------------


def test_principal_needs_no_provider_for_the_members(off_cluster: None, capsys: pytest.CaptureFixture[str]) -> None:
    out, err = _out(capsys, "gcp", "principal", "--pool", "cfke", "--project-number", "123456789012", *OFF_CLUSTER)
    pool = "projects/123456789012/locations/global/workloadIdentityPools/cfke"
    assert out.splitlines() == [
        "member for shop/checkout:",
        f"  principal://iam.googleapis.com/{pool}/subject/system:serviceaccount:shop:checkout",
        "member for every service account in namespace shop:",
        f"  principalSet://iam.googleapis.com/{pool}/attribute.namespace/shop",
    ]
    assert "pass --provider for the Terraform" in err


@pytest.mark.parametrize("flag", ["--issuer", "--cluster-id"])
def test_principal_off_cluster_takes_the_issuer(
    flag: str, off_cluster: None, capsys: pytest.CaptureFixture[str]
) -> None:
    out, _ = _out(capsys, "gcp", "principal", *PROVIDER, *OFF_CLUSTER, flag, ISSUER if flag == "--issuer" else CLUSTER)
    assert f'issuer_uri        = "{ISSUER}"' in out
    assert "CLUSTER_ID" not in out


def test_principal_off_cluster_without_an_issuer_says_which_flag(
    off_cluster: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["gcp", "principal", *PROVIDER, *OFF_CLUSTER]) == 2
    assert "outside a pod pass --issuer (or --cluster-id)" in capsys.readouterr().err


def _terraform(capsys: pytest.CaptureFixture[str]) -> str:
    out, _ = _out(capsys, "gcp", "principal", *PROVIDER, *OFF_CLUSTER, "--cluster-id", CLUSTER)
    return out.partition("\n\n")[2].partition("\n\n")[2]  # after the members and the "# Terraform" heading


def _misaligned(hcl: str) -> list[str]:
    """The runs of single-line attributes whose ``=`` signs are not in one column, as `terraform fmt` puts them
    (an attribute whose value opens a block or spans lines ends a run, as do comments and blank lines)."""
    runs: list[list[str]] = [[]]
    for line in hcl.splitlines():
        single = re.match(r"^( *)[\w\".-]+ +=", line) and not line.rstrip().endswith(("{", "[", "("))
        if single:
            runs[-1].append(line)
        else:
            runs.append([])
    return [
        "\n".join(run)
        for run in runs
        if len({line.index("=") for line in run}) > 1 or len({len(line) - len(line.lstrip()) for line in run}) > 1
    ]


def test_the_terraform_keeps_the_formatting_rules(off_cluster: None, capsys: pytest.CaptureFixture[str]) -> None:
    hcl = _terraform(capsys)
    assert hcl.endswith("\n") and not hcl.endswith("\n\n")
    assert _misaligned(hcl) == []
    assert all((len(line) - len(line.lstrip(" "))) % 2 == 0 and "\t" not in line for line in hcl.splitlines())
    assert _misaligned("  a = 1\n  bb = 2\n  c = {\n    x = 1\n  }\n") == ["  a = 1\n  bb = 2"]


def test_the_terraform_passes_hclwrite_format(off_cluster: None, capsys: pytest.CaptureFixture[str]) -> None:
    if not (HCL_TOOLS.is_dir() and shutil.which("node")):
        pytest.skip(f"hclwrite's formatter (@cdktf/hcl-tools from npm, `make test` installs it) is not at {HCL_TOOLS}")
    hcl = _terraform(capsys)
    script = (
        "const {format} = require(process.argv[1]); let s = ''; process.stdin.on('data', c => s += c);"
        "process.stdin.on('end', async () => process.stdout.write(await format(s)));"
    )
    formatted = subprocess.run(
        ["node", "-e", script, str(HCL_TOOLS)], input=hcl, capture_output=True, text=True, timeout=120, check=True
    )
    assert formatted.stdout == hcl  # what `terraform fmt -check` checks: formatting changes nothing


# -- azure federated-credential and token-volume -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("issuer", "words"),
    [
        (ISSUER + "/", "no trailing slash"),
        ("api.cloudfleet.ai/v1/clusters/x", "is not an https:// issuer URL"),
        ("http://api.cloudfleet.ai/v1/clusters/x", "is not an https:// issuer URL"),
        (ISSUER + "?x=1", "no trailing slash, query or fragment"),
    ],
)
def test_federated_credential_refuses_an_issuer_that_cannot_match(
    issuer: str, words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _usage_error(capsys, "azure", "federated-credential", "--app-id", "a", "--issuer", issuer, *OFF_CLUSTER)
    assert words in err


def test_federated_credential_off_cluster_from_the_cluster_id(
    off_cluster: None, capsys: pytest.CaptureFixture[str]
) -> None:
    out, _ = _out(
        capsys, "azure", "federated-credential", "--identity-name", "id-checkout", "--resource-group", "rg-shop",
        "--cluster-id", CLUSTER, *OFF_CLUSTER,
    )  # fmt: skip
    argv = shlex.split(out.partition("\n")[2].replace("\\\n", " "))
    assert argv[argv.index("--issuer") + 1] == ISSUER
    assert argv[argv.index("--subject") + 1] == "system:serviceaccount:shop:checkout"


@pytest.mark.cfke_token(namespace="shop", service_account="checkout")
def test_token_volume_names_the_tokens_service_account(
    cfke_token_file: TokenFile, capsys: pytest.CaptureFixture[str]
) -> None:
    out, _ = _out(capsys, "azure", "token-volume", "--client-id", "c", "--tenant-id", "t")
    assert "serviceAccountName: checkout\n" in out


def test_token_volume_off_cluster_needs_the_service_account(
    off_cluster: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["azure", "token-volume"]) == 2
    assert "outside a pod pass --namespace, --service-account" in capsys.readouterr().err
