"""The one holder of the projected service-account token for a path, and the protocol any token source meets.

The kubelet rewrites the token file (atomically, by swapping a ``..data`` symlink) at about 80 % of its lifetime.
:class:`TokenSource` re-reads it when the cached token is past that point, when a cheap ``stat`` shows the file
changed (checked at most every :data:`STAT_INTERVAL` seconds), and after :meth:`TokenSource.invalidate`. Between
those checks, :meth:`TokenSource.token` is two clock reads and two comparisons.

Exchanges only need a :class:`SubjectTokenSource`: ``token()`` and ``invalidate()``. Pass your own to any
``get_*`` function to supply the subject token another way (google-auth's ``SubjectTokenSupplier`` is the model).
"""

from __future__ import annotations

import os
import stat
import threading
import weakref
from typing import ClassVar, NamedTuple, Protocol, runtime_checkable

from . import _fork, _log
from ._claims import TokenClaims, decode_claims
from ._clock import SYSTEM_CLOCK, Clock
from ._errors import ConfigurationError, TokenError

__all__ = [
    "DEFAULT_TOKEN_PATH",
    "MAX_TOKEN_BYTES",
    "STAT_INTERVAL",
    "SubjectTokenSource",
    "TokenSource",
    "resolve_token_path",
    "subject_token_source",
]

DEFAULT_TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount/token"
#: Service-account tokens are a few KiB; anything larger is not one, and is not read into memory.
MAX_TOKEN_BYTES = 64 * 1024
#: How often, at most, the file is stat-ed for a rotation the lifetime schedule did not predict.
STAT_INTERVAL = 5.0
#: Fraction of the token's lifetime after which it is re-read on every stat interval (the kubelet rotates at 80 %).
REFRESH_FRACTION = 0.8
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


@runtime_checkable
class SubjectTokenSource(Protocol):
    """Where an exchange gets the token it presents: ``token()`` returns it (raising a
    :class:`~cfke_auth.TokenError` when there is none), ``invalidate()`` forgets a cached one after a provider
    refused it as expired. :class:`TokenSource` is the file-backed implementation."""

    def token(self) -> str:
        """The current subject token."""
        ...

    def invalidate(self) -> None:
        """Forget any cached token, so the next ``token()`` fetches it afresh."""
        ...


def resolve_token_path(token_path: str | os.PathLike[str] | None = None, env_var: str | None = None) -> str:
    """The token path to use: the argument, then ``env_var`` (a provider's own variable), then ``CFKE_TOKEN_FILE``,
    then the default projected path."""
    if token_path:
        return os.fspath(token_path)
    for name in (env_var, "CFKE_TOKEN_FILE"):
        if name and os.environ.get(name):
            return os.environ[name]
    return DEFAULT_TOKEN_PATH


def subject_token_source(
    token_path: str | os.PathLike[str] | None, token_source: SubjectTokenSource | None, env_var: str | None = None
) -> SubjectTokenSource:
    """Where an exchange reads its subject token: ``token_source`` as given, else the shared :class:`TokenSource`
    of ``token_path`` (resolved through ``env_var``, ``CFKE_TOKEN_FILE`` and the default path)."""
    if token_source is None:
        return TokenSource(resolve_token_path(token_path, env_var))
    if token_path:
        raise ConfigurationError("pass token_path or token_source, not both")
    if not isinstance(token_source, SubjectTokenSource):
        raise ConfigurationError(
            f"token_source must have token() and invalidate() methods (a SubjectTokenSource), not "
            f"{type(token_source).__name__}"
        )
    return token_source


class _Snapshot(NamedTuple):
    token: str
    claims: TokenClaims
    stat_key: tuple[int, int, int, int]
    refresh_at: float  # wall clock: past this, re-read instead of trusting stat
    check_at: float  # wall clock: until this (and check_mono), token() returns without touching the file
    check_mono: float  # monotonic twin of check_at: a wall clock stepped back cannot stop the checks


def _stat_key(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)


class TokenSource:
    """The service-account token at one path, read lazily and kept fresh; one shared instance per path.

    ``TokenSource(path)`` returns the same object for the same absolute path (and clock) while it is in use, so
    every credential built on a path shares one cache and one rotation schedule. ``path=None`` resolves
    ``CFKE_TOKEN_FILE``, then the default projected path. ``clock`` is for tests. Thread-safe.
    """

    _instances: ClassVar[weakref.WeakValueDictionary[tuple[str, int], TokenSource]] = weakref.WeakValueDictionary()
    _instances_lock = _fork.guard(threading.Lock())

    path: str
    _clock: Clock
    _snapshot: _Snapshot | None
    _lock: threading.Lock
    _warned_token: str | None

    def __new__(cls, path: str | os.PathLike[str] | None = None, *, clock: Clock | None = None) -> TokenSource:
        key_path = os.path.abspath(resolve_token_path(path))
        clock = clock or SYSTEM_CLOCK
        key = (key_path, id(clock))
        with cls._instances_lock:
            source = cls._instances.get(key)
            if source is None or source._clock is not clock:
                source = super().__new__(cls)
                source.path = key_path
                source._clock = clock
                source._snapshot = None
                source._lock = threading.Lock()
                source._warned_token = None
                _fork.register(source)
                cls._instances[key] = source
            return source

    def __repr__(self) -> str:
        return f"TokenSource(path={self.path!r})"

    def __reduce__(self) -> tuple[type[TokenSource], tuple[str]]:
        """Pickled as its path: the unpickling process reads the file itself."""
        return (TokenSource, (self.path,))

    def token(self) -> str:
        """The current token. Raises a :class:`~cfke_auth.TokenError` when the file cannot be used."""
        return self._current().token

    def claims(self) -> TokenClaims:
        """The current token's claims (decoded, not verified)."""
        return self._current().claims

    def invalidate(self) -> None:
        """Forget the cached token, so the next call re-reads the file; for when a provider rejected it as expired."""
        with self._lock:
            self._snapshot = None

    def _after_fork(self) -> None:
        self._lock = threading.Lock()

    def _current(self) -> _Snapshot:
        snap = self._snapshot
        if snap is not None and self._clock.time() < snap.check_at and self._clock.monotonic() < snap.check_mono:
            return snap
        return self._refresh()

    def _refresh(self) -> _Snapshot:
        with self._lock:
            now, mono = self._clock.time(), self._clock.monotonic()
            snap = self._snapshot
            if snap is not None and now < snap.check_at and mono < snap.check_mono:
                return snap  # another thread refreshed while we waited
            st = self._stat()
            if snap is not None and now < snap.refresh_at and _stat_key(st) == snap.stat_key:
                snap = snap._replace(check_at=now + STAT_INTERVAL, check_mono=mono + STAT_INTERVAL)
            else:
                snap = self._read(now, mono)
            self._snapshot = snap
            return snap

    def _stat(self) -> os.stat_result:
        try:
            st = os.stat(self.path)
        except OSError as exc:
            raise self._os_error(exc) from None
        self._check_regular(st)
        return st

    def _check_regular(self, st: os.stat_result) -> None:
        """A FIFO, socket or device is never read: opening a FIFO blocks until a writer comes, forever."""
        if stat.S_ISDIR(st.st_mode):
            raise TokenError(
                f"token path {self.path} is a directory: point at the token file inside it",
                path=self.path,
                reason="is-directory",
            )
        if not stat.S_ISREG(st.st_mode):
            raise TokenError(
                f"token path {self.path} is not a regular file (a FIFO, socket or device): point at the token file",
                path=self.path,
                reason="not-a-file",
            )

    def _os_error(self, exc: OSError) -> TokenError:
        path = self.path
        if isinstance(exc, FileNotFoundError):
            return TokenError(
                f"token file {path} does not exist: is the service-account token volume mounted there?",
                path=path,
                reason="not-found",
            )
        if isinstance(exc, PermissionError):
            return TokenError(
                f"token file {path} is not readable by this process (uid {os.getuid()}): check the volume's "
                "defaultMode or the pod's fsGroup",
                path=path,
                reason="permission",
            )
        if isinstance(exc, IsADirectoryError):
            return TokenError(
                f"token path {path} is a directory: point at the token file inside it", path=path, reason="is-directory"
            )
        return TokenError(f"token file {path} cannot be read: {exc.strerror or type(exc).__name__}", path=path)

    def _read_bytes(self) -> tuple[bytes, os.stat_result]:
        """The file's first bytes, opened afresh (the kubelet swaps it underneath) and never blocking."""
        try:
            fd = os.open(self.path, _OPEN_FLAGS)
        except OSError as exc:
            raise self._os_error(exc) from None
        try:
            st = os.fstat(fd)
            self._check_regular(st)  # the path may have been swapped for something else since the stat
            with os.fdopen(fd, "rb", closefd=False) as fh:
                raw = fh.read(MAX_TOKEN_BYTES + 1)
        except OSError as exc:
            raise self._os_error(exc) from None
        finally:
            os.close(fd)
        return raw, st

    def _read(self, now: float, mono: float) -> _Snapshot:
        path = self.path
        raw, st = self._read_bytes()
        if len(raw) > MAX_TOKEN_BYTES:
            raise TokenError(
                f"token file {path} is larger than {MAX_TOKEN_BYTES} bytes: not a service-account token",
                path=path,
                reason="too-large",
            )
        try:
            token = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise TokenError(f"token file {path} is not UTF-8 text: not a JWT", path=path, reason="encoding") from None
        if not token:
            raise TokenError(
                f"token file {path} is empty: the kubelet has not written a token yet", path=path, reason="empty"
            )
        claims = decode_claims(token, path)
        expires = claims.expires_at.timestamp()
        if expires <= now:
            raise TokenError(
                f"token file {path} holds a token that expired at {claims.expires_at.isoformat()} "
                f"({now - expires:.0f} s ago): the kubelet is no longer rotating it",
                path=path,
                reason="expired",
            )
        end = claims.lifetime_end.timestamp()
        start = claims.issued_at.timestamp() if claims.issued_at else min(now, end)
        refresh_at = start + REFRESH_FRACTION * max(end - start, 0.0)
        if now >= end:
            self._warn_stale(token, now - end)
        return _Snapshot(token, claims, _stat_key(st), refresh_at, now + STAT_INTERVAL, mono + STAT_INTERVAL)

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
