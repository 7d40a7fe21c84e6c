"""Formatting shared by the commands: durations, JSON, and help text that reads as plain text.

Command descriptions come from module docstrings written in reST; :class:`HelpFormatter` drops the inline markup
(````cfke-auth token````, ``:class:`~cfke_auth.TokenSource```) and keeps paragraphs and bullet lists, which argparse
would otherwise run together into one block.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
from datetime import datetime, timezone
from typing import Any

from ..doctor.findings import duration

__all__ = ["HelpFormatter", "duration", "plain", "print_json", "relative"]

_ROLE = re.compile(r":[a-z]+:`~?([^`<]*?)\s*(?:<[^`>]*>)?`")  # :class:`~a.b.C` -> a.b.C, :ref:`text <x>` -> text
_LITERAL = re.compile(r"``(.+?)``|`([^`]+)`")
_BULLET = re.compile(r"^\s*[*-]\s+")


def plain(text: str) -> str:
    """``text`` without reST inline markup: roles keep their last dotted part, literals lose their backquotes."""
    text = _ROLE.sub(lambda m: m.group(1).rpartition(".")[2] if "~" in m.group(0) else m.group(1), text)
    return _LITERAL.sub(lambda m: m.group(1) or m.group(2), text)


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter over :func:`plain` text, keeping blank-line paragraphs and ``*``/``-`` bullet items."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        blocks: list[str] = []
        for paragraph in re.split(r"\n\s*\n", textwrap.dedent(plain(text)).strip()):
            items: list[str] = []
            for line in paragraph.splitlines():
                if _BULLET.match(line) or not items:
                    items.append(line.strip())
                else:
                    items[-1] += " " + line.strip()
            for item in items:
                bullet = _BULLET.match(item)
                hang = " " * (bullet.end() if bullet else 0)
                words = " ".join(item.split())
                blocks.append(
                    textwrap.fill(
                        words, width, initial_indent=indent, subsequent_indent=indent + hang, break_on_hyphens=False
                    )
                )
            blocks.append("")
        return "\n".join(blocks).rstrip("\n")

    def _split_lines(self, text: str, width: int) -> list[str]:
        return textwrap.wrap(" ".join(plain(text).split()), width, break_on_hyphens=False)


def relative(moment: datetime, now: datetime | None = None) -> str:
    """``moment`` in ISO form with how far it is from ``now``: ``'... (in 59m 3s)'`` or ``'... (2h 1m ago)'``."""
    delta = (moment - (now or datetime.now(timezone.utc))).total_seconds()
    when = f"in {duration(delta)}" if delta >= 0 else f"{duration(delta)} ago"
    return f"{moment.isoformat()} ({when})"


def print_json(value: Any) -> None:
    """Pretty JSON on stdout, keys in a stable order."""
    json.dump(value, sys.stdout, indent=2, sort_keys=True, default=str)
    sys.stdout.write("\n")
