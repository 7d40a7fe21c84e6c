"""Reading and writing multi-document YAML with ruamel.yaml's round trip, so comments, key order, quoting and the
file's indentation survive ``cfke-auth inject``. ruamel.yaml (the ``inject`` extra) is imported on first use."""

from __future__ import annotations

import io
import re
from collections.abc import MutableMapping, MutableSequence, Sequence
from dataclasses import dataclass
from typing import Any

from .._errors import CfkeAuthError, ConfigurationError

__all__ = ["Layout", "dump", "load"]

_SEPARATOR = re.compile(r"---(\s|$)")


@dataclass(frozen=True)
class Layout:
    """How the input was indented (ruamel's ``mapping``/``sequence``/``offset``), and whether it began with
    ``---``: the output is written the same way."""

    mapping: int = 2
    sequence: int = 4
    offset: int = 2
    explicit_start: bool = False


def _yaml(layout: Layout | None = None) -> Any:
    """A round-trip ``ruamel.yaml.YAML``, or a CfkeAuthError saying how to install it."""
    try:
        from ruamel.yaml import YAML
    except ImportError:
        raise CfkeAuthError("cfke-auth inject needs ruamel.yaml: pip install 'cfke-auth[inject]'") from None
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.brace_single_entry_mapping_in_flow_sequence = True  # keep `[{port: 80}]` as written
    yaml.width = 4096  # never fold a long value (an audience, a role ARN) onto a second line
    if layout is not None:
        yaml.indent(mapping=layout.mapping, sequence=layout.sequence, offset=layout.offset)
        yaml.explicit_start = layout.explicit_start
    return yaml


class _GuessOnly:
    """Stands in for the loader in ruamel's indentation guess, which would otherwise parse a single document."""

    def load(self, _text: str) -> None:
        return None


def _layout(text: str) -> Layout:
    from ruamel.yaml.util import load_yaml_guess_indent

    _, indent, offset = load_yaml_guess_indent(text, yaml=_GuessOnly())
    first = next((line for line in text.splitlines() if line.strip() and not line.startswith("#")), "")
    explicit_start = bool(_SEPARATOR.match(first))
    if indent is None:
        return Layout(explicit_start=explicit_start)
    offset = offset or 0
    return Layout(max(indent - offset, 2), indent, offset, explicit_start)


def load(text: str) -> tuple[list[Any], Layout]:
    """The documents of a YAML stream (None for an empty one) and its layout; ConfigurationError naming the
    document, line and column when the YAML is invalid."""
    yaml = _yaml()
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    documents: list[Any] = []
    try:
        documents.extend(yaml.load_all(text))
    except YAMLError as exc:
        where, problem = "", str(exc)
        if isinstance(exc, MarkedYAMLError):
            problem = exc.problem or exc.context or problem
            mark = exc.problem_mark or exc.context_mark
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = " ".join(problem.split())
        raise ConfigurationError(f"document {len(documents) + 1}: invalid YAML{where}: {problem}") from None
    return documents, _layout(text)


def _literal_blocks(value: Any) -> Any:
    """``value`` with every plain multi-line string (the ConfigMap's JSON) as a literal block, not a quoted line;
    strings read from the input keep their own style."""
    from ruamel.yaml.scalarstring import LiteralScalarString

    if type(value) is str and "\n" in value:
        return LiteralScalarString(value)
    if isinstance(value, MutableMapping):
        for key in value:
            value[key] = _literal_blocks(value[key])
    elif isinstance(value, MutableSequence):
        for index, item in enumerate(value):
            value[index] = _literal_blocks(item)
    return value


def dump(documents: Sequence[Any], layout: Layout | None = None) -> str:
    """The documents as one YAML stream laid out as ``layout``; empty documents are left out. Multi-line plain
    strings in the documents are turned into literal blocks in place."""
    yaml = _yaml(layout or Layout())
    out = io.StringIO()
    yaml.dump_all([_literal_blocks(document) for document in documents if document is not None], out)
    return out.getvalue()
