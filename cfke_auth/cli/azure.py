"""``cfke-auth azure``: the Azure-side setup for this pod, printed ready to paste.

``federated-credential`` prints the ``az`` command that makes a user-assigned managed identity (or an app
registration) trust this pod's service account; ``token-volume`` prints the pod-spec snippet that mounts the
short-lived projected token Entra ID accepts.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
from typing import Any

from .._claims import service_account_subject
from .._errors import ConfigurationError, TokenError
from .._source import TokenSource, resolve_token_path
from ..azure.settings import AZURE_AUDIENCE

TOKEN_DIR = "/var/run/secrets/azure/tokens"
TOKEN_NAME = "azure-identity-token"


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "azure", help="Azure workload identity setup", description=__doc__
    )
    sub = parser.add_subparsers(title="subcommands", metavar="SUBCOMMAND", required=True)

    fic = sub.add_parser(
        "federated-credential",
        help="print the az command creating the federated identity credential",
        description="Print the `az` command that makes a managed identity or an app registration trust this pod's "
        "service account (issuer and subject from the pod's token unless given).",
    )
    target = fic.add_mutually_exclusive_group(required=True)
    target.add_argument("--identity-name", help="user-assigned managed identity (needs --resource-group)")
    target.add_argument("--app-id", help="app registration's application (client) id or object id")
    fic.add_argument("--resource-group", help="resource group of the managed identity")
    fic.add_argument("--name", help="name of the federated credential (default: cfke-NAMESPACE-SERVICEACCOUNT)")
    fic.add_argument("--namespace", help="Kubernetes namespace (default: the token's)")
    fic.add_argument("--service-account", help="service account (default: the token's)")
    fic.add_argument("--issuer", help="cluster issuer URL (default: the token's iss)")
    fic.add_argument(
        "--path",
        help="token file to read them from (default: $AZURE_FEDERATED_TOKEN_FILE, $CFKE_TOKEN_FILE, then the "
        "service-account token)",
    )
    fic.set_defaults(func=run_federated_credential)

    vol = sub.add_parser(
        "token-volume",
        help="print the pod-spec snippet mounting the projected token",
        description="Print the pod-spec snippet: a projected serviceAccountToken volume with audience "
        f"{AZURE_AUDIENCE}, its mount, and the AZURE_* variables cfke-auth and azure-identity read.",
    )
    vol.add_argument("--service-account", default="default", help="serviceAccountName of the pod")
    vol.add_argument("--client-id", default=os.environ.get("AZURE_CLIENT_ID") or "<client-id>")
    vol.add_argument("--tenant-id", default=os.environ.get("AZURE_TENANT_ID") or "<tenant-id>")
    vol.set_defaults(func=run_token_volume)


def _issuer_and_subject(args: argparse.Namespace) -> tuple[str, str, str, str]:
    """Issuer, subject, namespace and service account: flags first, the pod token for the rest."""
    namespace, service_account, issuer = args.namespace, args.service_account, args.issuer
    if not (namespace and service_account and issuer):
        try:
            claims = TokenSource(resolve_token_path(args.path, "AZURE_FEDERATED_TOKEN_FILE")).claims()
        except TokenError as exc:
            raise ConfigurationError(f"{exc}; outside a pod pass --issuer, --namespace and --service-account") from None
        issuer = issuer or claims.issuer
        namespace = namespace or claims.namespace
        service_account = service_account or claims.service_account
    if not (namespace and service_account):
        raise ConfigurationError(
            "the token names no namespace or service account: pass --namespace and --service-account"
        )
    return issuer, service_account_subject(namespace, service_account), namespace, service_account


def _credential_name(args: argparse.Namespace, namespace: str, service_account: str) -> str:
    name: str = args.name or re.sub(r"[^A-Za-z0-9_-]", "-", f"cfke-{namespace}-{service_account}")[:120]
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{2,119}", name):
        raise ConfigurationError(f"--name {name!r}: 3-120 letters, digits, '-' or '_', starting with a letter or digit")
    return name


def run_federated_credential(args: argparse.Namespace) -> int:
    if args.identity_name and not args.resource_group:
        raise ConfigurationError("--identity-name needs --resource-group")
    issuer, subject, namespace, service_account = _issuer_and_subject(args)
    name = _credential_name(args, namespace, service_account)
    if args.identity_name:
        head = "az identity federated-credential create"
        options = [
            ("--name", name),
            ("--identity-name", args.identity_name),
            ("--resource-group", args.resource_group),
            ("--issuer", issuer),
            ("--subject", subject),
            ("--audiences", AZURE_AUDIENCE),
        ]
    else:
        head = "az ad app federated-credential create"
        parameters = {"name": name, "issuer": issuer, "subject": subject, "audiences": [AZURE_AUDIENCE]}
        options = [("--id", args.app_id), ("--parameters", json.dumps(parameters))]
    print(f"# trust {subject} from {issuer}")
    print(" \\\n    ".join([head, *(f"{flag} {shlex.quote(value)}" for flag, value in options)]))
    return 0


def run_token_volume(args: argparse.Namespace) -> int:
    print(f"""\
# pod spec (spec.template.spec of a Deployment): the token Entra ID accepts, and where cfke-auth finds it
serviceAccountName: {args.service_account}
containers:
  - name: app
    env:
      - name: AZURE_FEDERATED_TOKEN_FILE
        value: {TOKEN_DIR}/{TOKEN_NAME}
      - name: AZURE_CLIENT_ID
        value: "{args.client_id}"
      - name: AZURE_TENANT_ID
        value: "{args.tenant_id}"
    volumeMounts:
      - name: {TOKEN_NAME}
        mountPath: {TOKEN_DIR}
        readOnly: true
volumes:
  - name: {TOKEN_NAME}
    projected:
      sources:
        - serviceAccountToken:
            path: {TOKEN_NAME}
            audience: {AZURE_AUDIENCE}
            expirationSeconds: 3600""")
    return 0
