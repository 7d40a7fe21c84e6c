"""The one holder of the projected service-account token for a path.

The kubelet rewrites the token file (atomically, by swapping a ``..data`` symlink) at about 80 % of its lifetime.
:class:`TokenSource` re-reads it when the cached token is past that point, when a cheap ``stat`` shows the file
changed (checked at most every :data:`STAT_INTERVAL` seconds), and after :meth:`TokenSource.invalidate`. Between
those checks, :meth:`TokenSource.token` is one clock read and a comparison.
"""

from __future__ import annotations

import os
import threading
import time
from typing import ClassVar, NamedTuple

from . import _fork, _log
from .claims import TokenClaims, decode_claims
from .errors import (
    TokenEmptyError,
    TokenEncodingError,
    TokenError,
    TokenExpiredError,
    TokenFileNotFoundError,
    TokenIsDirectoryError,
    TokenPermissionError,
    TokenTooLargeError,
)

__all__ = ["DEFAULT_TOKEN_PATH", "MAX_TOKEN_BYTES", "STAT_INTERVAL", "TokenSource", "resolve_token_path"]

DEFAULT_TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount/token"
#: Service-account tokens are a few KiB; anything larger is not one, and is not read into memory.
MAX_TOKEN_BYTES = 64 * 1024
#: How often, at most, the file is stat-ed for a rotation the lifetime schedule did not predict.
STAT_INTERVAL = 5.0
#: Fraction of the token's lifetime after which it is re-read on every stat interval (the kubelet rotates at 80 %).
REFRESH_FRACTION = 0.8


def resolve_token_path(token_path: str | os.PathLike[str] | None = None, env_var: str | None = None) -> str:
    """The token path to use: the argument, then ``env_var`` (a provider's own variable), then ``CFKE_TOKEN_FILE``,
    then the default projected path."""
    if token_path:
        return os.fspath(token_path)
    for name in (env_var, "CFKE_TOKEN_FILE"):
        if name and os.environ.get(name):
            return os.environ[name]
    return DEFAULT_TOKEN_PATH


class _Snapshot(NamedTuple):
    token: str
    claims: TokenClaims
    stat_key: tuple[int, int, int, int]
    refresh_at: float  # wall-clock seconds: past this, re-read instead of trusting stat
    check_at: float  # wall-clock seconds: until this, token() returns without touching the file


def _stat_key(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)


class TokenSource:
    """The service-account token at one path, read lazily and kept fresh; one shared instance per path.

    ``TokenSource(path)`` returns the same object for the same absolute path, so every credential built on a path
    shares one cache and one rotation schedule. ``path=None`` resolves ``CFKE_TOKEN_FILE``, then the default
    projected path. Thread-safe.
    """

    _instances: ClassVar[dict[str, TokenSource]] = {}
    _instances_lock = _fork.guard(threading.Lock())

    path: str
    _snapshot: _Snapshot | None
    _lock: threading.Lock
    _warned_token: str | None

    def __new__(cls, path: str | os.PathLike[str] | None = None) -> TokenSource:
        key = os.path.abspath(resolve_token_path(path))
        with cls._instances_lock:
            source = cls._instances.get(key)
            if source is None:
                source = super().__new__(cls)
                source.path = key
                source._snapshot = None
                source._lock = threading.Lock()
                source._warned_token = None
                _fork.register(source)
                cls._instances[key] = source
            return source

    def __repr__(self) -> str:
        return f"TokenSource(path={self.path!r})"

    def token(self) -> str:
        """The current token. Raises a :class:`~cfke_auth.TokenError` subclass when the file cannot be used."""
        snap = self._snapshot
        if snap is not None and time.time() < snap.check_at:
            return snap.token
        return self._refresh().token

    def claims(self) -> TokenClaims:
        """The current token's claims (decoded, not verified)."""
        snap = self._snapshot
        if snap is not None and time.time() < snap.check_at:
            return snap.claims
        return self._refresh().claims

    def invalidate(self) -> None:
        """Forget the cached token, so the next call re-reads the file; for when a provider rejected it as expired."""
        with self._lock:
            self._snapshot = None

    def _after_fork(self) -> None:
        self._lock = threading.Lock()

    def _refresh(self) -> _Snapshot:
        with self._lock:
            now = time.time()
            snap = self._snapshot
            if snap is not None and now < snap.check_at:
                return snap  # another thread refreshed while we waited
            st = self._stat()
            if snap is not None and now < snap.refresh_at and _stat_key(st) == snap.stat_key:
                snap = _Snapshot(snap.token, snap.claims, snap.stat_key, snap.refresh_at, now + STAT_INTERVAL)
            else:
                snap = self._read(st, now)
            self._snapshot = snap
            return snap

    def _stat(self) -> os.stat_result:
        try:
            return os.stat(self.path)
        except OSError as exc:
            raise self._os_error(exc) from None

    def _os_error(self, exc: OSError) -> TokenError:
        path = self.path
        if isinstance(exc, FileNotFoundError):
            return TokenFileNotFoundError(
                f"token file {path} does not exist: is the service-account token volume mounted there?",
                path=path,
            )
        if isinstance(exc, PermissionError):
            return TokenPermissionError(
                f"token file {path} is not readable by this process (uid {os.getuid()}): check the volume's "
                "defaultMode or the pod's fsGroup",
                path=path,
            )
        if isinstance(exc, IsADirectoryError):
            return TokenIsDirectoryError(
                f"token path {path} is a directory: point at the token file inside it", path=path
            )
        return TokenError(f"token file {path} cannot be read: {exc.strerror or type(exc).__name__}", path=path)

    def _read(self, st: os.stat_result, now: float) -> _Snapshot:
        path = self.path
        try:
            with open(path, "rb") as fh:  # opened afresh every time: the kubelet swaps the file underneath
                raw = fh.read(MAX_TOKEN_BYTES + 1)
                st = os.fstat(fh.fileno())
        except OSError as exc:
            raise self._os_error(exc) from None
        if len(raw) > MAX_TOKEN_BYTES:
            raise TokenTooLargeError(
                f"token file {path} is larger than {MAX_TOKEN_BYTES} bytes: not a service-account token",
                path=path,
            )
        try:
            token = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise TokenEncodingError(f"token file {path} is not UTF-8 text: not a JWT", path=path) from None
        if not token:
            raise TokenEmptyError(f"token file {path} is empty: the kubelet has not written a token yet", path=path)
        claims = decode_claims(token, path)
        expires = claims.expires_at.timestamp()
        if expires <= now:
            raise TokenExpiredError(
                f"token file {path} holds a token that expired at {claims.expires_at.isoformat()} "
                f"({now - expires:.0f} s ago): the kubelet is no longer rotating it",
                path=path,
            )
        end = claims.lifetime_end.timestamp()
        start = claims.issued_at.timestamp() if claims.issued_at else min(now, end)
        refresh_at = start + REFRESH_FRACTION * max(end - start, 0.0)
        if now >= end:
            self._warn_stale(token, now - end)
        return _Snapshot(token, claims, _stat_key(st), refresh_at, now + STAT_INTERVAL)

    def _warn_stale(self, token: str, overdue: float) -> None:
        if token == self._warned_token:
            return
        self._warned_token = token
        _log.warning(
            "token file %s still holds a token %.0f s past its freshness limit (warnafter/exp); "
            "the kubelet should have rotated it by now",
            self.path,
            overdue,
        )
