"""What callers pass to ``get_vault_client``, completed from ``VAULT_ADDR``, ``VAULT_NAMESPACE`` and ``VAULT_CACERT``
and checked before any request.

A role name Vault could never have, a mount or namespace that would not survive in a URL path or a header, or a
server URL that would carry the pod's token in clear is a :class:`~cfke_auth.ConfigurationError` at the call site,
not an opaque refusal at the first login.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from typing import TypedDict
from urllib.parse import urlsplit

from .._errors import ConfigurationError
from .._http import HttpOptions, check_endpoint
from .._source import SubjectTokenSource, subject_token_source

__all__ = [
    "DEFAULT_MOUNT",
    "VaultOptions",
    "VaultSettings",
    "check_name",
    "check_path",
    "resolve",
]

DEFAULT_MOUNT = "jwt"
#: Vault's own rule for role names (``framework.GenericNameRegex``): a role outside it cannot exist.
_NAME = re.compile(r"\w(?:[\w.-]*\w)?", re.ASCII)
#: Mount paths and namespaces: slash-separated segments of letters, digits and ``_.-`` (no ``.``/``..`` segment).
_SEGMENT = re.compile(r"[\w.-]+", re.ASCII)


class VaultOptions(TypedDict, total=False):
    """The keyword parameters of ``get_vault_client`` besides the role (all optional): ``url`` (else
    ``VAULT_ADDR``), ``mount`` (the JWT auth method's path, default ``jwt``), ``namespace`` (else
    ``VAULT_NAMESPACE``, sent as ``X-Vault-Namespace``), ``token_path`` or ``token_source``, and ``http`` (for the
    login and renewals; its CA bundle defaults to ``VAULT_CACERT``)."""

    url: str | None
    mount: str
    namespace: str | None
    token_path: str | os.PathLike[str] | None
    token_source: SubjectTokenSource | None
    http: HttpOptions | None


@dataclass(frozen=True)
class VaultSettings:
    """One JWT login, validated: where Vault is (``url``, no trailing slash), the auth method's ``mount``, the
    ``role``, the Vault ``namespace``, the subject-token source and the HTTP options (whose ``verify`` carries
    ``VAULT_CACERT``). Hashable, so it keys the process-wide credential."""

    url: str
    role: str
    source: SubjectTokenSource
    mount: str = DEFAULT_MOUNT
    namespace: str | None = None
    http: HttpOptions | None = None

    @property
    def login_url(self) -> str:
        return f"{self.url}/v1/auth/{self.mount}/login"

    @property
    def renew_url(self) -> str:
        return f"{self.url}/v1/auth/token/renew-self"

    @property
    def ca_cert(self) -> str | None:
        """The CA bundle file Vault's certificate is checked against, when one was named."""
        verify = self.http.verify if self.http else None
        return verify if isinstance(verify, str) else None


def check_name(value: object, what: str) -> str:
    """``value`` if it is a name Vault accepts for a role or policy (letters, digits, ``_.-``, starting and ending
    with a letter, digit or ``_``), else a ConfigurationError naming ``what``."""
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise ConfigurationError(
            f"{what} {value!r} is not a valid Vault name: letters, digits and _.- , starting and ending with a "
            "letter, digit or _"
        )
    return value


def check_path(value: object, what: str) -> str:
    """``value`` (surrounding slashes dropped) if it is a mount path or namespace that stays one URL path or header
    value: segments of letters, digits and ``_.-``, none of them ``.`` or ``..``. Else a ConfigurationError."""
    path = value.strip("/") if isinstance(value, str) else ""
    segments = path.split("/")
    if not all(_SEGMENT.fullmatch(s) and s.strip(".") for s in segments):
        raise ConfigurationError(
            f"{what} {value!r} is not a Vault path: slash-separated segments of letters, digits and _.-"
        )
    return path


def _resolve_url(url: str | None) -> str:
    given = url or os.environ.get("VAULT_ADDR")
    if not given:
        raise ConfigurationError("url is required: pass it or set VAULT_ADDR (https://vault.example.com:8200)")
    what = "url" if url else "VAULT_ADDR"
    checked = check_endpoint(given, what=what)
    parts = urlsplit(checked)
    if parts.query or parts.fragment:
        raise ConfigurationError(f"{what} {given!r} must be the server's address, without a query or fragment")
    return checked


def _resolve_http(http: HttpOptions | None) -> HttpOptions | None:
    """``http`` with ``VAULT_CACERT`` as its CA bundle, unless it names its own ``verify`` (or client)."""
    ca_cert = os.environ.get("VAULT_CACERT")
    if not ca_cert or (http is not None and (http.verify is not None or http.client is not None)):
        return http
    if not os.path.isfile(ca_cert):
        raise ConfigurationError(f"VAULT_CACERT={ca_cert} is not a file: point it at the PEM bundle of Vault's CA")
    return replace(http or HttpOptions(), verify=ca_cert)


def resolve(
    role: str,
    *,
    url: str | None = None,
    mount: str = DEFAULT_MOUNT,
    namespace: str | None = None,
    token_path: str | os.PathLike[str] | None = None,
    token_source: SubjectTokenSource | None = None,
    http: HttpOptions | None = None,
) -> VaultSettings:
    """Arguments completed from the environment (``VAULT_ADDR``, ``VAULT_NAMESPACE``, ``VAULT_CACERT``) and
    checked; :class:`~cfke_auth.ConfigurationError` names the first bad one. Reads no token, makes no request."""
    given_namespace = namespace or os.environ.get("VAULT_NAMESPACE") or None
    return VaultSettings(
        url=_resolve_url(url),
        role=check_name(role, "role"),
        mount=check_path(mount, "mount"),
        namespace=check_path(given_namespace, "namespace") if given_namespace else None,
        source=subject_token_source(token_path, token_source),
        http=_resolve_http(http),
    )
