"""``cfke-auth azure federated-credential`` and ``cfke-auth azure token-volume``."""

from __future__ import annotations

import json
import shlex

import pytest

from cfke_auth.cli import main
from cfke_auth.testing import OidcIssuer
from cfke_auth.testing.token_file import TokenFile


def _command(out: str) -> list[str]:
    """The printed command (after its comment line) as argv."""
    body = "\n".join(line for line in out.splitlines() if not line.startswith("#"))
    return shlex.split(body.replace("\\\n", " "))


def _option(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


@pytest.mark.cfke_token(namespace="shop", service_account="checkout")
def test_managed_identity_command_from_the_pod_token(
    cfke_token_file: TokenFile, cfke_issuer: OidcIssuer, capsys: pytest.CaptureFixture[str]
):
    assert main(["azure", "federated-credential", "--identity-name", "id-shop", "--resource-group", "rg-prod"]) == 0
    argv = _command(capsys.readouterr().out)
    assert argv[:4] == ["az", "identity", "federated-credential", "create"]
    assert _option(argv, "--identity-name") == "id-shop"
    assert _option(argv, "--resource-group") == "rg-prod"
    assert _option(argv, "--issuer") == cfke_issuer.issuer
    assert _option(argv, "--subject") == "system:serviceaccount:shop:checkout"
    assert _option(argv, "--audiences") == "api://AzureADTokenExchange"
    assert _option(argv, "--name") == "cfke-shop-checkout"


@pytest.mark.cfke_token(namespace="ml", service_account="trainer")
def test_the_azure_token_file_is_the_one_read(
    cfke_token_file: TokenFile, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("CFKE_TOKEN_FILE", "/nonexistent/token")  # only AZURE_FEDERATED_TOKEN_FILE names the token
    assert main(["azure", "federated-credential", "--identity-name", "id-ml", "--resource-group", "rg"]) == 0
    assert _option(_command(capsys.readouterr().out), "--subject") == "system:serviceaccount:ml:trainer"


def test_app_registration_command_from_flags(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CFKE_TOKEN_FILE", "/nonexistent/token")  # flags suffice: the file is not read
    issuer = "https://api.cloudfleet.ai/v1/clusters/1a2b"
    status = main(["azure", "federated-credential", "--app-id", "0c1d", "--issuer", issuer,
                   "--namespace", "ml", "--service-account", "trainer", "--name", "trainer-prod"])  # fmt: skip
    assert status == 0
    argv = _command(capsys.readouterr().out)
    assert argv[:5] == ["az", "ad", "app", "federated-credential", "create"]
    assert _option(argv, "--id") == "0c1d"
    assert json.loads(_option(argv, "--parameters")) == {
        "name": "trainer-prod",
        "issuer": issuer,
        "subject": "system:serviceaccount:ml:trainer",
        "audiences": ["api://AzureADTokenExchange"],
    }


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--identity-name", "id"], "needs --resource-group"),
        (["--app-id", "a"], "outside a pod pass --issuer"),
        (["--app-id", "a", "--issuer", "https://i", "--namespace", "n", "--service-account", "s", "--name", "x"],
         "--name 'x'"),
    ],
)  # fmt: skip
def test_bad_arguments_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path
):
    monkeypatch.setenv("CFKE_TOKEN_FILE", str(tmp_path / "missing"))
    assert main(["azure", "federated-credential", *argv]) == 2
    assert message in capsys.readouterr().err


def test_identity_and_app_are_exclusive(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exited:
        main(["azure", "federated-credential", "--identity-name", "i", "--app-id", "a"])
    assert exited.value.code == 2


def test_token_volume_snippet(capsys: pytest.CaptureFixture[str]):
    assert main(["azure", "token-volume", "--service-account", "checkout", "--client-id", "c-1",
                 "--tenant-id", "t-1"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    for line in (
        "serviceAccountName: checkout",
        "audience: api://AzureADTokenExchange",
        "expirationSeconds: 3600",
        "path: azure-identity-token",
        "mountPath: /var/run/secrets/azure/tokens",
        "value: /var/run/secrets/azure/tokens/azure-identity-token",
        'value: "c-1"',
        'value: "t-1"',
    ):
        assert line in out
    for name in ("AZURE_FEDERATED_TOKEN_FILE", "AZURE_CLIENT_ID", "AZURE_TENANT_ID"):
        assert f"- name: {name}" in out
