"""A local certificate authority (trustme), so the loopback fakes speak real TLS.

Production talks https only; serving the fakes over https with a CA the test trusts (through ``SSL_CERT_FILE``,
``REQUESTS_CA_BUNDLE``, ``AWS_CA_BUNDLE`` or an explicit ``verify=``) exercises the same transport end to end.
"""

from __future__ import annotations

import atexit
import shutil
import ssl
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    import trustme

__all__ = ["DEFAULT_HOSTNAMES", "LocalCA"]

#: The names every server certificate covers: what a client may use to reach a server on this machine.
DEFAULT_HOSTNAMES = ("localhost", "127.0.0.1", "::1")

#: Environment variables a client reads a CA bundle from (stdlib/OpenSSL and httpx, requests, botocore).
CA_BUNDLE_VARIABLES = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "AWS_CA_BUNDLE")


def _trustme() -> trustme.CA:
    try:
        import trustme
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            "cfke_auth.testing.LocalCA needs the 'trustme' package: pip install trustme (or cfke-auth[test])",
            name="trustme",
        ) from exc
    return trustme.CA(organization_name="cfke-auth test kit")


class LocalCA:
    """A throwaway CA: server contexts for any set of hostnames, its certificate as a PEM file, client contexts.

    Creating one costs a key generation; use :meth:`shared` unless a test needs a CA of its own (for instance to
    show that a client trusting another CA refuses the server).
    """

    _shared: ClassVar[LocalCA | None] = None
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self) -> None:
        self._ca = _trustme()
        self._lock = threading.Lock()
        self._contexts: dict[frozenset[str], ssl.SSLContext] = {}
        self._ca_file: Path | None = None

    @classmethod
    def shared(cls) -> LocalCA:
        """The process-wide CA the fakes use by default (created on first use)."""
        with cls._shared_lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    @property
    def ca_pem(self) -> bytes:
        """The CA certificate, PEM-encoded."""
        return self._ca.cert_pem.bytes()

    @property
    def ca_file(self) -> str:
        """Path of a PEM file holding the CA certificate (written on first use, removed at exit): the value for
        ``SSL_CERT_FILE``, ``REQUESTS_CA_BUNDLE`` or ``AWS_CA_BUNDLE``. It lives as long as the process, not the
        object, so ``LocalCA().ca_file`` stays valid."""
        with self._lock:
            if self._ca_file is None:
                directory = tempfile.mkdtemp(prefix="cfke-ca-")
                atexit.register(shutil.rmtree, directory, ignore_errors=True)
                path = Path(directory, "ca.pem")
                path.write_bytes(self.ca_pem)
                self._ca_file = path
            return str(self._ca_file)

    def ca_variables(self) -> dict[str, str]:
        """``{variable: ca_file}`` for every CA-bundle variable clients read, to ``monkeypatch.setenv`` in one go."""
        return dict.fromkeys(CA_BUNDLE_VARIABLES, self.ca_file)

    def server_context(self, hostnames: Iterable[str] = ()) -> ssl.SSLContext:
        """A server context whose certificate covers :data:`DEFAULT_HOSTNAMES` plus ``hostnames`` (cached per set)."""
        names = frozenset((*DEFAULT_HOSTNAMES, *(h.lower() for h in hostnames)))
        with self._lock:
            context = self._contexts.get(names)
            if context is None:
                ordered = [*DEFAULT_HOSTNAMES, *sorted(names - set(DEFAULT_HOSTNAMES))]
                context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                context.set_alpn_protocols(["http/1.1"])  # a client offering h2 settles on what the server speaks
                self._ca.issue_cert(*ordered).configure_cert(context)
                self._contexts[names] = context
            return context

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts this CA only, with hostname checking on."""
        return ssl.create_default_context(cadata=self.ca_pem.decode("ascii"))
