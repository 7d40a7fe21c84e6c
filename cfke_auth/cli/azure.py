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

from .._errors import ConfigurationError
from ..azure.settings import AZURE_AUDIENCE
from ._common import add_identity_arguments, add_issuer_arguments, add_token_path, workload

TOKEN_VARIABLE = "AZURE_FEDERATED_TOKEN_FILE"
TOKEN_DEFAULT = "$AZURE_FEDERATED_TOKEN_FILE, $CFKE_TOKEN_FILE, then the projected path"
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
    add_identity_arguments(fic)
    add_issuer_arguments(fic)
    add_token_path(fic, TOKEN_DEFAULT)
    fic.set_defaults(func=run_federated_credential)

    vol = sub.add_parser(
        "token-volume",
        help="print the pod-spec snippet mounting the projected token",
        description="Print the pod-spec snippet: a projected serviceAccountToken volume with audience "
        f"{AZURE_AUDIENCE}, its mount, and the AZURE_* variables cfke-auth and azure-identity read.",
    )
    vol.add_argument(
        "--service-account", metavar="NAME", help="serviceAccountName of the pod (default: the token's service account)"
    )
    vol.add_argument(
        "--client-id",
        default=os.environ.get("AZURE_CLIENT_ID") or "<client-id>",
        help="the managed identity's or app registration's client id (default: $AZURE_CLIENT_ID)",
    )
    vol.add_argument(
        "--tenant-id",
        default=os.environ.get("AZURE_TENANT_ID") or "<tenant-id>",
        help="the Entra ID tenant id (default: $AZURE_TENANT_ID)",
    )
    add_token_path(vol, TOKEN_DEFAULT)
    vol.set_defaults(func=run_token_volume, namespace=None)


def _credential_name(args: argparse.Namespace, namespace: str, service_account: str) -> str:
    name: str = args.name or re.sub(r"[^A-Za-z0-9_-]", "-", f"cfke-{namespace}-{service_account}")[:120]
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{2,119}", name):
        raise ConfigurationError(f"--name {name!r}: 3-120 letters, digits, '-' or '_', starting with a letter or digit")
    return name


def run_federated_credential(args: argparse.Namespace) -> int:
    if args.identity_name and not args.resource_group:
        raise ConfigurationError("--identity-name needs --resource-group")
    who = workload(args, TOKEN_VARIABLE, need_issuer=True)
    issuer, subject = who.issuer, who.subject
    assert issuer is not None  # need_issuer
    name = _credential_name(args, who.namespace, who.service_account)
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
    service_account = args.service_account or workload(args, TOKEN_VARIABLE, need_issuer=False).service_account
    print(f"""\
# pod spec (spec.template.spec of a Deployment): the token Entra ID accepts, and where cfke-auth finds it
serviceAccountName: {service_account}
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
