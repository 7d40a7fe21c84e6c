"""Reading STS's XML answers: namespace-blind lookups over a document that may not declare entities.

STS answers in the ``https://sts.amazonaws.com/doc/2011-06-15/`` namespace, emulators sometimes in none; lookups
here match local names only. The body must be UTF-8 (STS's only encoding) and a document with a ``<!DOCTYPE`` is
refused before parsing, so no entity can be declared or expanded (STS never sends one) -- not even one hidden in
another encoding -- which makes the standard library's parser safe for this input.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

__all__ = ["child", "local_name", "parse", "text"]


def parse(body: bytes) -> ET.Element | None:
    """The root element of ``body``, or None when it is not a DOCTYPE-free UTF-8 XML document."""
    try:
        document = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if "<!DOCTYPE" in document.upper():
        return None
    try:
        return ET.fromstring(document)  # noqa: S314 - decoded text without a DOCTYPE: no entities
    except ET.ParseError:
        return None


def local_name(element: ET.Element) -> str:
    """The tag without its ``{namespace}``."""
    return element.tag.rpartition("}")[2]


def child(element: ET.Element | None, name: str) -> ET.Element | None:
    """The first child of ``element`` called ``name`` (any namespace)."""
    if element is None:
        return None
    for sub in element:
        if local_name(sub) == name:
            return sub
    return None


def text(element: ET.Element | None, *path: str) -> str | None:
    """The stripped text at ``path`` below ``element`` (child names, any namespace), or None when absent/empty."""
    for name in path:
        element = child(element, name)
    if element is None or element.text is None:
        return None
    return element.text.strip() or None
