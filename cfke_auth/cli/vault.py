"""``cfke-auth vault``: the HashiCorp Vault / OpenBao side of the pod's identity.

* ``setup`` prints the ``vault`` (or ``bao``) commands that enable the JWT auth method, make it trust the cluster's
  issuer, and write a role admitting one service account with the given policies. Issuer, namespace and service
  account come from the pod's token unless given, so the command also runs outside the cluster.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

from .._claims import issuer_for_cluster, service_account_subject
from .._errors import ConfigurationError
from .._http import check_endpoint
from .._source import TokenSource
from ..vault.settings import DEFAULT_MOUNT, check_name, check_path
from ..vault.setup import DEFAULT_AUDIENCE, DEFAULT_MAX_TTL, DEFAULT_TTL, RoleSpec, Target, check_duration, setup_script

#: Kubernetes' rules (DNS-1123) for a namespace and a service account name.
_NAMESPACE = re.compile(r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?", re.ASCII)
_SERVICE_ACCOUNT = re.compile(r"[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?", re.ASCII)


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "vault", help="HashiCorp Vault / OpenBao: the JWT auth setup for this pod", description=__doc__
    )
    sub = parser.add_subparsers(title="subcommands", metavar="SUBCOMMAND", required=True)
    setup = sub.add_parser(
        "setup",
        help="print the vault/bao commands that let this pod's service account log in",
        description="Print (on stdout, as a shell script) the commands enabling the JWT auth method, trusting the "
        "cluster's issuer, and writing a role for one service account. Run them with an admin token.",
    )
    setup.add_argument("--role", required=True, help="name of the Vault role to write")
    setup.add_argument(
        "--policy", required=True, action="append", help="policy the role's tokens get (repeat for several)"
    )
    issuer = setup.add_mutually_exclusive_group()
    issuer.add_argument("--issuer", help="the cluster's OIDC issuer URL (default: the token's iss)")
    issuer.add_argument("--cluster-id", help="CFKE cluster id, for its issuer URL")
    setup.add_argument("--namespace", help="Kubernetes namespace of the service account (default: the token's)")
    setup.add_argument("--service-account", help="service account name (default: the token's)")
    setup.add_argument("--audience", default=DEFAULT_AUDIENCE, help=f"audience to bind (default: {DEFAULT_AUDIENCE})")
    setup.add_argument("--mount", default=DEFAULT_MOUNT, help=f"path of the JWT auth method (default: {DEFAULT_MOUNT})")
    setup.add_argument("--vault-namespace", help="Vault namespace to configure (default: the root namespace)")
    setup.add_argument(
        "--keys",
        choices=("discovery", "jwks"),
        default="discovery",
        help="how Vault finds the issuer's keys: OIDC discovery (default) or the JWKS URL",
    )
    setup.add_argument("--token-ttl", default=DEFAULT_TTL, help=f"Vault token TTL (default: {DEFAULT_TTL})")
    setup.add_argument(
        "--token-max-ttl", default=DEFAULT_MAX_TTL, help=f"how long renewals may go on (default: {DEFAULT_MAX_TTL})"
    )
    setup.add_argument("--cli", choices=("vault", "bao"), default="vault", help="CLI to name (default: vault)")
    setup.add_argument("--token-path", help="token file (default: $CFKE_TOKEN_FILE, then the projected path)")
    setup.set_defaults(func=_setup)


def _identity(args: argparse.Namespace) -> tuple[str, str]:
    """The issuer and the service account's subject: from the arguments, the rest from the pod's token."""
    issuer = check_endpoint(args.issuer, what="--issuer") if args.issuer else None
    if args.cluster_id:
        issuer = issuer_for_cluster(check_name(args.cluster_id, "--cluster-id"))
    namespace, account = args.namespace, args.service_account
    if issuer is None or not (namespace and account):
        claims = TokenSource(args.token_path).claims()
        issuer = issuer or claims.issuer
        namespace, account = namespace or claims.namespace, account or claims.service_account
    if not (namespace and account):
        raise ConfigurationError(
            "the token names no namespace or service account: pass --namespace and --service-account"
        )
    if not _NAMESPACE.fullmatch(namespace):
        raise ConfigurationError(f"namespace {namespace!r} is not a Kubernetes namespace name")
    if not _SERVICE_ACCOUNT.fullmatch(account):
        raise ConfigurationError(f"service account {account!r} is not a Kubernetes service account name")
    return issuer, service_account_subject(namespace, account)


def _setup(args: argparse.Namespace) -> int:
    issuer, subject = _identity(args)
    target = Target(
        check_path(args.mount, "--mount"),
        check_path(args.vault_namespace, "--vault-namespace") if args.vault_namespace else None,
        args.cli,
    )
    spec = RoleSpec(
        check_name(args.role, "--role"),
        subject,
        args.audience,
        tuple(check_name(policy, "--policy") for name in args.policy for policy in name.split(",")),
        check_duration(args.token_ttl, "--token-ttl"),
        check_duration(args.token_max_ttl, "--token-max-ttl"),
    )
    sys.stdout.write(setup_script(target, issuer, spec, args.keys))
    return 0
