"""The Vault side of the trust, as ``vault``/``bao`` commands: a JWT auth method trusting the cluster's issuer and a
role admitting one service account. Pure functions, shared by ``cfke-auth vault setup`` and the error hints.

Vault (or OpenBao) checks a login's token against the issuer's published keys -- through OIDC discovery
(``oidc_discovery_url``, the issuer URL itself) or the JWKS document (``jwks_url``) -- and against the role:
``bound_subject`` pins the service account, ``bound_audiences`` the token's audience, ``user_claim`` names the
entity. Every argument is shell-quoted; the commands are the same for ``vault`` and ``bao``.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Literal

from .._errors import ConfigurationError
from .settings import DEFAULT_MOUNT

__all__ = [
    "DEFAULT_AUDIENCE",
    "DEFAULT_MAX_TTL",
    "DEFAULT_TTL",
    "KeySource",
    "RoleSpec",
    "Target",
    "check_duration",
    "check_word",
    "config_command",
    "enable_command",
    "jwks_url",
    "role_command",
    "setup_script",
]

#: The audience ``setup`` binds unless told otherwise: what the pod's projected token for Vault should carry.
DEFAULT_AUDIENCE = "vault"
DEFAULT_TTL = "1h"
DEFAULT_MAX_TTL = "24h"
KeySource = Literal["discovery", "jwks"]
_DURATION = re.compile(r"[0-9]+[smh]?", re.ASCII)


def jwks_url(issuer: str) -> str:
    """Where a Kubernetes issuer publishes its signing keys."""
    return f"{issuer.rstrip('/')}/openid/v1/jwks"


def check_word(value: str, what: str) -> str:
    """``value`` if it is one printable word without a comma (the CLI splits lists at commas): an issuer URL, an
    audience, a subject. Values also land in the script's comments, where quoting does not protect a newline."""
    if not value or any(c.isspace() or not c.isprintable() or c == "," for c in value):
        raise ConfigurationError(f"{what} {value!r} must be one word of printable characters, without a comma")
    return value


def check_duration(value: str, what: str) -> str:
    """``value`` if it is a duration Vault and its CLI take (``3600``, ``90s``, ``30m``, ``24h``)."""
    if not isinstance(value, str) or not _DURATION.fullmatch(value):
        raise ConfigurationError(f"{what} {value!r} is not a duration such as 3600, 90s, 30m or 24h")
    return value


@dataclass(frozen=True)
class Target:
    """Where the commands act: the CLI to name (``vault`` or ``bao``), the auth method's mount and the Vault
    namespace (None: the root namespace)."""

    mount: str = DEFAULT_MOUNT
    namespace: str | None = None
    cli: str = "vault"

    def command(self, *words: str) -> str:
        """``CLI SUBCOMMAND [-namespace=NS] ARGS...``: the first word (two for ``auth enable``) is the subcommand."""
        head = 2 if words[:2] == ("auth", "enable") else 1
        flags = [f"-namespace={self.namespace}"] if self.namespace else []
        return shlex.join([self.cli, *words[:head], *flags, *words[head:]])


@dataclass(frozen=True)
class RoleSpec:
    """A ``role_type=jwt`` role admitting the tokens whose ``sub`` is ``subject`` and whose ``aud`` holds
    ``audience``, issuing tokens with ``policies`` for ``ttl``, renewable up to ``max_ttl``."""

    role: str
    subject: str
    audience: str
    policies: tuple[str, ...]
    ttl: str = DEFAULT_TTL
    max_ttl: str = DEFAULT_MAX_TTL


def enable_command(target: Target) -> str:
    """Enable the JWT auth method at the target's mount."""
    return target.command("auth", "enable", f"-path={target.mount}", "jwt")


def config_command(target: Target, issuer: str, key_source: KeySource = "discovery") -> str:
    """Make the method trust ``issuer``'s keys (discovery or the JWKS URL) and only tokens it issued."""
    keys = f"oidc_discovery_url={issuer}" if key_source == "discovery" else f"jwks_url={jwks_url(issuer)}"
    return target.command("write", f"auth/{target.mount}/config", keys, f"bound_issuer={issuer}")


def role_command(target: Target, spec: RoleSpec) -> str:
    """Write the role (creating it, or updating the fields given and keeping the others)."""
    return target.command(
        "write",
        f"auth/{target.mount}/role/{spec.role}",
        "role_type=jwt",
        "user_claim=sub",
        f"bound_subject={spec.subject}",
        f"bound_audiences={spec.audience}",
        f"token_policies={','.join(spec.policies)}",
        f"token_ttl={spec.ttl}",
        f"token_max_ttl={spec.max_ttl}",
    )


def setup_script(target: Target, issuer: str, spec: RoleSpec, key_source: KeySource = "discovery") -> str:
    """The whole setup as a shell script with comments: enable, configure, write the role, and what the pod needs.
    ConfigurationError for an issuer, subject or audience that is not one printable word."""
    check_word(issuer, "issuer")
    check_word(spec.subject, "subject")
    check_word(spec.audience, "audience")
    lines = [
        f"# Trust the service-account tokens of the cluster behind {issuer},",
        f"# and let {spec.subject} log in as role {spec.role!r} (policies: {', '.join(spec.policies)}).",
        f"# Run once with an admin token ({target.cli.upper()}_ADDR and {target.cli.upper()}_TOKEN set); "
        "the commands are the same for vault and bao.",
        f"# Skip the first command if a JWT auth method is already enabled at auth/{target.mount}.",
        enable_command(target),
        config_command(target, issuer, key_source),
        role_command(target, spec),
        "# The policies must exist (vault policy write NAME FILE.hcl). The pod logs in with",
        f"#   cfke_auth.get_vault_client({spec.role!r}{_mount_argument(target)})",
        f"# and a token whose audience is {spec.audience!r}: mount a projected serviceAccountToken with",
        f"# audience: {spec.audience} and pass its path as token_path (or set CFKE_TOKEN_FILE).",
    ]
    return "\n".join(lines) + "\n"


def _mount_argument(target: Target) -> str:
    mount = f", mount={target.mount!r}" if target.mount != DEFAULT_MOUNT else ""
    return mount + (f", namespace={target.namespace!r}" if target.namespace else "")
