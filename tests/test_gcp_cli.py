"""``cfke-auth gcp``: the credential configuration google-auth loads itself, and the principal with Terraform."""

from __future__ import annotations

import json
from pathlib import Path

import google.auth
import pytest
from google.auth import external_account
from google.auth.transport.requests import AuthorizedSession, Request

from cfke_auth.cli import main
from cfke_auth.testing import OidcIssuer, TokenFile
from cfke_auth.testing.gcp import RESOURCE_PATH, GoogleFake

SA = "reader@shop-prod.iam.gserviceaccount.com"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
POOL = "projects/123456789012/locations/global/workloadIdentityPools/cfke"


def cred_config_args(fake: GoogleFake, *extra: str) -> list[str]:
    return [
        "gcp",
        "cred-config",
        "--pool",
        "cfke",
        "--provider",
        "cfke",
        "--project-number",
        "123456789012",
        "--sts-endpoint-url",
        fake.url,
        "--iam-endpoint-url",
        fake.url,
        *extra,
    ]


def test_cred_config_is_the_external_account_format(
    cfke_google: GoogleFake, cfke_token_file: TokenFile, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(cred_config_args(cfke_google, "--service-account", SA)) == 0
    assert json.loads(capsys.readouterr().out) == {
        "universe_domain": "googleapis.com",
        "type": "external_account",
        "audience": cfke_google.provider.audience,
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": f"{cfke_google.url}/v1/token",
        "credential_source": {"file": cfke_token_file.path, "format": {"type": "text"}},
        "service_account_impersonation_url": (
            f"{cfke_google.url}/v1/projects/-/serviceAccounts/{SA}:generateAccessToken"
        ),
    }


@pytest.mark.filterwarnings("ignore:.*load_credentials_from_file:DeprecationWarning")
def test_google_auth_loads_the_file_and_refreshes_against_sts(
    cfke_google: GoogleFake, cfke_token_file: TokenFile, tmp_path: Path
) -> None:
    path = tmp_path / "gcp.json"
    assert main(cred_config_args(cfke_google, "--output", str(path))) == 0

    loaded, project = google.auth.load_credentials_from_file(str(path))  # scoped later: no project-ID lookup
    assert isinstance(loaded, external_account.Credentials)
    assert project is None
    creds = loaded.with_scopes([CLOUD_PLATFORM])
    creds.refresh(Request())

    assert creds.token in cfke_google.issued
    (call,) = cfke_google.sts_calls()
    assert call.form()["subject_token"] == cfke_token_file.token
    assert AuthorizedSession(creds).get(cfke_google.url + RESOURCE_PATH).status_code == 200


def test_google_auth_impersonates_through_the_same_file(
    cfke_google: GoogleFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfke_google.bind(SA, f"principal://iam.googleapis.com/{POOL}/subject/system:serviceaccount:default:default")
    path = tmp_path / "gcp.json"
    assert main(cred_config_args(cfke_google, "--service-account", SA, "-o", str(path))) == 0
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))

    loaded, _ = google.auth.default()
    creds = loaded.with_scopes([CLOUD_PLATFORM])
    creds.refresh(Request())

    assert cfke_google.issued[creds.token].service_account == SA


@pytest.mark.cfke_token(namespace="shop", service_account="api")
def test_principal_from_the_pod_token(
    cfke_token_file: TokenFile, cfke_issuer: OidcIssuer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["gcp", "principal", "--pool", POOL, "--provider", "cluster"]) == 0
    out = capsys.readouterr().out
    assert f"principal://iam.googleapis.com/{POOL}/subject/system:serviceaccount:shop:api" in out
    assert f"principalSet://iam.googleapis.com/{POOL}/attribute.namespace/shop" in out
    assert f'issuer_uri        = "{cfke_issuer.issuer}"' in out
    assert f'allowed_audiences = ["//iam.googleapis.com/{POOL}/providers/cluster"]' in out
    assert '"google.subject"            = "assertion.sub"' in out
    assert 'workload_identity_pool_provider_id = "cluster"' in out


def test_principal_without_a_token_from_the_arguments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CFKE_TOKEN_FILE", str(tmp_path / "absent"))
    args = ["gcp", "principal", "--pool", "cfke", "--provider", "cfke", "--project-number", "123456789012"]
    cluster = "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"
    assert main([*args, "--namespace", "shop", "--service-account", "api", "--cluster-id", cluster]) == 0
    out = capsys.readouterr().out
    assert "subject/system:serviceaccount:shop:api" in out
    assert f'issuer_uri        = "https://api.cloudfleet.ai/v1/clusters/{cluster}"' in out

    assert main([*args, "--namespace", "shop", "--cluster-id", cluster]) == 2  # no token to take the account from
    assert "absent" in capsys.readouterr().err


def test_a_project_id_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["gcp", "cred-config", "--pool", "cfke", "--provider", "cfke", "--project-number", "shop-prod"]
    assert main(args) == 2
    assert "gcloud projects describe shop-prod" in capsys.readouterr().err


def test_cred_config_refuses_plain_http_off_loopback(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["gcp", "cred-config", "--pool", POOL, "--provider", "cfke", "--sts-endpoint-url", "http://sts.example"]
    assert main(args) == 2
    assert "--sts-endpoint-url" in capsys.readouterr().err


def test_cred_config_refuses_a_kubernetes_service_account_name(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["gcp", "cred-config", "--pool", POOL, "--provider", "cfke", "--service-account", "api"]
    assert main(args) == 2
    assert "not a service account email" in capsys.readouterr().err
