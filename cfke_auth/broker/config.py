"""What ``cfke-auth serve`` is told: the flags, the library's environment variables, and the checked result.

Each cloud is configured by its own flags, falling back to the variables the library (and the clouds' SDKs) read:
AWS when a role ARN is given (``--aws-role-arn`` or ``AWS_ROLE_ARN``), Google Cloud when a workload identity pool
and provider are, Azure when a tenant and client id are (``AZURE_TENANT_ID``/``AZURE_CLIENT_ID``). Any subset
works; none is an error. Every listening address must be a loopback one: the broker hands out the pod's cloud
credentials to whoever reaches it, so binding the pod IP would hand them to the whole cluster.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path

from .._errors import ConfigurationError
from ..aws import settings as aws_settings
from ..aws.settings import AwsSettings
from ..azure import settings as azure_settings
from ..azure.settings import EntraSettings
from ..gcp import settings as gcp_settings
from ..gcp.settings import GcpSettings

__all__ = [
    "DEFAULT_AZURE_RESOURCE",
    "DEFAULT_PORT",
    "DEFAULT_SECRETS_DIR",
    "BrokerConfig",
    "GcpPart",
    "add_arguments",
    "check_host",
    "from_args",
]

DEFAULT_PORT = 8930
DEFAULT_SECRETS_DIR = "/var/run/cfke-broker"
#: The resource whose token is obtained at startup (for readiness) unless ``--azure-resource`` names others.
DEFAULT_AZURE_RESOURCE = "https://management.azure.com"
_SA_PROJECT = re.compile(r"[^@]+@([a-z][a-z0-9-]{4,28}[a-z0-9])\.iam\.gserviceaccount\.com")


@dataclass(frozen=True)
class GcpPart:
    """Google Cloud as the metadata server presents it: the exchange's settings (scopes: the default set) and the
    project ID to report (None: the project endpoints answer 404)."""

    settings: GcpSettings
    project_id: str | None = None

    @property
    def email(self) -> str:
        """The account the metadata server names: the impersonated service account, else the workload pool's
        identity in GKE's form (``PROJECT.svc.id.goog``), which no client mistakes for a service account."""
        project = self.project_id or self.settings.provider.project_number
        return self.settings.service_account or f"{project}.svc.id.goog"


@dataclass(frozen=True)
class BrokerConfig:
    """A checked broker configuration: where to listen, where the secrets go, and each configured cloud."""

    hosts: tuple[str, ...]
    port: int
    secrets_dir: Path
    aws: AwsSettings | None = None
    gcp: GcpPart | None = None
    azure: EntraSettings | None = None
    azure_resources: tuple[str, ...] = (DEFAULT_AZURE_RESOURCE,)
    #: How long SIGTERM waits for requests in flight before closing their connections.
    drain_seconds: float = 5.0

    @property
    def clouds(self) -> tuple[str, ...]:
        """The configured clouds, in a fixed order."""
        parts = (("aws", self.aws), ("gcp", self.gcp), ("azure", self.azure))
        return tuple(name for name, part in parts if part is not None)

    @property
    def advertised_host(self) -> str:
        """The address clients are told: an IPv4 one when there is one (Node's Azure SDK cannot reach ``[::1]``)."""
        for host in self.hosts:
            if ":" not in host:
                return host
        return f"[{self.hosts[0]}]"


def check_host(value: str) -> str:
    """``value`` as a loopback IP literal (``127.0.0.1``, ``::1``, ...); a ConfigurationError for anything else."""
    try:
        address = ipaddress.ip_address(value.strip().removeprefix("[").removesuffix("]"))
    except ValueError:
        raise ConfigurationError(f"--bind {value!r} is not an IP address: use 127.0.0.1 or ::1") from None
    if not address.is_loopback:
        raise ConfigurationError(
            f"--bind {value}: refusing a non-loopback address (whoever reaches it gets the pod's cloud credentials); "
            "use 127.0.0.1 or ::1"
        )
    return str(address)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``serve`` flags: listening, secrets, and each cloud's (defaults from the library's variables)."""
    listen = parser.add_argument_group("listening")
    listen.add_argument(
        "--bind",
        action="append",
        metavar="ADDRESS",
        help="loopback address to listen on, repeatable (default: 127.0.0.1)",
    )
    listen.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default: {DEFAULT_PORT}; 0: any)")
    listen.add_argument(
        "--secrets-dir",
        default=os.environ.get("CFKE_BROKER_SECRETS_DIR") or DEFAULT_SECRETS_DIR,
        help="directory for the per-protocol secrets, shared with the app containers "
        f"(default: $CFKE_BROKER_SECRETS_DIR, else {DEFAULT_SECRETS_DIR})",
    )
    listen.add_argument(
        "--print-env", action="store_true", help="print the environment the app containers need and exit"
    )

    aws = parser.add_argument_group("AWS (enabled by a role ARN)")
    aws.add_argument("--aws-role-arn", help="role to assume (default: $AWS_ROLE_ARN)")
    aws.add_argument("--aws-region", help="region (default: $AWS_REGION, $AWS_DEFAULT_REGION)")
    aws.add_argument("--aws-session-name", help="role session name (default: NAMESPACE.POD from the token)")
    aws.add_argument("--aws-duration", type=int, help="credential lifetime in seconds, 900-43200")
    aws.add_argument("--aws-token-path", help="token file (default: $AWS_WEB_IDENTITY_TOKEN_FILE, $CFKE_TOKEN_FILE)")
    aws.add_argument("--aws-sts-endpoint-url", help="STS endpoint (default: $AWS_ENDPOINT_URL_STS, regional)")

    gcp = parser.add_argument_group("Google Cloud (enabled by a pool and provider)")
    gcp.add_argument("--gcp-pool", help="workload identity pool ID or resource name")
    gcp.add_argument("--gcp-provider", help="provider ID, resource name or audience")
    gcp.add_argument("--gcp-project-number", help="the pool's project NUMBER, unless the names carry it")
    gcp.add_argument("--gcp-service-account", help="service account email to impersonate (needed for ID tokens)")
    gcp.add_argument(
        "--gcp-scope",
        action="append",
        metavar="SCOPE",
        help="scope of tokens asked for without scopes, repeatable (default: cloud-platform)",
    )
    gcp.add_argument("--gcp-project-id", help="project ID to report (default: from the service account's email)")
    gcp.add_argument("--gcp-token-path", help="token file (default: $CFKE_TOKEN_FILE, then the projected path)")
    gcp.add_argument("--gcp-sts-endpoint-url", help="Google STS base URL (default: Google's)")
    gcp.add_argument("--gcp-iam-endpoint-url", help="IAM Credentials base URL (default: Google's)")

    azure = parser.add_argument_group("Azure (enabled by a tenant and client id)")
    azure.add_argument("--azure-tenant-id", help="Entra ID tenant (default: $AZURE_TENANT_ID)")
    azure.add_argument("--azure-client-id", help="application (client) id (default: $AZURE_CLIENT_ID)")
    azure.add_argument("--azure-token-path", help="token file (default: $AZURE_FEDERATED_TOKEN_FILE, $CFKE_TOKEN_FILE)")
    azure.add_argument("--azure-authority-host", help="authority (default: $AZURE_AUTHORITY_HOST, public cloud)")
    azure.add_argument(
        "--azure-resource",
        action="append",
        metavar="RESOURCE",
        help=f"resource whose token is obtained at startup, repeatable (default: {DEFAULT_AZURE_RESOURCE})",
    )


def _aws(args: argparse.Namespace) -> AwsSettings | None:
    if not (args.aws_role_arn or os.environ.get("AWS_ROLE_ARN")):
        return None
    return aws_settings.resolve(
        args.aws_role_arn,
        region_name=args.aws_region,
        session_name=args.aws_session_name,
        duration_seconds=args.aws_duration,
        token_path=args.aws_token_path,
        sts_endpoint_url=args.aws_sts_endpoint_url,
    )


def _gcp(args: argparse.Namespace) -> GcpPart | None:
    if not (args.gcp_pool or args.gcp_provider):
        return None
    if not (args.gcp_pool and args.gcp_provider):
        raise ConfigurationError("Google Cloud needs both --gcp-pool and --gcp-provider")
    settings = gcp_settings.resolve(
        args.gcp_pool,
        args.gcp_provider,
        project_number=args.gcp_project_number,
        service_account=args.gcp_service_account,
        scopes=args.gcp_scope,
        token_path=args.gcp_token_path,
        sts_endpoint_url=args.gcp_sts_endpoint_url,
        iam_endpoint_url=args.gcp_iam_endpoint_url,
    )
    from_email = _SA_PROJECT.fullmatch(settings.service_account or "")
    return GcpPart(settings, args.gcp_project_id or (from_email.group(1) if from_email else None))


def _azure(args: argparse.Namespace) -> EntraSettings | None:
    given = (args.azure_tenant_id, args.azure_client_id, os.environ.get("AZURE_TENANT_ID"))
    if not any(given) and not os.environ.get("AZURE_CLIENT_ID"):
        return None
    return azure_settings.resolve(
        args.azure_tenant_id,
        args.azure_client_id,
        token_path=args.azure_token_path,
        authority_host=args.azure_authority_host,
    )


def from_args(args: argparse.Namespace) -> BrokerConfig:
    """The checked configuration; a ConfigurationError names the first bad or missing setting."""
    hosts = tuple(dict.fromkeys(check_host(h) for h in (args.bind or ["127.0.0.1"])))
    if not 0 <= args.port <= 65535:
        raise ConfigurationError(f"--port {args.port} is not a TCP port")
    config = BrokerConfig(
        hosts=hosts,
        port=args.port,
        secrets_dir=Path(args.secrets_dir),
        aws=_aws(args),
        gcp=_gcp(args),
        azure=_azure(args),
        azure_resources=tuple(dict.fromkeys(args.azure_resource or [DEFAULT_AZURE_RESOURCE])),
    )
    if not config.clouds:
        raise ConfigurationError(
            "no cloud configured: pass --aws-role-arn, --gcp-pool/--gcp-provider or --azure-tenant-id/"
            "--azure-client-id (or set AWS_ROLE_ARN, AZURE_TENANT_ID and AZURE_CLIENT_ID)"
        )
    if config.azure is not None and all(":" in h for h in hosts):
        raise ConfigurationError(
            "Azure needs an IPv4 loopback address (@azure/identity cannot reach [::1]): add --bind 127.0.0.1"
        )
    return config
