"""mkdocs hook: the header shows the version of cfke-auth, read from cfke_auth/_version.py (its one source)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

_VERSION = Path(__file__).resolve().parents[2] / "cfke_auth" / "_version.py"


def version() -> str:
    """``__version__`` as cfke_auth/_version.py assigns it, read as text: building the docs imports nothing."""
    found = re.search(r"""^__version__\s*=\s*["']([^"']+)["']""", _VERSION.read_text(encoding="utf-8"), re.MULTILINE)
    if found is None:
        raise ValueError(f"{_VERSION} assigns no __version__")
    return found.group(1)


def on_config(config: Any) -> Any:
    """Show "cfke-auth X.Y.Z" beside the repository link in the header."""
    config["repo_name"] = f"{config['repo_name']} {version()}"
    return config
