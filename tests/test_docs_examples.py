"""The docs' examples run: every ```python block that defines tests is run as a test file against the plugin, and
the self-contained script examples are executed. A docs page whose example breaks fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
#: Script examples that need neither a pod nor a cloud: (page, index of the python block on it).
SCRIPTS = [("engine.md", 0), ("testing.md", 2)]

pytest_plugins = ["pytester"]


def _blocks(page: str) -> list[str]:
    return BLOCK.findall((DOCS / page).read_text())


def _test_blocks() -> list[tuple[str, int]]:
    return [
        (page.name, i)
        for page in sorted(DOCS.glob("*.md"))
        for i, block in enumerate(_blocks(page.name))
        if "def test_" in block
    ]


@pytest.mark.parametrize(("page", "index"), _test_blocks())
def test_documented_tests_pass(page: str, index: int, pytester: pytest.Pytester) -> None:
    pytester.makepyfile(**{f"test_{Path(page).stem.replace('-', '_')}_{index}": _blocks(page)[index]})
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=_blocks(page)[index].count("def test_"))


@pytest.mark.parametrize(("page", "index"), SCRIPTS)
def test_documented_scripts_run(page: str, index: int, capsys: pytest.CaptureFixture[str]) -> None:
    exec(compile(_blocks(page)[index], f"{page}[{index}]", "exec"), {"__name__": "__docs__"})
    assert capsys.readouterr().out
