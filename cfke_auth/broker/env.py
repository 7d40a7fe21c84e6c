"""``cfke-auth serve --print-env``: the environment the app containers need, per cloud, for the SDKs that read it.

``NAME=VALUE`` lines (values shell-quoted where needed, so ``set -a; . FILE`` or ``eval`` take them), with a comment
per cloud naming the clients and the traps: the AWS SDKs prefer web identity to the container provider, so
``AWS_ROLE_ARN``/``AWS_WEB_IDENTITY_TOKEN_FILE`` must go; botocore reads ``AWS_DEFAULT_REGION`` and the JavaScript SDK
``AWS_REGION``; Python's google-auth pings ``GCE_METADATA_IP`` but reads ``GCE_METADATA_HOST``; Azure's
``IDENTITY_HEADER`` is the secret's value itself (the protocol has no file variant).
"""

from __future__ import annotations

import shlex

from . import aws, azure
from .config import BrokerConfig
from .secrets import AWS_SECRET, AZURE_SECRET, load_or_create

__all__ = ["environment", "render"]

Section = tuple[str, list[tuple[str, str]]]


def environment(config: BrokerConfig) -> list[Section]:
    """(comment, variables) per configured cloud; loads (or creates) the secrets, as the broker does at start."""
    host = f"{config.advertised_host}:{config.port}"
    sections: list[Section] = []
    if config.aws is not None:
        secret = load_or_create(config.secrets_dir, AWS_SECRET)
        variables = [
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", f"http://{host}{aws.PATH}"),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", str(secret.path)),
        ]
        if config.aws.region:
            variables += [("AWS_REGION", config.aws.region), ("AWS_DEFAULT_REGION", config.aws.region)]
        sections.append(
            (
                "AWS: every AWS SDK's container credential provider (boto3, the AWS CLI, JavaScript, Go, Java, ...).\n"
                "Do not set AWS_ROLE_ARN or AWS_WEB_IDENTITY_TOKEN_FILE in the app containers: web identity comes\n"
                "first in the SDKs' chains and would bypass the broker.",
                variables,
            )
        )
    if config.gcp is not None:
        sections.append(
            (
                "Google Cloud: the metadata server (google-auth and google-cloud-* in Python, google-auth-library in\n"
                "Node, ...). Both are needed: Python pings GCE_METADATA_IP and reads GCE_METADATA_HOST.",
                [("GCE_METADATA_HOST", host), ("GCE_METADATA_IP", host)],
            )
        )
    if config.azure is not None:
        secret = load_or_create(config.secrets_dir, AZURE_SECRET)
        sections.append(
            (
                "Azure: managed identity, App Service protocol (ManagedIdentityCredential, DefaultAzureCredential in\n"
                f"Python and Node). IDENTITY_HEADER is the content of {secret.path}. Do not set\n"
                "AZURE_FEDERATED_TOKEN_FILE in the app containers: DefaultAzureCredential would use it first.",
                [("IDENTITY_ENDPOINT", f"http://{host}{azure.PATH}"), ("IDENTITY_HEADER", secret.value)],
            )
        )
    return sections


def render(config: BrokerConfig) -> str:
    """:func:`environment` as text: ``# comment`` lines, then ``NAME=VALUE`` lines, per cloud."""
    lines: list[str] = []
    for comment, variables in environment(config):
        lines += [f"# {line}" for line in comment.splitlines()]
        lines += [f"{name}={shlex.quote(value)}" for name, value in variables]
    return "\n".join(lines) + "\n"
