"""The command line as a whole: no input ends in a traceback, exit statuses mean one thing everywhere (0 ok, 1 a
failure, 2 usage), ``--version``, ``--json`` errors are JSON, and the help is plain text with every option explained."""

from __future__ import annotations

import base64
import json
import os
import pkgutil
import re
import subprocess
import sys
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cfke_auth.cli
from cfke_auth import __version__
from cfke_auth.cli import main
from cfke_auth.testing import TokenFile

BIN = Path(sys.executable).parent / "cfke-auth"
COMMANDS = sorted(m.name for m in pkgutil.iter_modules(cfke_auth.cli.__path__) if not m.name.startswith("_"))


def _run(*argv: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN), *argv], capture_output=True, text=True, timeout=60, check=False, **kwargs)


def _help(*argv: str, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--help"])
    assert exited.value.code == 0
    return capsys.readouterr().out


def _subcommands(text: str) -> list[str]:
    """The names listed under a help text's ``subcommands:`` heading."""
    _, _, section = text.partition("\nsubcommands:\n")
    return re.findall(r"^    ([a-z][a-z-]+)", section, re.MULTILINE)


def _options_without_help(text: str) -> list[str]:
    """Options whose entry in a help text has no explanation after the flag (argparse prints nothing there)."""
    lines = text.splitlines()
    bare = []
    for i, line in enumerate(lines):
        entry = re.match(r"^  (-[-\w]+(?:[ ,][^ ].*?)?)(?:  +(\S.*))?$", line)
        if entry and not entry.group(2):
            following = lines[i + 1] if i + 1 < len(lines) else ""
            if not re.match(r"^ {6,}\S", following):
                bare.append(entry.group(1))
    return bare


def _every_help(capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    texts = {"": _help(capsys=capsys)}
    for command in COMMANDS:
        texts[command] = _help(command, capsys=capsys)
        for sub in _subcommands(texts[command]):
            texts[f"{command} {sub}"] = _help(command, sub, capsys=capsys)
    return texts


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"cfke-auth {__version__}\n"


def test_help_is_plain_text_and_explains_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    texts = _every_help(capsys)
    assert {"aws trust-policy", "gcp principal", "azure token-volume", "doctor", "token"} <= set(texts)
    for name, text in texts.items():
        assert not re.search(r"``|:(class|func|meth|mod|data|attr):|`", text), f"reST markup in `{name} --help`"
        assert _options_without_help(text) == [], f"options without help in `{name} --help`"
        assert "--path" not in text, "the deprecated --path is hidden"
    assert "\n* trust-policy prints the role trust policy" in texts["aws"]  # a bullet list stays a list


def test_the_help_checker_catches_a_bare_option() -> None:
    text = "options:\n  -h, --help  show\n  --client-id ID\n  --tenant-id ID\n            the tenant\n"
    assert _options_without_help(text) == ["--client-id ID"]


def test_the_deprecated_path_flag_still_works(cfke_token_file: TokenFile, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "--json", "--path", cfke_token_file.path]) == 0
    assert json.loads(capsys.readouterr().out)["path"] == cfke_token_file.path


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["nonsense"], ["token", "--no-such-flag"], ["aws"], ["aws", "trust-policy"]):
        with pytest.raises(SystemExit) as exited:
            main(argv)
        assert exited.value.code == 2, argv
    capsys.readouterr()


def test_audience_without_verify_is_refused(cfke_token_file: TokenFile, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "--audience", "sts.amazonaws.com"]) == 2
    assert "--audience is checked only with --verify" in capsys.readouterr().err


@pytest.mark.cfke_token(audience="sts.amazonaws.com")
def test_a_failed_verify_names_the_expected_and_the_actual_audience(
    cfke_token_file: TokenFile, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["token", "--verify", "--audience", "api://AzureADTokenExchange"]) == 1
    err = capsys.readouterr().err
    assert "expected 'api://AzureADTokenExchange'; the token's audiences are ['sts.amazonaws.com']" in err
    assert main(["token", "--verify", "--audience", "other", "--json"]) == 1
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["reason"] == "unverified"
    assert "the token's audiences are ['sts.amazonaws.com']" in error["message"]


def test_token_json_errors_are_json(tmp_path: Path) -> None:
    result = _run("token", "--json", "--token-path", str(tmp_path / "missing"))
    assert result.returncode == 1
    error = json.loads(result.stdout)["error"]
    assert (error["reason"], error["path"]) == ("not-found", str(tmp_path / "missing"))
    assert "does not exist" in error["message"]
    assert "Traceback" not in result.stderr


def test_a_closed_stdout_is_no_traceback(cfke_token_file: TokenFile) -> None:
    with subprocess.Popen([str(BIN), "token", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()  # nobody reads: the first write fails with EPIPE
        err = process.stderr.read().decode()
        assert process.wait(timeout=60) == 1
    assert err == ""
    piped = subprocess.run(
        f"'{BIN}' token --json | head -1", shell=True, capture_output=True, text=True, timeout=60, check=False
    )
    assert (piped.returncode, piped.stdout, piped.stderr) == (0, "{\n", "")


@pytest.mark.parametrize("where", ["missing-directory", "a-directory"])
def test_an_output_that_cannot_be_written_is_one_line(where: str, tmp_path: Path, cfke_token_file: TokenFile) -> None:
    output = tmp_path / "nonexistent" / "x.json" if where == "missing-directory" else tmp_path
    result = _run(
        "gcp", "cred-config", "--pool", "cfke", "--provider", "cfke", "--project-number", "123456789012",
        "--output", str(output),
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and str(output) in result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
_CLAIMS = st.fixed_dictionaries(
    {},
    optional={
        name: _JSON | st.just(value)
        for name, value in {
            "iss": "https://api.cloudfleet.ai/v1/clusters/0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d",
            "sub": "system:serviceaccount:shop:checkout",
            "aud": ["sts.amazonaws.com"],
            "exp": 4102444800,
            "iat": 1700000000,
            "nbf": 1700000000,
            "kubernetes.io": {"namespace": "shop", "serviceaccount": {"name": "checkout"}, "warnafter": 1700003607},
        }.items()
    },
)
_FILES = count()


def _jwt(claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256', 'kid': 'k'})}.{part(claims)}.c2ln"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(claims=_CLAIMS)
def test_no_token_content_ends_in_a_traceback(
    claims: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / f"token-{next(_FILES)}"
    path.write_text(_jwt(claims))
    for name in [n for n in os.environ if n.startswith(("AWS_", "AZURE_", "GOOGLE_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CFKE_TOKEN_FILE", str(path))
    for argv in (
        ["token"],
        ["token", "--json"],
        ["doctor", "--offline"],
        ["aws", "trust-policy", "--account-id", "123456789012"],
        ["azure", "token-volume"],
        ["gcp", "principal", "--pool", "cfke", "--provider", "cfke", "--project-number", "123456789012"],
    ):
        assert main(argv) in (0, 1, 2), argv
        assert "internal error" not in capsys.readouterr().err, argv
