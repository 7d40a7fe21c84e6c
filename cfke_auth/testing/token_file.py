"""A service-account token file laid out and rotated the way the kubelet does it."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from .issuer import OidcIssuer

__all__ = ["TokenFile"]


class TokenFile:
    """``DIR/token`` -> ``..data/token``, ``..data`` -> ``..<timestamp>``; :meth:`rotate` swaps ``..data`` atomically.

    With an ``issuer``, :meth:`rotate` without a token signs a fresh one, using ``knobs`` (the keyword arguments of
    :meth:`OidcIssuer.issue`) updated by the call's own.
    """

    def __init__(self, directory: str | os.PathLike[str], issuer: OidcIssuer | None = None, **knobs: Any) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.issuer = issuer
        self.knobs = knobs
        self.token: str | None = None
        self._generation = 0

    @property
    def path(self) -> str:
        """The path a pod reads: ``DIR/token``."""
        return str(self.directory / "token")

    def rotate(self, token: str | None = None, **knobs: Any) -> str:
        """Write ``token`` (or a freshly issued one) as the kubelet does and return it."""
        if token is None:
            if self.issuer is None:
                raise ValueError("TokenFile.rotate() without a token needs an issuer")
            self.knobs.update(knobs)
            token = self.issuer.issue(**self.knobs)
        self._generation += 1
        stamp = time.strftime("..%Y_%m_%d_%H_%M_%S", time.gmtime()) + f".{os.getpid()}{self._generation:04d}"
        new_dir = self.directory / stamp
        new_dir.mkdir()
        (new_dir / "token").write_text(token)
        data = self.directory / "..data"
        old = os.readlink(data) if data.is_symlink() else None
        tmp = self.directory / "..data_tmp"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(stamp)
        tmp.replace(data)  # rename(2): readers see the old or the new file, never neither
        link = self.directory / "token"
        if not link.is_symlink():
            link.symlink_to("..data/token")
        if old is not None:
            (self.directory / old / "token").unlink()
            (self.directory / old).rmdir()
        self.token = token
        return token
