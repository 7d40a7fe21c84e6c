"""``cfke-auth inject``: add what the chosen clouds need to Kubernetes manifests, as ``istioctl kube-inject`` does.

Reads multi-document YAML (a file, or stdin) and writes it back (stdout, ``--output FILE`` or ``--in-place``) with
each workload wired: per cloud a projected service-account token with the audience and lifetime that cloud accepts,
its mount in every container, and the variables the SDKs read. Comments and key order are kept; running it again
changes nothing. Bad input is one line on stderr, exit status 2, and nothing written.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any

from .. import ConfigurationError
from ..inject import build_plan, inject
from ..inject.plan import AWS_DEFAULT_AUDIENCE, GCP_MAX_TOKEN_SECONDS, GCP_TOKEN_SECONDS

_DESCRIPTION = (
    "Add what the chosen clouds need to Kubernetes manifests: per cloud a projected service-account token with the "
    "audience and lifetime that cloud accepts, its mount in every container, and the variables its SDKs read. "
    "Reads FILE (or stdin), writes stdout, --output FILE or FILE itself (--in-place). Comments and key order are "
    "kept, and running it again changes nothing. Bad input is one line on stderr, exit status 2, and nothing written."
)
_EXAMPLE = (
    "example: cfke-auth inject deploy.yaml --service-account checkout "
    "--aws-role-arn arn:aws:iam::123456789012:role/checkout | kubectl apply -f -"
)


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "inject",
        help="add the token volumes, mounts and env the clouds need to Kubernetes manifests",
        description=_DESCRIPTION,
        epilog=_EXAMPLE,
    )
    parser.add_argument("file", nargs="?", default="-", metavar="FILE", help="manifests to read (default: stdin)")
    parser.add_argument("-o", "--output", metavar="FILE", help="write the result to FILE instead of stdout")
    parser.add_argument("-i", "--in-place", action="store_true", help="write the result back into FILE")
    kube = parser.add_argument_group("Kubernetes")
    kube.add_argument("--service-account", metavar="NAME", help="set every pod's serviceAccountName")
    kube.add_argument(
        "-n",
        "--namespace",
        metavar="NAMESPACE",
        help="namespace of manifests that name none (for the AWS session name and the Google ConfigMap)",
    )
    aws = parser.add_argument_group("AWS")
    aws.add_argument("--aws-role-arn", metavar="ARN", help="IAM role to assume (arn:aws:iam::ACCOUNT_ID:role/NAME)")
    aws.add_argument(
        "--aws-audience",
        metavar="AUDIENCE",
        help=f"token audience, as in the OIDC provider's client-id list (default: {AWS_DEFAULT_AUDIENCE}; the "
        "cluster issuer URL also works)",
    )
    aws.add_argument("--aws-region", metavar="REGION", help="AWS_REGION for the SDKs (default: unset)")
    aws.add_argument("--aws-session-name", metavar="NAME", help="AWS_ROLE_SESSION_NAME (default: NAMESPACE.WORKLOAD)")
    gcp = parser.add_argument_group("Google Cloud")
    gcp.add_argument("--gcp-pool", metavar="POOL", help="workload identity pool ID or resource name")
    gcp.add_argument("--gcp-provider", metavar="PROVIDER", help="provider ID, resource name or audience")
    gcp.add_argument(
        "--gcp-project-number", metavar="NUMBER", help="project number (unless the pool or provider names it)"
    )
    gcp.add_argument("--gcp-service-account", metavar="EMAIL", help="service account to impersonate (optional)")
    gcp.add_argument(
        "--gcp-token-expiration",
        metavar="SECONDS",
        help=f"lifetime of the projected token (default: {GCP_TOKEN_SECONDS}; at most {GCP_MAX_TOKEN_SECONDS})",
    )
    azure = parser.add_argument_group("Azure")
    azure.add_argument("--azure-client-id", metavar="GUID", help="managed identity's or app registration's client id")
    azure.add_argument("--azure-tenant-id", metavar="GUID", help="Entra ID tenant")
    azure.add_argument(
        "--azure-authority-host", metavar="HOST", help="AZURE_AUTHORITY_HOST for sovereign clouds (default: unset)"
    )
    parser.set_defaults(func=run)


def _seconds(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise ConfigurationError(f"--gcp-token-expiration {value!r} is not a whole number of seconds") from None


def _read(file: str) -> str:
    if file == "-":
        return sys.stdin.read()
    try:
        return Path(file).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigurationError(f"{file}: not UTF-8 text") from None
    except OSError as exc:
        raise ConfigurationError(f"{file}: {exc.strerror or exc}") from None


def _write(text: str, path: str) -> None:
    """Replace ``path`` with ``text`` at once (a temporary file renamed over it), so a failure leaves it as it was;
    an existing file keeps its mode, a new one gets the umask's."""
    target = Path(path)
    try:
        if target.exists():
            mode = stat.S_IMODE(target.stat().st_mode)
        else:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    except OSError as exc:
        raise ConfigurationError(f"{path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise ConfigurationError(f"{path}: {exc.strerror or exc}") from None


def run(args: argparse.Namespace) -> int:
    if args.in_place and (args.output or args.file == "-"):
        raise ConfigurationError("--in-place writes back into FILE: give a FILE, and no --output")
    plan = build_plan(
        aws_role_arn=args.aws_role_arn,
        aws_audience=args.aws_audience,
        aws_region=args.aws_region,
        aws_session_name=args.aws_session_name,
        gcp_pool=args.gcp_pool,
        gcp_provider=args.gcp_provider,
        gcp_project_number=args.gcp_project_number,
        gcp_service_account=args.gcp_service_account,
        gcp_token_expiration=_seconds(args.gcp_token_expiration),
        azure_client_id=args.azure_client_id,
        azure_tenant_id=args.azure_tenant_id,
        azure_authority_host=args.azure_authority_host,
        service_account=args.service_account,
        namespace=args.namespace,
    )
    from ..inject.yamlio import dump, load

    documents, layout = load(_read(args.file))
    text = dump(inject(documents, plan), layout)
    if args.in_place or args.output:
        _write(text, args.file if args.in_place else args.output)
    else:
        sys.stdout.write(text)
    return 0
