"""A per-user cache for ``cfke-auth aws credential-process``, so short-lived callers stop exchanging on every run.

The AWS CLI starts the credential process afresh in every invocation (it caches nothing for ``credential_process``),
so five ``aws`` commands would be five STS calls. The credentials are kept in ``$XDG_CACHE_HOME/cfke-auth`` (else
``~/.cache/cfke-auth``): the directory 0700, each file 0600 and replaced atomically, named by a hash of everything
that selects the credential (role, session name, duration, STS endpoint, the token's issuer and subject). A cached
credential is served while at least :data:`MIN_LEFT` seconds remain -- below that the AWS CLI would refresh it at
once. A file that is corrupt, someone else's, or readable by others is ignored and said so on stderr, never trusted;
a cache that cannot be written (a read-only home) is no cache, not a failure.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._claims import TokenClaims
from .._protocol import timestamp
from .settings import AwsSettings, default_session_name

__all__ = ["MIN_LEFT", "CredentialCache", "cache_dir", "cache_key"]

#: The AWS CLI (botocore) refreshes credentials with less than 15 minutes left: only more is worth serving.
MIN_LEFT = 900.0
_FIELDS = ("AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration")
_MAX_BYTES = 16 * 1024


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/cfke-auth``, else ``~/.cache/cfke-auth``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "cfke-auth"


def cache_key(settings: AwsSettings, claims: TokenClaims | None) -> str:
    """A name for everything that selects the credential: another role, session, duration, endpoint or pod
    identity is another file."""
    selects = [
        settings.role_arn,
        settings.session_name or default_session_name(claims),
        settings.duration_seconds,
        settings.endpoint,
        claims.issuer if claims else None,
        claims.subject if claims else None,
    ]
    return hashlib.sha256(json.dumps(selects).encode()).hexdigest()[:32]


def _note(message: str) -> None:
    print(f"cfke-auth: {message}", file=sys.stderr)


def _private(info: os.stat_result) -> bool:
    return info.st_uid == os.geteuid() and not info.st_mode & 0o077


class CredentialCache:
    """The cache in ``directory``; ``note`` says on stderr why an entry or the directory was not trusted."""

    def __init__(self, directory: Path | None = None, note: Callable[[str], None] = _note) -> None:
        self.directory = directory or cache_dir()
        self._note = note

    def _usable_dir(self) -> bool:
        """Create the directory (0700) if need be; False, quietly, when it cannot be (a read-only home), and with
        a note when it is not this user's alone."""
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            info = self.directory.lstat()
        except OSError:
            return False
        if not stat.S_ISDIR(info.st_mode) or not _private(info):
            self._note(f"not using the credential cache {self.directory}: it must be a directory of yours, mode 0700")
            return False
        return True

    def load(self, key: str, now: float) -> dict[str, Any] | None:
        """The ``credential_process`` output cached under ``key`` if it can be trusted and has at least
        :data:`MIN_LEFT` seconds left; None otherwise."""
        if not self._usable_dir():
            return None
        path = self.directory / f"aws-{key}.json"
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            return None
        except OSError:
            self._note(f"ignoring the cached credentials {path}: not a regular file")
            return None
        with os.fdopen(fd, "rb") as file:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or not _private(info):
                self._note(f"ignoring the cached credentials {path}: not yours alone (they must be mode 0600)")
                return None
            data = file.read(_MAX_BYTES + 1)
        output = self._parse(data, key)
        if output is None:
            self._note(f"ignoring the cached credentials {path}: not a credential this command wrote")
            return None
        expires_at = timestamp(output["Expiration"])
        return output if expires_at is not None and expires_at - now >= MIN_LEFT else None

    @staticmethod
    def _parse(data: bytes, key: str) -> dict[str, Any] | None:
        if len(data) > _MAX_BYTES:
            return None
        try:
            entry = json.loads(data)
        except (ValueError, RecursionError):
            return None
        if not isinstance(entry, dict) or entry.get("Key") != key or entry.get("Version") != 1:
            return None
        if not all(isinstance(entry.get(name), str) and entry[name] for name in _FIELDS):
            return None
        if timestamp(entry["Expiration"]) is None:
            return None
        return {"Version": 1, **{name: entry[name] for name in _FIELDS}}

    def store(self, key: str, output: dict[str, Any]) -> None:
        """Cache ``output`` under ``key``: a new 0600 file renamed over the old one, so a concurrent reader sees
        one or the other. Quietly nothing when the directory cannot be written."""
        if not self._usable_dir():
            return
        tmp: str | None = None
        try:
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".aws-", suffix=".tmp")  # created 0600
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump({**output, "Key": key}, out)
            os.replace(tmp, self.directory / f"aws-{key}.json")
        except OSError:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
