"""``cfke-auth gcp``: the credential configuration file and the IAM principal for Google Cloud."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from .._errors import ConfigurationError
from .._http import check_endpoint
from .._source import resolve_token_path
from ..gcp.cred_config import cred_config
from ..gcp.names import WorkloadProvider, parse_provider, service_account_email
from ..gcp.settings import DEFAULT_IAM_URL, DEFAULT_STS_URL, check_lifetime
from ..gcp.terraform import terraform
from ._common import add_identity_arguments, add_issuer_arguments, add_token_path, workload

#: A provider ID standing in when only the pool matters (the members name no provider).
_POOL_ONLY = "pool-only"


def register(commands: Any) -> None:
    gcp: argparse.ArgumentParser = commands.add_parser(
        "gcp",
        help="Google Cloud: credential configuration and IAM principal",
        description="Google Cloud: the credential configuration file other processes load, and the IAM principal "
        "of this pod with Terraform for the pool and provider.",
    )
    sub = gcp.add_subparsers(title="subcommands", metavar="SUBCOMMAND", required=True)

    config = sub.add_parser(
        "cred-config",
        parents=[_naming(provider_required=True)],
        help="write the external_account configuration for GOOGLE_APPLICATION_CREDENTIALS",
        description="Write the external_account credential configuration google-auth, gcloud and the other "
        "Google client libraries load, sourcing the token from the pod's token file.",
    )
    config.add_argument("--service-account", help="Google service account email to impersonate")
    config.add_argument(
        "--lifetime",
        type=int,
        metavar="SECONDS",
        help="lifetime of the impersonated tokens (default 3600; up to 43200 where the org policy allows)",
    )
    config.add_argument(
        "--delegate",
        action="append",
        metavar="EMAIL",
        help="a service account to chain through (refused: the file format has no delegation chain; see the docs)",
    )
    config.add_argument("--sts-endpoint-url", default=DEFAULT_STS_URL, help="STS base URL (default: Google's)")
    config.add_argument("--iam-endpoint-url", default=DEFAULT_IAM_URL, help="IAM Credentials base URL")
    config.add_argument("--output", "-o", help="file to write (default: stdout)")
    config.set_defaults(func=run_cred_config)

    principal = sub.add_parser(
        "principal",
        parents=[_naming(provider_required=False)],
        help="print the IAM member for this pod's identity, and Terraform for the pool and provider",
        description="Print the principal:// member of a Kubernetes service account and the namespace-wide "
        "principalSet:// member (they name the pool, not the provider), and with --provider the Terraform for the "
        "pool and a provider trusting the cluster's issuer. Namespace, service account and issuer come from the "
        "pod's token unless given; with all of them given no token is read.",
    )
    add_identity_arguments(principal)
    add_issuer_arguments(principal)
    principal.set_defaults(func=run_principal)


def _naming(*, provider_required: bool) -> argparse.ArgumentParser:
    """The arguments naming the pool and provider, and the token file; shared by the subcommands."""
    naming = argparse.ArgumentParser(add_help=False)
    naming.add_argument("--pool", required=True, help="workload identity pool ID or resource name")
    naming.add_argument(
        "--provider",
        required=provider_required,
        help="provider ID, resource name or audience" + ("" if provider_required else " (for the Terraform)"),
    )
    naming.add_argument("--project-number", help="the project NUMBER (not the ID), unless the names carry it")
    add_token_path(naming, "$CFKE_TOKEN_FILE, then the projected path")
    return naming


def _provider(args: argparse.Namespace) -> WorkloadProvider:
    return parse_provider(args.pool, args.provider, args.project_number)


def run_cred_config(args: argparse.Namespace) -> int:
    provider = _provider(args)
    service_account = service_account_email(args.service_account, "--service-account")
    if args.delegate:
        raise ConfigurationError(
            "--delegate: the external_account configuration has no field for a delegation chain (google-auth, gcloud "
            "and the other client libraries impersonate --service-account directly), so the file would be refused; "
            "grant the pod's principal roles/iam.workloadIdentityUser on the service account itself, or use "
            "cfke-auth in the process (delegates=...)"
        )
    config = cred_config(
        provider,
        os.path.abspath(resolve_token_path(args.token_path)),
        service_account=service_account,
        sts_url=check_endpoint(args.sts_endpoint_url, what="--sts-endpoint-url"),
        iam_url=check_endpoint(args.iam_endpoint_url, what="--iam-endpoint-url"),
        lifetime=check_lifetime(args.lifetime, service_account, what="--lifetime"),
    )
    text = json.dumps(config, indent=2) + "\n"
    if args.output:
        with open(args.output, "w", encoding="utf-8") as out:
            out.write(text)
        print(f"wrote {args.output}; point GOOGLE_APPLICATION_CREDENTIALS at it", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def run_principal(args: argparse.Namespace) -> int:
    # A member names the pool only: without --provider, any valid provider ID completes the name (the pool itself
    # when it is a provider's resource name) and no Terraform is printed.
    provider_name: str | None = args.provider or (args.pool if "/providers/" in args.pool else None)
    provider = parse_provider(args.pool, provider_name or _POOL_ONLY, args.project_number)
    who = workload(args, None, need_issuer=provider_name is not None)
    member = provider.principal(who.subject)
    print(f"member for {who.namespace}/{who.service_account}:\n  {member}")
    print(f"member for every service account in namespace {who.namespace}:")
    print(f"  {provider.principal_set('namespace', who.namespace)}")
    if provider_name is not None and who.issuer is not None:
        print(f"\n# Terraform (issuer {who.issuer})\n")
        print(terraform(provider, who.issuer, member), end="")
    else:
        print("\n# pass --provider for the Terraform of the pool and its provider", file=sys.stderr)
    return 0
