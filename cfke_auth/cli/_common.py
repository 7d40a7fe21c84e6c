"""Arguments several commands share, spelled the same everywhere, and the workload they describe.

``--token-path`` names the token file (``--path`` is kept as a hidden, deprecated spelling); ``--issuer`` or
``--cluster-id`` names the cluster's issuer off-cluster; ``--namespace`` and ``--service-account`` name the
Kubernetes identity. :func:`workload` takes what the flags give and reads the pod's token only for the rest.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from .._claims import CFKE_ISSUER_PREFIX, TokenClaims, issuer_for_cluster, service_account_subject
from .._errors import ConfigurationError, TokenError
from .._source import TokenSource, resolve_token_path

__all__ = [
    "Workload",
    "add_identity_arguments",
    "add_issuer_arguments",
    "add_token_path",
    "cluster_issuer",
    "issuer_url",
    "workload",
]

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


def add_token_path(parser: argparse.ArgumentParser, default: str) -> None:
    """``--token-path FILE`` (and the deprecated ``--path``, hidden from the help)."""
    parser.add_argument("--token-path", metavar="FILE", help=f"the service-account token file (default: {default})")
    parser.add_argument("--path", dest="token_path", help=argparse.SUPPRESS)


def issuer_url(value: str) -> str:
    """``--issuer``: an ``https://`` URL with a host and a path at most, exactly as the token's ``iss`` says it.

    The clouds compare the issuer as a string, so a trailing slash or a query makes a trust that never matches."""
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname or parts.username or parts.password:
        raise argparse.ArgumentTypeError(f"{value!r} is not an https:// issuer URL")
    if parts.query or parts.fragment or value.endswith("/"):
        raise argparse.ArgumentTypeError(
            f"{value!r}: an issuer has no trailing slash, query or fragment (the clouds compare it exactly with the "
            "token's iss)"
        )
    return value


def cluster_issuer(value: str) -> str:
    """``--cluster-id``: a CFKE cluster's UUID, or its issuer URL; either way the issuer URL, UUID lower-cased."""

    cluster = value.strip().removeprefix(CFKE_ISSUER_PREFIX).rstrip("/")
    if not _UUID.fullmatch(cluster):
        raise argparse.ArgumentTypeError(
            f"{value!r} is neither a cluster UUID nor a CFKE issuer URL ({CFKE_ISSUER_PREFIX}UUID); "
            "`cfke-auth token` in a pod shows both"
        )
    return issuer_for_cluster(cluster.lower())


def add_issuer_arguments(parser: argparse.ArgumentParser) -> None:
    """``--issuer URL`` or ``--cluster-id ID``, one or the other, both stored as ``issuer``."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--issuer", type=issuer_url, metavar="URL", help="the cluster's OIDC issuer URL (default: the token's iss)"
    )
    group.add_argument(
        "--cluster-id",
        dest="issuer",
        type=cluster_issuer,
        metavar="ID",
        help="the CFKE cluster's UUID or issuer URL, instead of --issuer",
    )


def add_identity_arguments(parser: argparse.ArgumentParser) -> None:
    """``--namespace`` and ``--service-account``: the Kubernetes identity the cloud side trusts."""
    parser.add_argument("--namespace", help="the Kubernetes namespace (default: the token's)")
    parser.add_argument(
        "--service-account", metavar="NAME", help="the Kubernetes service account (default: the token's)"
    )


@dataclass(frozen=True)
class Workload:
    """A Kubernetes identity as a cloud trusts it; ``claims`` are those of the pod token when it was read."""

    namespace: str
    service_account: str
    issuer: str | None
    claims: TokenClaims | None

    @property
    def subject(self) -> str:
        """``system:serviceaccount:NAMESPACE:NAME``, the token's ``sub``."""
        return service_account_subject(self.namespace, self.service_account)


def workload(args: argparse.Namespace, token_variable: str | None, *, need_issuer: bool) -> Workload:
    """Namespace, service account and issuer from the flags, and from the pod's token (``--token-path``, else
    ``token_variable``, ``CFKE_TOKEN_FILE``, the default path) for whatever they leave out.

    The token is read only when a flag is missing, so everything runs off-cluster once the flags are given; when it
    cannot be read, or names no Kubernetes identity, the ConfigurationError says which flags to pass."""
    namespace, account = args.namespace, args.service_account
    issuer: str | None = getattr(args, "issuer", None)
    missing = ["--issuer (or --cluster-id)"] if need_issuer and not issuer else []
    missing += [flag for flag, value in (("--namespace", namespace), ("--service-account", account)) if not value]
    claims = None
    if missing:
        try:
            claims = TokenSource(resolve_token_path(args.token_path, token_variable)).claims()
        except TokenError as exc:
            raise ConfigurationError(f"{exc}; outside a pod pass {', '.join(missing)}") from None
        namespace, account = namespace or claims.namespace, account or claims.service_account
        issuer = issuer or claims.issuer
    if not (namespace and account):
        raise ConfigurationError(
            "the token names no namespace or service account: pass --namespace and --service-account"
        )
    return Workload(namespace, account, issuer, claims)
