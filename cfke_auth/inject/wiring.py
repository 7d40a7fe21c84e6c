"""What each cloud adds to a pod: its volumes, their mounts, the environment its SDKs read, and Google's ConfigMap.

Each cloud gets its own projected service-account token, with the audience and lifetime that cloud accepts, in its
own directory; the variables point each SDK (and cfke-auth) at its own file, so one pod can use all three.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from ._library import AZURE_AUDIENCE, cred_config, session_name_from
from .manifest import InjectError
from .plan import AwsPlan, AzurePlan, GcpPlan, InjectPlan

__all__ = [
    "AWS_TOKEN_FILE",
    "AZURE_TOKEN_FILE",
    "GCP_CREDENTIALS_FILE",
    "GCP_TOKEN_FILE",
    "INJECTED_ANNOTATION",
    "Wiring",
    "Workload",
    "session_name",
    "wirings",
]

#: The pod-template (and ConfigMap) annotation listing the clouds ``inject`` wired, e.g. ``aws,gcp``.
INJECTED_ANNOTATION = "cfke.io/injected"
#: STS accepts a web-identity token living up to a day; the kubelet renews it at 80 % of that.
AWS_TOKEN_SECONDS = 86400
#: Entra ID refuses assertions living longer than about a day (AADSTS70023); one hour is what AKS uses.
AZURE_TOKEN_SECONDS = 3600

_AWS_DIR = "/var/run/secrets/cfke.io/aws"
_GCP_DIR = "/var/run/secrets/cfke.io/gcp"
_GCP_CREDENTIALS_DIR = "/var/run/secrets/cfke.io/gcp-credentials"
_AZURE_DIR = "/var/run/secrets/azure/tokens"  # what azure-identity's webhook and `cfke-auth azure token-volume` use
_GCP_CREDENTIALS_KEY = "credentials.json"
AWS_TOKEN_FILE = f"{_AWS_DIR}/token"
GCP_TOKEN_FILE = f"{_GCP_DIR}/token"
GCP_CREDENTIALS_FILE = f"{_GCP_CREDENTIALS_DIR}/{_GCP_CREDENTIALS_KEY}"
AZURE_TOKEN_FILE = f"{_AZURE_DIR}/azure-identity-token"


@dataclass(frozen=True)
class Workload:
    """The workload being wired: its name and namespace (either may be unknown)."""

    name: str | None
    namespace: str | None


@dataclass(frozen=True)
class Wiring:
    """One cloud's additions to a pod: whole volume and mount entries, ``(name, value)`` env pairs, and the
    ConfigMap document the volumes need (Google only)."""

    cloud: str
    volumes: tuple[dict[str, Any], ...]
    mounts: tuple[dict[str, Any], ...]
    env: tuple[tuple[str, str], ...]
    config_map: dict[str, Any] | None = None


def session_name(workload: Workload) -> str:
    """``NAMESPACE.NAME`` made a valid STS role session name, by the library's own rule."""
    if not workload.name:
        raise InjectError(
            "metadata.name", "missing, and the AWS session name is NAMESPACE.NAME: name it or pass --aws-session-name"
        )
    return session_name_from(f"{workload.namespace}.{workload.name}" if workload.namespace else workload.name)


def _token_volume(name: str, audience: str, seconds: int, path: str) -> dict[str, Any]:
    source = {"audience": audience, "expirationSeconds": seconds, "path": path}
    return {"name": name, "projected": {"sources": [{"serviceAccountToken": source}]}}


def _mount(name: str, directory: str) -> dict[str, Any]:
    return {"name": name, "mountPath": directory, "readOnly": True}


def _aws(plan: AwsPlan, workload: Workload) -> Wiring:
    env = [
        ("AWS_ROLE_ARN", plan.role_arn),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", AWS_TOKEN_FILE),
        ("AWS_ROLE_SESSION_NAME", plan.session_name or session_name(workload)),
    ]
    if plan.region:
        env.append(("AWS_REGION", plan.region))
    volume = _token_volume("cfke-aws-token", plan.audience, AWS_TOKEN_SECONDS, "token")
    return Wiring("aws", (volume,), (_mount("cfke-aws-token", _AWS_DIR),), tuple(env))


def config_map_name(data: str) -> str:
    """``cfke-gcp-credentials-HASH``: named by its content (as kustomize names generated ConfigMaps), so workloads
    with different settings in one namespace never share one, and a change of settings rolls the pods."""
    return f"cfke-gcp-credentials-{hashlib.sha256(data.encode()).hexdigest()[:10]}"


def _gcp(plan: GcpPlan, workload: Workload) -> Wiring:
    config = cred_config(plan.provider, GCP_TOKEN_FILE, service_account=plan.service_account)
    data = json.dumps(config, indent=2) + "\n"
    name = config_map_name(data)
    metadata: dict[str, Any] = {"name": name}
    if workload.namespace:
        metadata["namespace"] = workload.namespace
    metadata["labels"] = {"app.kubernetes.io/managed-by": "cfke-auth"}
    metadata["annotations"] = {INJECTED_ANNOTATION: "gcp"}
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": {_GCP_CREDENTIALS_KEY: data}}
    volumes = (
        _token_volume("cfke-gcp-token", plan.provider.audience, plan.expiration_seconds, "token"),
        {"name": "cfke-gcp-credentials", "configMap": {"name": name}},
    )
    mounts = (_mount("cfke-gcp-token", _GCP_DIR), _mount("cfke-gcp-credentials", _GCP_CREDENTIALS_DIR))
    return Wiring("gcp", volumes, mounts, (("GOOGLE_APPLICATION_CREDENTIALS", GCP_CREDENTIALS_FILE),), config_map)


def _azure(plan: AzurePlan) -> Wiring:
    env = [
        ("AZURE_CLIENT_ID", plan.client_id),
        ("AZURE_TENANT_ID", plan.tenant_id),
        ("AZURE_FEDERATED_TOKEN_FILE", AZURE_TOKEN_FILE),
    ]
    if plan.authority_host:
        env.append(("AZURE_AUTHORITY_HOST", plan.authority_host))
    volume = _token_volume("azure-identity-token", AZURE_AUDIENCE, AZURE_TOKEN_SECONDS, "azure-identity-token")
    return Wiring("azure", (volume,), (_mount("azure-identity-token", _AZURE_DIR),), tuple(env))


def wirings(plan: InjectPlan, workload: Workload) -> list[Wiring]:
    """What each chosen cloud adds to this workload, in the order ``aws``, ``gcp``, ``azure``."""
    result = []
    if plan.aws:
        result.append(_aws(plan.aws, workload))
    if plan.gcp:
        result.append(_gcp(plan.gcp, workload))
    if plan.azure:
        result.append(_azure(plan.azure))
    return result
