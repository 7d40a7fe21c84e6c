"""TokenSource: path precedence, sharing, freshness policy, rotation, and every bad-file case."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest
import time_machine
from conftest import assert_no_secrets, run_threads, token_error
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cfke_auth import (
    DEFAULT_TOKEN_PATH,
    TokenError,
    TokenSource,
)
from cfke_auth._source import MAX_TOKEN_BYTES, STAT_INTERVAL, resolve_token_path
from cfke_auth.testing import OidcIssuer, TokenFile


def test_path_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CFKE_TOKEN_FILE", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    assert resolve_token_path() == DEFAULT_TOKEN_PATH
    monkeypatch.setenv("CFKE_TOKEN_FILE", "/cfke")
    assert resolve_token_path(None, "AWS_WEB_IDENTITY_TOKEN_FILE") == "/cfke"
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", "/aws")
    assert resolve_token_path(None, "AWS_WEB_IDENTITY_TOKEN_FILE") == "/aws"
    assert resolve_token_path("/arg", "AWS_WEB_IDENTITY_TOKEN_FILE") == "/arg"
    assert resolve_token_path(Path("/p")) == "/p"


def test_one_shared_instance_per_path(cfke_token_file: TokenFile) -> None:
    a = TokenSource(cfke_token_file.path)
    b = TokenSource(os.path.join(os.path.dirname(cfke_token_file.path), ".", "token"))
    assert a is b
    assert TokenSource() is a  # CFKE_TOKEN_FILE points at the same file
    assert a.token() == cfke_token_file.token


def test_rotation_is_picked_up_at_the_next_stat(cfke_token_file: TokenFile) -> None:
    source = TokenSource(cfke_token_file.path)
    with time_machine.travel(0, tick=False) as clock:
        clock.move_to(source.claims().issued_at)
        first = source.token()
        second = cfke_token_file.rotate(service_account="rotated")
        assert source.token() == first  # inside the stat interval: no file access at all
        clock.shift(STAT_INTERVAL + 0.1)
        assert source.token() == second
        assert source.claims().service_account == "rotated"


def test_reread_past_80_percent_even_when_stat_looks_unchanged(cfke_issuer: OidcIssuer, tmp_path: Path) -> None:
    path = tmp_path / "token"
    with time_machine.travel(1_800_000_000, tick=False) as clock:
        old = cfke_issuer.issue(lifetime=1000)
        path.write_text(old)
        source = TokenSource(path)
        assert source.token() == old
        st = path.stat()
        new = cfke_issuer.issue(lifetime=1000)  # a new jti, same length
        assert len(new) == len(old)
        path.write_text(new)  # same inode and size; put the mtime back so only the schedule can notice
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        clock.shift(STAT_INTERVAL + 1)
        assert source.token() == old  # stat unchanged and well before 80 %: trusted
        clock.shift(800)
        assert source.token() == new


def test_invalidate_forces_a_reread(cfke_token_file: TokenFile) -> None:
    source = TokenSource(cfke_token_file.path)
    source.token()
    new = cfke_token_file.rotate()
    source.invalidate()
    assert source.token() == new


def test_kubelet_swap_under_concurrent_readers(cfke_token_file: TokenFile) -> None:
    source = TokenSource(cfke_token_file.path)
    tokens = {cfke_token_file.token}
    for _ in range(5):
        tokens.add(cfke_token_file.rotate())
        source.invalidate()
        results = run_threads(16, source.token)
        assert all(r in tokens for r in results)  # never an error, never a torn read
    assert source.token() == cfke_token_file.token


@pytest.mark.cfke_token(extended=True)
def test_one_warning_when_warnafter_passed_and_not_rotated(
    cfke_token_file: TokenFile, caplog: pytest.LogCaptureFixture
) -> None:
    source = TokenSource(cfke_token_file.path)
    warn_after = source.claims().warn_after
    assert warn_after is not None
    caplog.set_level(logging.WARNING, logger="cfke_auth")
    with time_machine.travel(warn_after.timestamp() + 600, tick=False) as clock:
        source.invalidate()
        assert source.token() == cfke_token_file.token
        for _ in range(3):
            clock.shift(STAT_INTERVAL + 1)
            source.token()
    warnings = [r for r in caplog.records if "past its freshness limit" in r.getMessage()]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert cfke_token_file.path in message and "600 s" in message
    assert_no_secrets([cfke_token_file.token or ""], caplog.text)


# -- bad files --------------------------------------------------------------------------------------------------


def _error_for(path: Path) -> TokenError:
    with pytest.raises(TokenError) as info:
        TokenSource(path).token()
    assert str(path) in str(info.value)
    return info.value


def test_missing_file(tmp_path: Path) -> None:
    assert _error_for(tmp_path / "nope").reason == "not-found"


def test_directory(tmp_path: Path) -> None:
    assert _error_for(tmp_path).reason == "is-directory"


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("\n")
    assert _error_for(tmp_path / "token").reason == "empty"


def test_too_large(tmp_path: Path) -> None:
    (tmp_path / "token").write_bytes(b"a" * (MAX_TOKEN_BYTES + 1))
    assert _error_for(tmp_path / "token").reason == "too-large"


def test_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "token").write_bytes(b"\xff\xfe\x00garbage")
    assert _error_for(tmp_path / "token").reason == "encoding"


def test_not_a_jwt(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("hunter2-is-not-a-jwt")
    error = _error_for(tmp_path / "token")
    assert error.reason == "format"
    assert "hunter2" not in str(error)


def test_jwt_without_subject(cfke_issuer: OidcIssuer, tmp_path: Path) -> None:
    (tmp_path / "token").write_text(cfke_issuer.issue(extra_claims={"sub": None}))
    assert _error_for(tmp_path / "token").reason == "claims"


def test_expired_token_says_when(cfke_issuer: OidcIssuer, tmp_path: Path) -> None:
    token = cfke_issuer.issue(lifetime=600, issued_at=1_700_000_000)
    (tmp_path / "token").write_text(token)
    error = _error_for(tmp_path / "token")
    assert error.reason == "expired"
    assert "2023-11-14T22:23:20+00:00" in str(error)
    assert_no_secrets([token], str(error), repr(error))


def test_unreadable_file(cfke_issuer: OidcIssuer, tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(cfke_issuer.issue())
    path.chmod(0)
    if os.getuid() != 0:
        assert _error_for(path).reason == "permission"
        return
    # root reads anything: check as an unprivileged user in a forked child
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            os.setgid(65534)
            os.setuid(65534)
            TokenSource(path).token()
        except TokenError as exc:
            os._exit(0 if str(path) in str(exc) else 3)
        except BaseException:
            os._exit(2)
        os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_a_broken_file_recovers_when_fixed(cfke_token_file: TokenFile) -> None:
    source = TokenSource(cfke_token_file.path)
    good = cfke_token_file.rotate()
    cfke_token_file.rotate("garbage")
    source.invalidate()
    with token_error("format"):
        source.token()
    good = cfke_token_file.rotate()
    assert source.token() == good


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.binary(max_size=2048))
def test_arbitrary_bytes_raise_only_token_errors(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "fuzz"
    path.write_bytes(content)
    source = TokenSource(path)
    source.invalidate()
    try:
        source.token()
    except TokenError as exc:
        assert str(path) in str(exc)


@pytest.mark.parametrize("kind", ["fifo", "socket"])
def test_a_fifo_or_socket_at_the_path_is_refused_at_once(tmp_path: Path, kind: str) -> None:
    """Opening a FIFO blocks until a writer comes, forever, holding the source's lock: never opened."""
    import socket

    path = tmp_path / "token"
    if kind == "fifo":
        os.mkfifo(path)
        with token_error("not-a-file", match="not a regular file"):
            TokenSource(path).token()
    else:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.bind(str(path))
            with token_error("not-a-file"):
                TokenSource(path).token()


def test_a_device_at_the_path_is_refused(tmp_path: Path) -> None:
    with token_error("not-a-file"):
        TokenSource("/dev/zero").token()


def test_sources_are_not_kept_once_unused(tmp_path: Path, cfke_issuer: OidcIssuer) -> None:
    """One instance per path while in use, none kept forever: a process reading many paths does not grow."""
    import gc
    import weakref

    refs = []
    for i in range(200):
        file = TokenFile(tmp_path / str(i), cfke_issuer)
        file.rotate()
        source = TokenSource(file.path)
        assert source.token() == file.token
        assert TokenSource(file.path) is source  # shared while held
        refs.append(weakref.ref(source))
    del source
    gc.collect()
    assert sum(ref() is not None for ref in refs) == 0


def test_a_wall_clock_stepped_back_does_not_stop_the_stat_checks(cfke_issuer: OidcIssuer, tmp_path: Path) -> None:
    from cfke_auth.testing import ManualClock

    clock = ManualClock(time.time())
    file = TokenFile(tmp_path, cfke_issuer)
    file.rotate()
    source = TokenSource(file.path, clock=clock)
    old = source.token()
    new = file.rotate()
    clock.step(-3 * 3600)  # a three-hour step back: the wall-clock deadline of the next check is far away now
    clock.advance(STAT_INTERVAL + 1)  # but the monotonic one has passed
    assert source.token() == new != old
