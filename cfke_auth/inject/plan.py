"""What to inject: one validated plan per cloud, and the whole plan built from the command's options.

Every value is checked here, before any manifest is touched, with the library's own rules (a role ARN, a provider
name, GUIDs), so a manifest that comes out of ``inject`` holds settings the library accepts at run time. Messages
name the ``cfke-auth inject`` option that carries the value.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .._errors import ConfigurationError
from ._library import (
    WorkloadProvider,
    check_endpoint,
    parse_provider,
    resolve_region,
    resolve_role_arn,
    resolve_session_name,
    service_account_email,
)

__all__ = [
    "AWS_DEFAULT_AUDIENCE",
    "GCP_MAX_TOKEN_SECONDS",
    "GCP_TOKEN_SECONDS",
    "MIN_TOKEN_SECONDS",
    "AwsPlan",
    "AzurePlan",
    "GcpPlan",
    "InjectPlan",
    "build_plan",
]

#: The audience AWS's convention gives tokens meant for STS (the OIDC provider's client-id list holds it).
AWS_DEFAULT_AUDIENCE = "sts.amazonaws.com"
#: The shortest projected token the kubelet issues.
MIN_TOKEN_SECONDS = 600
#: The Google token's lifetime unless --gcp-token-expiration says otherwise.
GCP_TOKEN_SECONDS = 3600
#: Google STS refuses subject tokens living longer than 48 hours.
GCP_MAX_TOKEN_SECONDS = 172800

_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_NAMESPACE = re.compile(_DNS_LABEL)
_SERVICE_ACCOUNT = re.compile(rf"{_DNS_LABEL}(\.{_DNS_LABEL})*")
_AUDIENCE = re.compile(r"\S+")


def _checked(option: str, check: Callable[[str], object], value: str) -> None:
    """Nothing if the library's ``check`` accepts ``value``, else a ConfigurationError naming ``option``.

    An empty value is refused here: the library's checks read the environment instead of an empty argument."""
    if not value:
        raise ConfigurationError(f"{option} must not be empty")
    try:
        check(value)
    except ValueError as exc:
        raise ConfigurationError(f"{option}: {exc}") from None


@dataclass(frozen=True)
class AwsPlan:
    """AWS: the role to assume, the token audience its OIDC provider accepts, and the optional SDK settings.

    ``session_name`` None means ``NAMESPACE.WORKLOAD`` per workload; ``region`` None leaves ``AWS_REGION`` unset.
    """

    role_arn: str
    audience: str = AWS_DEFAULT_AUDIENCE
    region: str | None = None
    session_name: str | None = None

    def __post_init__(self) -> None:
        try:
            resolve_role_arn(self.role_arn or "-")  # never empty: the library would read AWS_ROLE_ARN instead
        except ValueError:
            raise ConfigurationError(
                f"--aws-role-arn {self.role_arn!r} is not an IAM role ARN (arn:aws:iam::ACCOUNT_ID:role/NAME)"
            ) from None
        if not _AUDIENCE.fullmatch(self.audience):
            raise ConfigurationError(f"--aws-audience {self.audience!r} must be a non-empty string without spaces")
        if self.region is not None:
            _checked("--aws-region", resolve_region, self.region)
        if self.session_name is not None:
            _checked("--aws-session-name", resolve_session_name, self.session_name)


@dataclass(frozen=True)
class GcpPlan:
    """Google: the workload identity provider, the service account to impersonate (if any), the token lifetime."""

    provider: WorkloadProvider
    service_account: str | None = None
    expiration_seconds: int = GCP_TOKEN_SECONDS

    def __post_init__(self) -> None:
        if self.service_account is not None:
            _checked("--gcp-service-account", service_account_email, self.service_account)
        if not MIN_TOKEN_SECONDS <= self.expiration_seconds <= GCP_MAX_TOKEN_SECONDS:
            raise ConfigurationError(
                f"--gcp-token-expiration {self.expiration_seconds}: Kubernetes issues tokens of at least "
                f"{MIN_TOKEN_SECONDS} seconds and Google STS accepts at most {GCP_MAX_TOKEN_SECONDS} (48 hours)"
            )

    @classmethod
    def parse(
        cls,
        pool: str,
        provider: str,
        project_number: str | None = None,
        *,
        service_account: str | None = None,
        expiration_seconds: int = GCP_TOKEN_SECONDS,
    ) -> GcpPlan:
        """The plan for a provider named any way :func:`cfke_auth.gcp.names.parse_provider` accepts."""
        try:
            workload_provider = parse_provider(pool, provider, project_number)
        except ValueError as exc:
            raise ConfigurationError(f"--gcp-pool/--gcp-provider/--gcp-project-number: {exc}") from None
        return cls(workload_provider, service_account, expiration_seconds)


@dataclass(frozen=True)
class AzurePlan:
    """Azure: the identity's client id and its tenant (both GUIDs), and an optional sovereign-cloud authority."""

    client_id: str
    tenant_id: str
    authority_host: str | None = None

    def __post_init__(self) -> None:
        for option, value in (("--azure-client-id", self.client_id), ("--azure-tenant-id", self.tenant_id)):
            if not _GUID.fullmatch(value):
                raise ConfigurationError(f"{option} {value!r} is not a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)")
        if self.authority_host is not None:  # a bare host name means https, as in azure-identity
            url = self.authority_host if "://" in self.authority_host else f"https://{self.authority_host}"
            _checked("--azure-authority-host", lambda value: check_endpoint(value, what="authority host"), url)


@dataclass(frozen=True)
class InjectPlan:
    """Everything one ``inject`` run adds: the chosen clouds (at least one), and the Kubernetes settings.

    ``service_account`` becomes each pod's ``serviceAccountName``; ``namespace`` is assumed for manifests that name
    none (for the AWS session name and the Google ConfigMap), and is never written into a workload.
    """

    aws: AwsPlan | None = None
    gcp: GcpPlan | None = None
    azure: AzurePlan | None = None
    service_account: str | None = None
    namespace: str | None = None

    def __post_init__(self) -> None:
        if not (self.aws or self.gcp or self.azure):
            raise ConfigurationError(
                "choose at least one cloud: --aws-role-arn, --gcp-pool with --gcp-provider, "
                "or --azure-client-id with --azure-tenant-id"
            )
        if self.service_account is not None and not (
            len(self.service_account) <= 253 and _SERVICE_ACCOUNT.fullmatch(self.service_account)
        ):
            raise ConfigurationError(
                f"--service-account {self.service_account!r} is not a Kubernetes service account name "
                "(lowercase letters, digits, '-' and '.')"
            )
        if self.namespace is not None and not (len(self.namespace) <= 63 and _NAMESPACE.fullmatch(self.namespace)):
            raise ConfigurationError(
                f"--namespace {self.namespace!r} is not a Kubernetes namespace name (lowercase letters, digits, '-')"
            )

    @property
    def clouds(self) -> tuple[str, ...]:
        """The chosen clouds, in the fixed order ``aws``, ``gcp``, ``azure``."""
        return tuple(name for name in ("aws", "gcp", "azure") if getattr(self, name) is not None)


def _complete(group: str, given: dict[str, object], required: tuple[str, ...]) -> None:
    """ConfigurationError when some of a cloud's options are given but not all of ``required``."""
    present = [option for option, value in given.items() if value is not None]
    missing = [option for option in required if given[option] is None]
    if present and missing:
        raise ConfigurationError(f"{present[0]} needs {' and '.join(missing)} ({group})")


def build_plan(
    *,
    aws_role_arn: str | None = None,
    aws_audience: str | None = None,
    aws_region: str | None = None,
    aws_session_name: str | None = None,
    gcp_pool: str | None = None,
    gcp_provider: str | None = None,
    gcp_project_number: str | None = None,
    gcp_service_account: str | None = None,
    gcp_token_expiration: int | None = None,
    azure_client_id: str | None = None,
    azure_tenant_id: str | None = None,
    azure_authority_host: str | None = None,
    service_account: str | None = None,
    namespace: str | None = None,
) -> InjectPlan:
    """The plan from ``cfke-auth inject``'s options (None for an option not given), refusing incomplete clouds."""
    _complete(
        "AWS",
        {"--aws-role-arn": aws_role_arn, "--aws-audience": aws_audience, "--aws-region": aws_region,
         "--aws-session-name": aws_session_name},
        ("--aws-role-arn",),
    )  # fmt: skip
    _complete(
        "Google Cloud",
        {"--gcp-pool": gcp_pool, "--gcp-provider": gcp_provider, "--gcp-project-number": gcp_project_number,
         "--gcp-service-account": gcp_service_account, "--gcp-token-expiration": gcp_token_expiration},
        ("--gcp-pool", "--gcp-provider"),
    )  # fmt: skip
    _complete(
        "Azure",
        {"--azure-client-id": azure_client_id, "--azure-tenant-id": azure_tenant_id,
         "--azure-authority-host": azure_authority_host},
        ("--azure-client-id", "--azure-tenant-id"),
    )  # fmt: skip
    aws = gcp = azure = None
    if aws_role_arn is not None:
        audience = AWS_DEFAULT_AUDIENCE if aws_audience is None else aws_audience
        aws = AwsPlan(aws_role_arn, audience, aws_region, aws_session_name)
    if gcp_pool is not None and gcp_provider is not None:
        gcp = GcpPlan.parse(
            gcp_pool,
            gcp_provider,
            gcp_project_number,
            service_account=gcp_service_account,
            expiration_seconds=GCP_TOKEN_SECONDS if gcp_token_expiration is None else gcp_token_expiration,
        )
    if azure_client_id is not None and azure_tenant_id is not None:
        azure = AzurePlan(azure_client_id, azure_tenant_id, azure_authority_host)
    return InjectPlan(aws, gcp, azure, service_account, namespace)
