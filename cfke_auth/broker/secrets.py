"""The per-protocol secrets: random values in files only the broker's user can read, compared in constant time.

The AWS container protocol sends the content of ``AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`` as ``Authorization``,
the App Service managed-identity protocol sends ``IDENTITY_HEADER`` as ``X-IDENTITY-HEADER``. Each protocol gets its
own secret, written 0600 (without a newline: both AWS SDKs refuse one in a header value) to a directory the app
containers share, such as an ``emptyDir``. A valid secret already there is kept, so a restarted broker (a native
sidecar restarts in place) goes on accepting the app containers that read the old one; anything else there -- a
file of another user's, readable by others, or not a secret this module wrote -- is replaced.
"""

from __future__ import annotations

import hmac
import os
import re
import secrets
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .._errors import ConfigurationError

__all__ = ["AWS_SECRET", "AZURE_SECRET", "Secret", "load_or_create"]

#: File names of the secrets inside the secrets directory.
AWS_SECRET = "aws-container-authorization-token"
AZURE_SECRET = "azure-identity-header"

_VALUE = re.compile(r"[A-Za-z0-9_-]{43}")  # what secrets.token_urlsafe(32) gives
_MAX_READ = 256


@dataclass(frozen=True)
class Secret:
    """One protocol's secret and the file that holds it. Its repr shows the path, never the value."""

    path: Path
    value: str = field(repr=False)

    def matches(self, given: str | None) -> bool:
        """Whether a request presented this secret, in time independent of where the two differ."""
        if given is None:
            return False
        return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), self.value.encode())


def _existing(path: Path) -> str | None:
    """The secret at ``path`` if it is one to trust: a regular file of this user's, private, holding a value of
    the form this module writes. None otherwise (it is then replaced)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
            return None
        data = os.read(fd, _MAX_READ)
    finally:
        os.close(fd)
    text = data.decode("ascii", "replace")
    return text if _VALUE.fullmatch(text) else None


def _write(path: Path, value: str) -> None:
    """Write ``value`` to ``path`` atomically, mode 0600: readers see the old file or the new one, never a part."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # created 0600
    try:
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(value)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_or_create(directory: Path, name: str) -> Secret:
    """The secret ``name`` in ``directory``: the one there if it can be trusted, else a new random one written
    there. A directory that cannot be created or written is a ConfigurationError naming it."""
    path = directory / name
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        value = _existing(path)
        if value is None:
            value = secrets.token_urlsafe(32)
            _write(path, value)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot write the broker's secrets to {directory} ({exc.strerror or type(exc).__name__}): "
            "give --secrets-dir a writable directory shared with the app containers, such as an emptyDir"
        ) from None
    return Secret(path, value)
