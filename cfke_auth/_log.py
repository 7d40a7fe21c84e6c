"""The ``cfke_auth`` logger, imported on the first line logged: the logging package costs more to import than the
rest of cfke-auth, and a healthy process never logs."""

from __future__ import annotations

from typing import Any

__all__ = ["warning"]


def warning(message: str, *args: Any) -> None:
    """Log ``message % args`` at WARNING on the ``cfke_auth`` logger."""
    import logging

    logging.getLogger("cfke_auth").warning(message, *args)
