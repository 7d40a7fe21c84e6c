"""``cfke-auth doctor``: a matrix of misconfigurations, each asserting the finding that names it; healthy setups
(every cloud exchanging against the test kit's fakes) report ok; exit status 0 / 1 / 2."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import time_machine

from cfke_auth import TokenSource
from cfke_auth.cli import main
from cfke_auth.gcp.cred_config import cred_config
from cfke_auth.testing import FakeEntra, FakeSts, FederatedCredential, GoogleFake, MotoServer, OidcIssuer, TokenFile
from cfke_auth.testing.gcp import DEFAULT_PROVIDER

ROLE = "arn:aws:iam::123456789012:role/app"
TENANT = "72f988bf-0000-4000-8000-00000000c0de"
CLIENT = "0c1d2e3f-0000-4000-8000-0000000a9901"
SA = "reader@shop-prod.iam.gserviceaccount.com"

Report = list[dict[str, Any]]


@pytest.fixture(autouse=True)
def _only_the_token(cfke_token_file: TokenFile, cfke_aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts from a pod with a token (CFKE_TOKEN_FILE) and no cloud configured."""
    for name in [n for n in os.environ if n.startswith(("AZURE_", "GOOGLE_")) or n == "AWS_WEB_IDENTITY_TOKEN_FILE"]:
        monkeypatch.delenv(name)


def doctor(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Report]:
    status = main(["doctor", "--json", *args])
    return status, json.loads(capsys.readouterr().out)


def found(report: Report, check: str, status: str = "fail") -> dict[str, Any]:
    """The one finding of ``check`` with ``status`` (failing the test when there is not exactly one)."""
    matches = [f for f in report if f["check"] == check and f["status"] == status]
    assert len(matches) == 1, report
    return matches[0]


def statuses(report: Report) -> set[str]:
    return {f["status"] for f in report}


def token_for(issuer: OidcIssuer, tmp_path: Path, name: str, **knobs: Any) -> str:
    token_file = TokenFile(tmp_path / name, issuer, **knobs)
    token_file.rotate()
    return token_file.path


# -- the token and its issuer -------------------------------------------------------------------------------------


def test_a_healthy_token_without_clouds_is_ok_with_a_warning(capsys: pytest.CaptureFixture[str]) -> None:
    status, report = doctor(capsys)
    assert status == 0
    assert found(report, "token", "ok")["detail"].endswith(
        "(projected token for " + TokenSource().claims().issuer + ")"
    )
    assert found(report, "issuer", "ok")["detail"].endswith(
        "/.well-known/openid-configuration and its JWKS are reachable"
    )
    assert found(report, "signature", "ok")
    assert "no cloud is configured" in found(report, "clouds", "warn")["detail"]


def test_missing_token(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, report = doctor(capsys, "--token-path", str(tmp_path / "none"))
    assert status == 1
    assert "does not exist" in found(report, "token")["detail"]


def test_unreachable_issuer_says_so_and_suggests_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with OidcIssuer() as gone:
        path = token_for(gone, tmp_path, "gone")
    monkeypatch.setenv("CFKE_TOKEN_FILE", path)  # its issuer is no longer listening
    status, report = doctor(capsys)
    assert status == 1
    issuer = found(report, "issuer")
    assert "cannot be fetched from here: connection" in issuer["detail"]
    assert "cfke-auth doctor --offline" in issuer["fix"]
    status, report = doctor(capsys, "--offline")
    assert status == 0
    assert not [f for f in report if f["check"] in ("issuer", "signature")]


def test_token_signed_by_another_key(
    cfke_issuer: OidcIssuer, cfke_token_file: TokenFile, capsys: pytest.CaptureFixture[str]
) -> None:
    cfke_token_file.rotate(OidcIssuer(issuer=cfke_issuer.issuer).issue())
    status, report = doctor(capsys)
    assert status == 1
    assert "does not publish" in found(report, "signature")["detail"]


@pytest.mark.cfke_token(extended=True)
def test_stale_extended_token_warns(cfke_token_file: TokenFile, capsys: pytest.CaptureFixture[str]) -> None:
    with time_machine.travel(0, tick=False) as clock:
        claims = TokenSource().claims()
        assert claims.warn_after is not None
        clock.move_to(claims.warn_after.timestamp() + 7200)
        TokenSource().invalidate()
        status, report = doctor(capsys, "--offline")
    assert status == 0
    assert found(report, "freshness", "warn")["detail"] == "2h past its warnafter and not rotated"


def test_exchange_and_offline_together_are_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["doctor", "--offline", "--exchange"])
    assert exited.value.code == 2


# -- the matrix: one misconfiguration per row, each with the finding that must name it -----------------------------

AZ = "api://AzureADTokenExchange"
MISCONFIGURATIONS = [
    # (case, environment, token knobs, extra arguments, check, words the failing finding must contain)
    ("role-not-an-arn", {"AWS_ROLE_ARN": "not-an-arn"}, {}, [], "aws",
     "AWS_ROLE_ARN 'not-an-arn' is not an IAM role ARN of the form arn:aws:iam::ACCOUNT_ID:role/NAME"),
    ("only-the-aws-token-file", {"AWS_WEB_IDENTITY_TOKEN_FILE": "{token}"}, {}, [], "aws",
     "AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not"),
    ("aws-token-file-missing", {"AWS_ROLE_ARN": ROLE, "AWS_WEB_IDENTITY_TOKEN_FILE": "{tmp}/aws-token"}, {}, [], "aws",
     "AWS_WEB_IDENTITY_TOKEN_FILE names {tmp}/aws-token, but that token is unusable"),
    ("aws-reads-the-azure-token", {"AWS_ROLE_ARN": ROLE}, {"audience": AZ}, [], "aws",
     f"has audience {AZ}, meant for another cloud, not AWS"),
    ("aws-region-malformed", {"AWS_ROLE_ARN": ROLE, "AWS_REGION": "eu central 1"}, {}, [], "aws",
     "region 'eu central 1' is not an AWS region name"),
    ("aws-sts-endpoint-in-clear", {"AWS_ROLE_ARN": ROLE, "AWS_ENDPOINT_URL_STS": "http://sts.example"}, {}, [], "aws",
     "is not an https:// URL"),
    ("azure-client-without-tenant", {"AZURE_CLIENT_ID": CLIENT}, {"audience": AZ}, [], "azure",
     "AZURE_CLIENT_ID is set but AZURE_TENANT_ID is not"),
    ("azure-tenant-without-client", {"AZURE_TENANT_ID": TENANT}, {"audience": AZ}, [], "azure",
     "AZURE_TENANT_ID is set but AZURE_CLIENT_ID is not"),
    ("azure-client-not-a-guid", {"AZURE_CLIENT_ID": "checkout-identity", "AZURE_TENANT_ID": TENANT}, {"audience": AZ},
     [], "azure", "AZURE_CLIENT_ID 'checkout-identity' is not a GUID"),
    ("azure-tenant-malformed", {"AZURE_CLIENT_ID": CLIENT, "AZURE_TENANT_ID": "not a tenant"}, {"audience": AZ}, [],
     "azure", "AZURE_TENANT_ID 'not a tenant' is neither a GUID nor a domain name"),
    ("azure-reads-the-default-token", {"AZURE_CLIENT_ID": CLIENT, "AZURE_TENANT_ID": TENANT}, {"extended": True}, [],
     "azure", "not api://AzureADTokenExchange; it lives 365d, longer than the day Entra ID accepts (AADSTS70023)"),
    ("azure-token-lives-too-long", {"AZURE_CLIENT_ID": CLIENT, "AZURE_TENANT_ID": TENANT},
     {"audience": AZ, "lifetime": 2 * 86400}, [], "azure", "it lives 2d, longer than the day Entra ID accepts"),
    ("azure-token-file-missing", {"AZURE_FEDERATED_TOKEN_FILE": "{tmp}/azure-token"}, {}, [], "azure",
     "azure-token does not exist"),
    ("google-credentials-file-missing", {"GOOGLE_APPLICATION_CREDENTIALS": "{tmp}/gcp.json"}, {}, [], "gcp",
     "cannot be read: No such file or directory"),
    ("google-credentials-not-json", {"GOOGLE_APPLICATION_CREDENTIALS": "{token}"}, {}, [], "gcp", "is not JSON"),
    ("google-pool-without-provider", {}, {}, ["--gcp-pool", "cfke"], "gcp",
     "--gcp-pool and --gcp-provider are both needed"),
    ("google-project-id-for-number", {}, {},
     ["--gcp-pool", "cfke", "--gcp-provider", "cfke", "--gcp-project-number", "shop-prod"], "gcp",
     "gcloud projects describe shop-prod"),
    ("google-reads-the-default-token", {}, {"extended": True},
     ["--gcp-pool", "cfke", "--gcp-provider", "cfke", "--gcp-project-number", "123456789012"], "gcp",
     "lives 365d, longer than the 48 h Google STS accepts"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("environment", "knobs", "arguments", "check", "words"),
    [pytest.param(*row[1:], id=row[0]) for row in MISCONFIGURATIONS],
)
def test_misconfiguration_is_a_finding(
    environment: dict[str, str],
    knobs: dict[str, Any],
    arguments: list[str],
    check: str,
    words: str,
    cfke_token_file: TokenFile,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if knobs:
        cfke_token_file.rotate(**knobs)
    for name, value in environment.items():
        monkeypatch.setenv(name, value.format(token=cfke_token_file.path, tmp=tmp_path))
    status, report = doctor(capsys, "--offline", *arguments)
    assert status == 1
    expected = words.format(tmp=tmp_path)
    assert [f for f in report if f["check"] == check and f["status"] == "fail" and expected in f["detail"]], report
    assert all(f["fix"] for f in report if f["status"] == "fail")


# -- AWS ----------------------------------------------------------------------------------------------------------


@pytest.mark.cfke_token(namespace="shop", service_account="checkout", audience="sts.amazonaws.com")
def test_aws_ok_names_what_iam_must_hold(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ROLE_ARN", ROLE)
    status, report = doctor(capsys, "--offline")
    assert status == 0
    (side,) = [f["cloud_side"] for f in report if f["check"] == "aws" and f["cloud_side"]]
    issuer = TokenSource().claims().issuer
    key = issuer.partition("://")[2]
    assert side == {
        "IAM OIDC provider URL": issuer,
        "IAM OIDC provider client-id list includes": "sts.amazonaws.com",
        "role trust policy Principal.Federated": f"arn:aws:iam::123456789012:oidc-provider/{key}",
        "role trust policy condition (aud)": f'StringEquals "{key}:aud": "sts.amazonaws.com"',
        "role trust policy condition (sub)": f'StringEquals "{key}:sub": "system:serviceaccount:shop:checkout"',
    }


def _aws_exchange(monkeypatch: pytest.MonkeyPatch, sts_url: str) -> None:
    monkeypatch.setenv("AWS_ROLE_ARN", ROLE)
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", sts_url)


@pytest.mark.cfke_token(audience="sts.amazonaws.com")
def test_aws_exchange_refused_by_the_trust_policy(
    cfke_fake_sts: FakeSts, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _aws_exchange(monkeypatch, cfke_fake_sts.url)
    cfke_fake_sts.fail_with("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity", 403)
    status, report = doctor(capsys, "--exchange")
    assert status == 1
    refusal = found(report, "aws exchange")
    assert "AccessDenied" in refusal["detail"] and "trust policy does not admit this token" in refusal["detail"]
    assert refusal["cloud_side"]["role trust policy condition (sub)"].endswith(
        ':sub": "system:serviceaccount:default:default"'
    )
    assert "cfke-auth aws trust-policy" in refusal["fix"]


@pytest.mark.cfke_token(audience="sts.amazonaws.com")
def test_aws_exchange_without_an_oidc_provider(
    cfke_fake_sts: FakeSts, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _aws_exchange(monkeypatch, cfke_fake_sts.url)
    cfke_fake_sts.fail_with("InvalidIdentityToken", "No OpenIDConnect provider found in your account for ...")
    status, report = doctor(capsys, "--exchange")
    assert status == 1
    refusal = found(report, "aws exchange")
    assert "has no IAM OIDC provider for" in refusal["detail"]
    assert refusal["cloud_side"]["IAM OIDC provider URL"] == TokenSource().claims().issuer
    assert refusal["cloud_side"]["IAM OIDC provider client-id list includes"] == "sts.amazonaws.com"


@pytest.mark.cfke_token(audience="sts.amazonaws.com")
def test_aws_exchange_against_moto(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, cfke_moto: MotoServer
) -> None:
    _aws_exchange(monkeypatch, cfke_moto.url)
    before = cfke_moto.sts_calls
    status, report = doctor(capsys, "--exchange")
    assert status == 0, report
    assert found(report, "aws exchange", "ok")["detail"].startswith(
        "STS granted arn:aws:sts::123456789012:assumed-role/app/"
    )
    assert cfke_moto.sts_calls == before + 1


# -- Azure --------------------------------------------------------------------------------------------------------


def test_azure_exchange_without_a_matching_federated_credential(
    cfke_entra: FakeEntra, capsys: pytest.CaptureFixture[str]
) -> None:
    cfke_entra.federated = FederatedCredential(subject="system:serviceaccount:other:sa")
    status, report = doctor(capsys, "--exchange")
    assert status == 1
    refusal = found(report, "azure exchange")
    assert "AADSTS70021" in refusal["detail"]
    claims = TokenSource().claims()
    assert refusal["cloud_side"] == {
        "federated credential issuer": claims.issuer,
        "federated credential subject": claims.subject,
        "federated credential audiences": "api://AzureADTokenExchange",
    }


def test_azure_exchange_with_an_unknown_client(
    cfke_entra: FakeEntra, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_CLIENT_ID", "11111111-2222-4333-8444-555555555555")
    status, report = doctor(capsys, "--exchange")
    assert status == 1
    refusal = found(report, "azure exchange")
    assert "AADSTS700016" in refusal["detail"]
    assert refusal["cloud_side"]["application (client) id"] == "11111111-2222-4333-8444-555555555555"


# -- Google Cloud -------------------------------------------------------------------------------------------------


def _cred_config(google: GoogleFake, token_path: str, tmp_path: Path, service_account: str | None = None) -> str:
    config = cred_config(
        google.provider, token_path, service_account=service_account, sts_url=google.url, iam_url=google.url
    )
    path = tmp_path / "gcp.json"
    path.write_text(json.dumps(config))
    return str(path)


def test_google_audience_with_a_project_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = {
        "type": "external_account",
        "audience": "//iam.googleapis.com/projects/shop-prod/locations/global/workloadIdentityPools/p/providers/p",
        "credential_source": {"file": "/var/run/secrets/cfke.io/gcp/token"},
    }
    (tmp_path / "gcp.json").write_text(json.dumps(config))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "gcp.json"))
    status, report = doctor(capsys, "--offline")
    assert status == 1
    assert "'shop-prod' is a project ID" in found(report, "gcp")["detail"]


@pytest.mark.parametrize(
    ("knobs", "words"),
    [
        ({"audience": "sts.amazonaws.com"}, "has audience sts.amazonaws.com, not the provider's //iam.googleapis.com/"),
        ({"lifetime": 3 * 86400}, "lives 3d, longer than the 48 h Google STS accepts"),
    ],
    ids=["another-clouds-audience", "lives-too-long"],
)
def test_google_token_the_credentials_file_names(
    knobs: dict[str, Any],
    words: str,
    cfke_google: GoogleFake,
    cfke_token_file: TokenFile,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfke_token_file.rotate(**{"audience": cfke_google.provider.audience, **knobs})
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", _cred_config(cfke_google, cfke_token_file.path, tmp_path))
    status, report = doctor(capsys, "--offline")
    assert status == 1
    assert words in found(report, "gcp")["detail"]


def test_google_exchange_without_the_impersonation_binding(
    cfke_google: GoogleFake,
    cfke_token_file: TokenFile,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfke_google.bind(
        SA,
        "principal://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/cfke/subject/someone-else",
    )
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", _cred_config(cfke_google, cfke_token_file.path, tmp_path, SA))
    status, report = doctor(capsys, "--exchange")
    assert status == 1
    refusal = found(report, "gcp exchange")
    assert "roles/iam.workloadIdentityUser binding is missing" in refusal["detail"]
    member = cfke_google.provider.principal("system:serviceaccount:default:default")
    assert refusal["cloud_side"][f"roles/iam.workloadIdentityUser on {SA} granted to"] == member


def test_google_exchange_with_a_disabled_provider(
    cfke_google: GoogleFake,
    cfke_token_file: TokenFile,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfke_google.disabled = True
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", _cred_config(cfke_google, cfke_token_file.path, tmp_path))
    status, report = doctor(capsys, "--exchange")
    assert status == 1
    refusal = found(report, "gcp exchange")
    assert "invalid_target" in refusal["detail"] and "does not exist in project 123456789012" in refusal["detail"]
    assert refusal["cloud_side"] == {"workload identity provider": cfke_google.provider.name}


# -- everything at once -------------------------------------------------------------------------------------------


def test_all_three_clouds_exchange_against_the_fakes(
    cfke_entra: FakeEntra,
    cfke_fake_sts: FakeSts,
    cfke_issuer: OidcIssuer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    google = GoogleFake(cfke_issuer, token_for(cfke_issuer, tmp_path, "gcp", audience=DEFAULT_PROVIDER.audience))
    google.bind(SA, google.provider.principal("system:serviceaccount:default:default"))
    aws_token = token_for(cfke_issuer, tmp_path, "aws", audience="sts.amazonaws.com")
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", aws_token)
    _aws_exchange(monkeypatch, cfke_fake_sts.url)
    with google:
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", _cred_config(google, google.token_path, tmp_path, SA))
        status, report = doctor(capsys, "--exchange")
        assert main(["doctor", "--exchange"]) == 0
    assert status == 0, [f for f in report if f["status"] != "ok"]
    assert statuses(report) == {"ok"}
    assert {f["check"] for f in report} >= {
        "token",
        "issuer",
        "signature",
        "aws exchange",
        "azure exchange",
        "gcp exchange",
    }
    text = capsys.readouterr().out
    assert "[  ok] azure exchange" in text
    assert "the cloud side must hold:" in text
    issued = cfke_fake_sts.issued[-1]
    for secret in (issued["secret_access_key"], issued["session_token"], *cfke_entra.issued, *google.issued):
        assert secret not in text
