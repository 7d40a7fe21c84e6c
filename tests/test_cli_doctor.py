"""``cfke-auth doctor``: findings for the token, its signature and the cloud settings, and the exit status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import time_machine

from cfke_auth.cli import main
from cfke_auth.testing import OidcIssuer, TokenFile


@pytest.fixture(autouse=True)
def _no_cloud_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ROLE_ARN", "AZURE_CLIENT_ID"):
        monkeypatch.delenv(name, raising=False)


def _report(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, tuple[str, str]]]:
    status = main(["doctor", "--json", *args])
    return status, {f["check"]: (f["status"], f["detail"]) for f in json.loads(capsys.readouterr().out)}


def test_healthy_pod(cfke_token_file: TokenFile, capsys: pytest.CaptureFixture[str]) -> None:
    status, report = _report(capsys)
    assert status == 0
    assert report["token"][0] == "ok"
    assert report["signature"] == ("ok", "verifies against the issuer's published keys")
    assert report["freshness"][0] == "ok"
    assert "azure" not in report
    assert "aws" not in report


def test_missing_token_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, report = _report(capsys, "--path", str(tmp_path / "none"))
    assert status == 1
    assert report["token"][0] == "fail"
    assert "does not exist" in report["token"][1]


@pytest.mark.cfke_token(extended=True)
def test_stale_extended_token_warns(cfke_token_file: TokenFile, capsys: pytest.CaptureFixture[str]) -> None:
    with time_machine.travel(0, tick=False) as clock:
        from cfke_auth import TokenSource

        claims = TokenSource().claims()
        assert claims.warn_after is not None
        clock.move_to(claims.warn_after.timestamp() + 7200)
        TokenSource().invalidate()
        status, report = _report(capsys, "--offline")
    assert status == 0
    assert report["freshness"] == ("warn", "2h past its warnafter and not rotated: check the kubelet on this node")
    assert "signature" not in report


@pytest.mark.cfke_token(extended=True)
def test_azure_with_the_default_token_fails_with_the_fix(
    cfke_token_file: TokenFile, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_CLIENT_ID", "00000000-0000-0000-0000-000000000001")
    status, report = _report(capsys, "--offline")
    assert status == 1
    verdict, detail = report["azure"]
    assert verdict == "fail"
    assert "not api://AzureADTokenExchange" in detail
    assert "AADSTS70023" in detail
    assert "cfke-auth azure token-volume" in detail


@pytest.mark.cfke_token(audience="api://AzureADTokenExchange", lifetime=3600)
def test_azure_with_a_projected_token(
    cfke_token_file: TokenFile, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_CLIENT_ID", "00000000-0000-0000-0000-000000000001")
    monkeypatch.setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/app")
    status, report = _report(capsys, "--offline")
    assert status == 0
    assert report["azure"][0] == "ok"
    assert report["aws"][0] == "ok"
    assert "api://AzureADTokenExchange" in report["aws"][1]


def test_token_signed_by_another_key_fails(
    cfke_issuer: OidcIssuer, cfke_token_file: TokenFile, capsys: pytest.CaptureFixture[str]
) -> None:
    cfke_token_file.rotate(OidcIssuer(issuer=cfke_issuer.issuer).issue())
    status, report = _report(capsys)
    assert status == 1
    assert report["signature"][0] == "fail"
    assert "does not publish" in report["signature"][1]


def test_human_output(cfke_token_file: TokenFile, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--offline"]) == 0
    out = capsys.readouterr().out
    assert "[  ok] token" in out
    assert cfke_token_file.token not in out


def test_cloud_token_file_missing(
    cfke_token_file: TokenFile, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_CLIENT_ID", "00000000-0000-0000-0000-000000000001")
    monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", str(tmp_path / "azure-token"))
    status, report = _report(capsys, "--offline")
    assert status == 1
    assert report["token"][0] == "ok"
    verdict, detail = report["azure"]
    assert verdict == "fail"
    assert detail.startswith("AZURE_CLIENT_ID is set but its token is unusable")
    assert "azure-token does not exist" in detail
