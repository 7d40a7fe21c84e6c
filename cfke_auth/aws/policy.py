"""The IAM side of the trust: the OIDC provider a cluster's issuer becomes, and the role trust policy that admits
one service account. Pure functions, shared by the ``aws trust-policy`` command and the error hints."""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

from .._claims import service_account_subject
from .._errors import ConfigurationError

__all__ = [
    "create_provider_command",
    "issuer_host_path",
    "oidc_provider_arn",
    "trust_policy",
]

_ACCOUNT = re.compile(r"^\d{12}$")


def issuer_host_path(issuer: str) -> str:
    """The issuer without its scheme: how IAM names the OIDC provider and prefixes its condition keys."""
    return issuer.partition("://")[2].rstrip("/")


def oidc_provider_arn(account_id: str, issuer: str) -> str:
    """``arn:aws:iam::ACCOUNT:oidc-provider/HOST/PATH``: the federated principal a trust policy names."""
    return f"arn:aws:iam::{account_id}:oidc-provider/{issuer_host_path(issuer)}"


def trust_policy(account_id: str, issuer: str, audience: str, namespace: str, service_account: str) -> dict[str, Any]:
    """A role trust policy letting exactly ``system:serviceaccount:NAMESPACE:SERVICE_ACCOUNT`` of the cluster behind
    ``issuer`` assume the role, with tokens for ``audience``. ``ValueError`` for an account id that is not 12 digits.
    """
    if not _ACCOUNT.match(account_id):
        raise ConfigurationError(f"account id {account_id!r} is not a 12-digit AWS account id")
    key = issuer_host_path(issuer)
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": oidc_provider_arn(account_id, issuer)},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{key}:aud": audience,
                        f"{key}:sub": service_account_subject(namespace, service_account),
                    }
                },
            }
        ],
    }


def create_provider_command(issuer: str, audience: str) -> str:
    """``aws iam create-open-id-connect-provider`` for ``issuer`` (once per account), in a form AWS CLI v1 and v2 both
    run: the URL goes inside ``--cli-input-json``, since v1 fetches any parameter value starting with ``https://``
    as a document."""
    document = json.dumps({"Url": issuer, "ClientIDList": [audience]})
    return f"aws iam create-open-id-connect-provider --cli-input-json {shlex.quote(document)}"
