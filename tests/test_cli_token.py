"""``cfke-auth token``: human and JSON output, and typed errors as exit status 1."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import time_machine

from cfke_auth.cli import main
from cfke_auth.testing import TokenFile


@pytest.mark.cfke_token(extended=True, namespace="shop", service_account="checkout")
def test_json_report(cfke_token_file: TokenFile, capsys: pytest.CaptureFixture[str]) -> None:
    with time_machine.travel(0, tick=False) as clock:
        from cfke_auth import TokenSource

        clock.move_to(TokenSource(cfke_token_file.path).claims().issued_at)
        assert main(["token", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["subject"] == "system:serviceaccount:shop:checkout"
    assert report["extended"] is True
    assert report["seconds_to_warn_after"] == 3607
    assert report["seconds_to_expiry"] == 365 * 24 * 3600
    assert report["path"] == cfke_token_file.path
    assert report["cluster_id"] == "c0ffee00-0000-4000-8000-000000000001"


@pytest.mark.cfke_token(audience="sts.amazonaws.com", lifetime=3600)
def test_human_report(cfke_token_file: TokenFile, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "--path", cfke_token_file.path]) == 0
    out = capsys.readouterr().out
    assert "sts.amazonaws.com" in out
    assert "projected token" in out
    assert "(in 59m" in out or "(in 1h" in out
    assert cfke_token_file.token not in out


def test_missing_file_exits_1_with_the_message(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cfke_auth", "token", "--path", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.cfke_token(audience="sts.amazonaws.com")
def test_verify_flag(cfke_token_file: TokenFile, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "--verify", "--audience", "sts.amazonaws.com"]) == 0
    assert "signature verified" in capsys.readouterr().out
    assert main(["token", "--verify", "--audience", "other", "--json"]) == 1
    assert "InvalidAudience" in capsys.readouterr().err


def test_a_command_loads_only_its_own_module(cfke_token_file: TokenFile) -> None:
    code = (
        "import sys; from cfke_auth.cli import main; status = main(['token', '--json']); "
        "loaded = sorted(m for m in sys.modules if m.startswith(('cfke_auth.aws', 'cfke_auth.gcp', 'cfke_auth.azure', "
        "'httpx', 'boto3', 'google', 'azure'))); print(status, loaded, file=sys.stderr)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stderr.strip() == "0 []"
