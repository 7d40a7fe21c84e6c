"""Every code block in docs/ runs, is checked, or is listed as not runnable here with its reason.

How a block is tested is said by an HTML comment (invisible on the site) on the last non-blank line above its
opening fence::

    <!-- docs-test: MODE -->

=================  ==============  ===========================================================================
MODE               blocks          what this test does with it
=================  ==============  ===========================================================================
``pytest``         python          run as a test file against the pytest plugin; all its tests must pass
                                   (the default for a python block that defines ``def test_``)
``script``         python          run as a script with the loopback environment below; it must not raise
``run``            bash, console   run each command with the loopback environment, in a scratch directory the
                                   page's blocks share; each must exit 0 (``run exit=N``: with status N). Only
                                   ``cfke-auth``, ``aws`` (against moto), ``export``, ``cat`` and ``echo``
                                   commands may appear. In a console block the lines after ``$ command`` are
                                   its expected output
``output [FILE]``  any             the expected output of the page's last ``run`` block (or FILE's content):
                                   compared line by line, ``...`` matching any text, JSON compared as data
``file NAME``      any             written to NAME in the scratch directory, for a later ``run`` block
``manifest``       yaml            every document validated with kubernetes-validate (strict, the newest schemas)
                                   (the default for a yaml block with ``apiVersion:`` and ``kind:``)
``pod-spec``       yaml            validated as the ``spec`` of a Pod (a fragment; containers added if absent)
``skip: REASON``   any             not run here (``kubectl``, ``gcloud``, ``az``, a real cloud): the reason is
                                   required, and ``pytest -rs`` lists the block with it
=================  ==============  ===========================================================================

Any other block fails :func:`test_every_block_is_classified`, so a new page or section cannot slip by untested.

The loopback environment: ``CFKE_TOKEN_FILE`` (and ``AWS_WEB_IDENTITY_TOKEN_FILE``) hold a token of
``system:serviceaccount:shop:checkout`` in pod ``checkout-7d9f8-x2x4q`` from the issuer
``https://api.cloudfleet.ai/v1/clusters/0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d`` (the default extended token, so
its audience is that issuer; ``AWS_TOKEN_FILE`` in a command names one with audience ``sts.amazonaws.com``);
every AWS endpoint is moto's server (``AWS_ENDPOINT_URL``, test credentials); no other variable of a cloud is set.
Commands that need a reachable issuer (``--verify``, ``doctor`` without ``--offline``) are not runnable here.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from cfke_auth.testing import MotoServer, OidcIssuer, TokenFile

DOCS = Path(__file__).resolve().parent.parent / "docs"
BIN = Path(sys.executable).parent
ISSUER = "https://api.cloudfleet.ai/v1/clusters/0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"
KUBERNETES = kubernetes_validate.latest_version()
RUNNABLE = {"cfke-auth", "aws", "export", "cat", "echo"}
_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_MARKER = re.compile(r"(?:\A|\n)<!--\s*docs-test:\s*([^\n]*?)\s*-->\Z")

pytest_plugins = ["pytester"]


@dataclass(frozen=True)
class Block:
    """One fenced code block: where it is, its language, its text, and how it is tested."""

    page: str
    index: int
    line: int
    language: str
    text: str
    mode: str
    argument: str

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def _mode(language: str, text: str, marker: str | None) -> tuple[str, str]:
    if marker:
        mode, _, argument = marker.partition(":" if marker.startswith("skip") else " ")
        return mode.strip(), argument.strip()
    if language == "python" and "def test_" in text:
        return "pytest", ""
    if language == "yaml" and re.search(r"^apiVersion:", text, re.MULTILINE) and re.search(r"^kind:", text, re.M):
        return "manifest", ""
    return "", ""


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of ``page``, each with the mode its marker (or the defaults) gives it."""
    source = page.read_text()
    found = []
    for index, fence in enumerate(_FENCE.finditer(source)):
        before = source[: fence.start()].rstrip()
        marker = _MARKER.search(before)
        language, text = fence.group(1), fence.group(2)
        mode, argument = _mode(language, text, marker.group(1) if marker else None)
        line = source.count("\n", 0, fence.start()) + 1
        found.append(Block(page.name, index, line, language, text, mode, argument))
    return found


ALL = [block for page in sorted(DOCS.glob("*.md")) for block in blocks(page)]


def _of(mode: str) -> list[Block]:
    return [pytest.param(b, id=b.id) for b in ALL if b.mode == mode]  # type: ignore[misc]


def test_every_block_is_classified() -> None:
    known = {"pytest", "script", "run", "output", "file", "manifest", "pod-spec", "skip"}
    wrong = [f"{b.id} ({b.language or 'no language'})" for b in ALL if b.mode not in known]
    assert not wrong, f"blocks without a <!-- docs-test: MODE --> marker (see {Path(__file__).name}): {wrong}"
    assert not [b.id for b in ALL if b.mode == "skip" and not b.argument], "a skip needs its reason"
    assert len(ALL) > 40  # the parser found the pages' blocks


# -- pytest and script blocks ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("block", _of("pytest"))
def test_documented_tests_pass(block: Block, pytester: pytest.Pytester) -> None:
    pytester.makepyfile(**{f"test_{Path(block.page).stem.replace('-', '_')}_{block.index}": block.text})
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=block.text.count("def test_"))


@pytest.mark.parametrize("block", _of("skip"))
def test_blocks_not_runnable_here(block: Block) -> None:
    pytest.skip(f"docs/{block.id}: {block.argument}")


# -- the loopback environment for scripts and commands --------------------------------------------------------------


@pytest.fixture(scope="module")
def issuer() -> Iterator[OidcIssuer]:
    with OidcIssuer(issuer=ISSUER) as running:  # nothing fetches its documents: the iss is what matters
        yield running


@pytest.fixture
def scratch(
    issuer: OidcIssuer, cfke_moto: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """The environment commands and scripts run with (see the module docstring), and their working directory."""
    pod = {"namespace": "shop", "service_account": "checkout", "pod_name": "checkout-7d9f8-x2x4q"}
    default = TokenFile(tmp_path / "serviceaccount", issuer, extended=True, **pod)
    aws = TokenFile(tmp_path / "aws", issuer, audience="sts.amazonaws.com", **pod)
    default.rotate()
    aws.rotate()
    (tmp_path / "empty").write_text("")
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AZURE_", "GOOGLE_", "CFKE_"))}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env['PATH']}",
        HOME=str(tmp_path),
        CFKE_TOKEN_FILE=default.path,
        AWS_TOKEN_FILE=aws.path,
        AWS_ENDPOINT_URL=cfke_moto.url,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=str(tmp_path / "empty"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "empty"),
        WORK=str(work),
    )
    return env


def _page_blocks(page: str) -> list[Block]:
    return [b for b in ALL if b.page == page]


def _commands(block: Block) -> list[tuple[str, str]]:
    """``(command, expected output)`` pairs: a bash block is one script; a console block's ``$`` lines each."""
    if block.language != "console":
        return [(block.text, "")]
    pairs: list[tuple[str, list[str]]] = []
    for line in block.text.splitlines():
        if line.startswith("$ "):
            pairs.append((line[2:], []))
        elif pairs:
            pairs[-1][1].append(line)
    return [(command, "\n".join(out)) for command, out in pairs]


def _programs(script: str) -> set[str]:
    """The programs a shell script runs: the first word of every pipeline stage (variable assignments skipped)."""
    lexer = shlex.shlex(script.replace("\\\n", " "), posix=True, punctuation_chars="|&;\n")
    lexer.whitespace, lexer.whitespace_split, lexer.commenters = " \t\r", True, "#"
    programs, starts = set(), True
    for token in lexer:
        if set(token) <= set("|&;\n"):
            starts = True
        elif starts and not re.fullmatch(r"[A-Za-z_]\w*=.*", token, re.DOTALL):
            programs.add(token)
            starts = False
    return programs


def _matches(expected: str, actual: str) -> bool:
    """``expected`` with ``...`` standing for any text (within a line or whole lines), trailing blanks ignored."""
    if expected.lstrip().startswith(("{", "[")):
        try:
            return bool(json.loads(expected) == json.loads(actual))
        except ValueError:
            pass
    pattern = ".*?".join(re.escape(part) for part in _tidy(expected).split("..."))
    return re.fullmatch(pattern, _tidy(actual), re.DOTALL) is not None


def _tidy(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines())


def _run(command: str, env: dict[str, str], exit_status: int) -> str:
    result = subprocess.run(
        ["bash", "-e", "-c", command],
        cwd=env["WORK"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == exit_status, f"{command!r} exited {result.returncode}: {result.stderr}"
    assert "Traceback" not in result.stderr
    return result.stdout


@pytest.mark.parametrize("page", sorted({b.page for b in ALL if b.mode in ("run", "script")}))
def test_documented_commands_run(page: str, scratch: dict[str, str]) -> None:
    """The page's run, output, file and script blocks, in page order, sharing one scratch directory."""
    last = ""
    for block in _page_blocks(page):
        where = f"docs/{block.id}"
        if block.mode == "file":
            (Path(scratch["WORK"]) / block.argument).write_text(block.text)
            if block.language == "yaml" and _mode(block.language, block.text, None)[0] == "manifest":
                for document in yaml.safe_load_all(block.text):
                    _validate(document, where)
        elif block.mode == "run":
            programs = _programs("\n".join(command for command, _ in _commands(block)))
            assert programs <= RUNNABLE, f"{where} runs {sorted(programs - RUNNABLE)}: mark it `skip: REASON`"
            status = int(block.argument.partition("exit=")[2] or 0)
            for command, expected in _commands(block):
                last = _run(command, scratch, status)
                assert not expected or _matches(expected, last), f"{where}: `{command}` printed\n{last}"
        elif block.mode == "output":
            actual = (Path(scratch["WORK"]) / block.argument).read_text() if block.argument else last
            assert _matches(block.text, actual), f"{where} differs from what was printed:\n{actual}"
        elif block.mode == "script":
            _run(f"{sys.executable} - <<'EOF'\n{block.text}\nEOF", scratch, 0)


# -- Kubernetes manifests -------------------------------------------------------------------------------------------


def _validate(document: dict[str, typing.Any], where: str) -> None:
    try:
        kubernetes_validate.validate(document, KUBERNETES, strict=True)
    except kubernetes_validate.ValidationError as exc:
        raise AssertionError(f"{where}: {exc.message} at {'.'.join(map(str, exc.path))}") from None


@pytest.mark.parametrize("block", _of("manifest"))
def test_documented_manifests_are_valid(block: Block) -> None:
    documents = [d for d in yaml.safe_load_all(block.text) if d is not None]
    assert documents
    for document in documents:
        _validate(document, f"docs/{block.id}")


@pytest.mark.parametrize("block", _of("pod-spec"))
def test_documented_pod_specs_are_valid(block: Block) -> None:
    spec = yaml.safe_load(block.text)
    spec = spec["spec"] if list(spec) == ["spec"] else spec  # a Pod's `spec:` quoted with its key
    spec.setdefault("containers", [{"name": "app", "image": "registry.example.com/app:1.0"}])
    _validate({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "example"}, "spec": spec}, f"docs/{block.id}")


# -- the API reference covers every public name ---------------------------------------------------------------------


def test_the_api_reference_names_every_public_name() -> None:
    import cfke_auth.testing.plugin

    api = (DOCS / "api.md").read_text()
    missing = [f"cfke_auth.{n}" for n in cfke_auth.__all__ if f"::: cfke_auth.{n}\n" not in api]
    missing += [
        f"cfke_auth.testing.{n}" for n in cfke_auth.testing.__all__ if f"::: cfke_auth.testing.{n}\n" not in api
    ]
    assert not missing, "add them to docs/api.md"
    fixtures = [n for n in vars(cfke_auth.testing.plugin) if n.startswith("cfke_")]
    assert fixtures and all(f"        - {n}\n" in api for n in fixtures)
    assert all(f"| `{reason}` |" in api for reason in typing.get_args(cfke_auth.TokenErrorReason))
