"""``cfke-auth aws credential-process`` caches per user across runs: the AWS CLI through it against moto makes one STS
call for several commands; what keys an entry; served only while 15 minutes are left; ``--no-cache``; corrupt,
foreign and loose-permission files ignored with a note; a cache that cannot be written is no cache, not a failure."""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
import time
from pathlib import Path

import pytest
import time_machine
from conftest import assert_no_secrets

from cfke_auth.cli import main
from cfke_auth.testing import TokenFile
from cfke_auth.testing.aws import AwsCli, FakeSts, MotoServer

pytestmark = [pytest.mark.usefixtures("cfke_aws_env"), pytest.mark.cfke_token(audience="sts.amazonaws.com")]

ROLE = "arn:aws:iam::123456789012:role/app"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "cfke-auth"


def _process(
    sts: FakeSts, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, dict[str, object] | None, str]:
    """Run the command in process: (exit status, its JSON, stderr)."""
    status = main(["aws", "credential-process", "--role-arn", ROLE, "--sts-endpoint-url", sts.url, *extra])
    out, err = capsys.readouterr()
    return status, json.loads(out) if out else None, err


def _entries(cache: Path) -> list[Path]:
    return sorted(cache.glob("aws-*.json"))


def test_second_run_is_served_from_the_private_cache(
    cfke_token_file: TokenFile, cfke_fake_sts: FakeSts, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = _process(cfke_fake_sts, capsys)
    second = _process(cfke_fake_sts, capsys)
    assert first[0] == second[0] == 0 and first[1] == second[1] and not first[2] and not second[2]
    assert len(cfke_fake_sts.calls) == 1
    (entry,) = _entries(cache)
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700 and stat.S_IMODE(entry.stat().st_mode) == 0o600
    assert [p.name for p in cache.iterdir()] == [entry.name]  # the temporary file was renamed, not left behind

    assert _process(cfke_fake_sts, capsys, "--no-cache")[1] != first[1]
    assert len(cfke_fake_sts.calls) == 2
    assert _process(cfke_fake_sts, capsys)[1] == first[1]  # --no-cache neither read nor wrote the entry


def test_everything_that_selects_the_credential_keys_it(
    cfke_token_file: TokenFile, cfke_fake_sts: FakeSts, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _process(cfke_fake_sts, capsys)
    _process(cfke_fake_sts, capsys, "--session-name", "other-session")
    _process(cfke_fake_sts, capsys, "--duration", "1800")
    cfke_token_file.rotate(service_account="another")  # another pod identity
    _process(cfke_fake_sts, capsys)
    assert len(cfke_fake_sts.calls) == 4 and len(_entries(cache)) == 4
    cfke_token_file.rotate(service_account="default")  # a rotated token of the first identity: the same credential
    _process(cfke_fake_sts, capsys)
    assert len(cfke_fake_sts.calls) == 4


def test_served_only_while_15_minutes_are_left(
    cfke_token_file: TokenFile, cfke_fake_sts: FakeSts, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = _process(cfke_fake_sts, capsys)[1]
    with time_machine.travel(time.time() + 44 * 60, tick=False) as traveller:  # 16 minutes left: still served
        assert _process(cfke_fake_sts, capsys)[1] == first and len(cfke_fake_sts.calls) == 1
        traveller.shift(2 * 60)  # 14 minutes left: the AWS CLI would refresh at once, so exchange
        renewed = _process(cfke_fake_sts, capsys)[1]
    assert renewed != first and len(cfke_fake_sts.calls) == 2


@pytest.mark.parametrize("damage", ["corrupt", "other-key", "loose-mode", "foreign-owner", "symlink"])
def test_an_untrustworthy_entry_is_ignored_with_a_note(
    cfke_token_file: TokenFile, cfke_fake_sts: FakeSts, cache: Path, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    first = _process(cfke_fake_sts, capsys)[1]
    assert first is not None
    (entry,) = _entries(cache)
    if damage == "corrupt":
        entry.write_text('{"Version": 1, "AccessKeyId": ')
    elif damage == "other-key":
        entry.write_text(json.dumps({**json.loads(entry.read_text()), "Key": "0" * 32}))
    elif damage == "loose-mode":
        entry.chmod(0o644)
    elif damage == "foreign-owner":
        if os.geteuid() != 0:
            pytest.skip("giving the file to another user needs root")
        os.chown(entry, 4321, -1)
    else:
        elsewhere = cache.parent / "planted.json"
        shutil.copy(entry, elsewhere)
        elsewhere.chmod(0o600)
        entry.unlink()
        entry.symlink_to(elsewhere)
    status, output, err = _process(cfke_fake_sts, capsys)
    assert status == 0 and output is not None and output != first, "the untrusted entry was served"
    assert len(cfke_fake_sts.calls) == 2
    assert err.startswith(f"cfke-auth: ignoring the cached credentials {entry}") and err.count("\n") == 1
    assert_no_secrets([str(first["SecretAccessKey"]), str(first["SessionToken"])], err)


def test_a_cache_directory_open_to_others_is_not_used(
    cfke_token_file: TokenFile, cfke_fake_sts: FakeSts, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cache.mkdir(parents=True)
    cache.chmod(0o755)
    for _ in range(2):
        status, output, err = _process(cfke_fake_sts, capsys)
        assert status == 0 and output is not None and "not using the credential cache" in err
    assert len(cfke_fake_sts.calls) == 2 and not _entries(cache)


def test_a_cache_that_cannot_be_written_is_no_cache(
    cfke_token_file: TokenFile,
    cfke_fake_sts: FakeSts,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    home = tmp_path / "home-is-a-file"
    home.write_text("")  # nothing can be created below it, not even by root
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(home))
    for _ in range(2):
        status, output, err = _process(cfke_fake_sts, capsys)
        assert (status, err) == (0, "") and output is not None
    assert len(cfke_fake_sts.calls) == 2


def test_aws_cli_runs_share_one_exchange(cfke_token_file: TokenFile, cfke_moto: MotoServer, tmp_path: Path) -> None:
    """Three ``aws sts get-caller-identity`` through ``credential_process``: one STS exchange (without the cache,
    one per run)."""
    process = f"{sys.executable} -m cfke_auth aws credential-process --role-arn {ROLE}"
    cli = AwsCli(process, tmp_path, endpoint_url=cfke_moto.url, token_path=cfke_token_file.path)
    if cli.binary is None:
        pytest.skip("the AWS CLI (PyPI awscli, in the test extra) is not installed")
    before = cfke_moto.sts_calls
    for _ in range(3):
        done = cli.run("sts", "get-caller-identity")
        assert done.returncode == 0 and json.loads(done.stdout)["Account"] == "123456789012", done.stderr
    assert cfke_moto.sts_calls - before == 1
    assert len(list((tmp_path / ".cache" / "cfke-auth").glob("aws-*.json"))) == 1
