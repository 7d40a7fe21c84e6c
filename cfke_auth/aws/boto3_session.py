"""``cfke_auth.get_boto3_session``: a ``boto3.Session`` whose credentials come from the pod's identity."""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3
import botocore.session
from botocore.credentials import CredentialResolver

from .botocore_credentials import EngineCredentials, EngineProvider
from .credential import AwsOptions, resolve, sts_credential

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["get_boto3_session"]


def get_boto3_session(role_arn: str | None = None, **options: Unpack[AwsOptions]) -> boto3.Session:
    """A ``boto3.Session`` assuming ``role_arn`` with the pod's service-account token.

    Credentials are exchanged on first use and refreshed ahead of expiry; sessions made with the same parameters
    in one process share them, so building a session per request costs no STS call. ``role_arn`` defaults to
    ``AWS_ROLE_ARN``; ``session_name`` to ``AWS_ROLE_SESSION_NAME``, else ``NAMESPACE.POD`` from the token;
    ``region_name`` to ``AWS_REGION``/``AWS_DEFAULT_REGION`` (also used for the regional STS endpoint);
    ``duration_seconds`` (900-43200) to the role's default. Bad values raise ``ValueError`` before any request.
    """
    setup = resolve(role_arn, **options)
    core = botocore.session.get_session()
    credentials = EngineCredentials(sts_credential(setup))
    core.register_component("credential_provider", CredentialResolver([EngineProvider(credentials)]))
    return boto3.Session(botocore_session=core, region_name=setup.region)
