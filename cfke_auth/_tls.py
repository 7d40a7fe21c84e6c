"""Which CA certificates verify a token endpoint, decided from the variables users set for TLS-inspecting proxies.

The first of ``AWS_CA_BUNDLE`` (the AWS exchange only, as botocore reads it), ``REQUESTS_CA_BUNDLE`` (what
google-auth and azure-identity, through requests, honour) and ``SSL_CERT_FILE`` names the bundle file;
``SSL_CERT_DIR`` names a hashed certificate directory. Without any of them the certifi bundle is used, as httpx,
requests and botocore do. Contexts are built once per configuration: loading a bundle takes tens of milliseconds.
"""

from __future__ import annotations

import functools
import os
import ssl
from collections.abc import Mapping
from typing import NamedTuple

from ._errors import ConfigurationError

__all__ = ["AWS_CA_VARIABLES", "CaConfig"]

#: The extra variable the AWS exchange honours before the generic ones.
AWS_CA_VARIABLES = ("AWS_CA_BUNDLE",)
_FILE_VARIABLES = ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")


class CaConfig(NamedTuple):
    """Where the trusted CA certificates come from: a bundle file and/or a directory (each with the variable that
    named it, for error messages), or certifi's bundle when both are None."""

    cafile: tuple[str, str] | None  # (variable, path)
    capath: tuple[str, str] | None

    @classmethod
    def from_env(cls, extra: tuple[str, ...] = (), environ: Mapping[str, str] | None = None) -> CaConfig:
        """The configuration the environment describes, honouring the ``extra`` variables first."""
        env = os.environ if environ is None else environ
        cafile = next(((name, env[name]) for name in (*extra, *_FILE_VARIABLES) if env.get(name)), None)
        capath = ("SSL_CERT_DIR", env["SSL_CERT_DIR"]) if env.get("SSL_CERT_DIR") else None
        return cls(cafile, capath)

    @classmethod
    def of_file(cls, path: str) -> CaConfig:
        """A bundle given by the caller (``HttpOptions(verify=PATH)``)."""
        return cls(("verify", path), None)

    def context(self) -> ssl.SSLContext:
        """The client SSL context for this configuration (built once, then shared: contexts are thread-safe)."""
        return _context(self)


@functools.lru_cache(maxsize=16)
def _context(config: CaConfig) -> ssl.SSLContext:
    if config.cafile is None and config.capath is None:
        import certifi

        return ssl.create_default_context(cafile=certifi.where())
    try:
        return ssl.create_default_context(
            cafile=config.cafile[1] if config.cafile else None,
            capath=config.capath[1] if config.capath else None,
        )
    except (OSError, ssl.SSLError) as exc:
        named = " and ".join(f"{var}={path}" for var, path in filter(None, (config.cafile, config.capath)))
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ConfigurationError(
            f"the CA certificates at {named} cannot be loaded ({reason}): point the variable at a PEM bundle "
            "(SSL_CERT_DIR at a hashed certificate directory)"
        ) from None
