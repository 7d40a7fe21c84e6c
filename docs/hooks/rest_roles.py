"""griffe extension for the API reference: the docstrings are reST (``literal``, :class:`~cfke_auth.TokenSource`),
mkdocstrings renders Markdown. Roles and double-backquoted literals become code (a role shows the name it names,
its last dotted part with ``~``); no link, since many name private modules the reference does not render."""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:class|func|meth|mod|data|attr|exc|obj):`(~?)([^`<]+?)(?:\s*<([^`>]+)>)?`")
_LITERAL = re.compile(r"``(.+?)``")


def _reference(match: re.Match[str]) -> str:
    short, target, explicit = match.group(1), match.group(2).strip(), match.group(3)
    if explicit:  # :ref:`text <target>`
        return f"`{target}`"
    return f"`{target.rpartition('.')[2] if short else target.lstrip('.')}`"


def markdown(text: str) -> str:
    """reST inline markup as Markdown."""
    return _LITERAL.sub(lambda m: f"`{m.group(1)}`", _ROLE.sub(_reference, text))


class RestRoles(griffe.Extension):
    """Rewrite each docstring once, when griffe has loaded the object."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)
