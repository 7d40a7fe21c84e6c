"""The pieces of the rest of cfke-auth that ``inject`` reuses, imported in one place.

Checks and constants are the library's own, so a manifest written here holds exactly what the library accepts at
run time; when those modules move, this is the only import to follow.
"""

from __future__ import annotations

from ..aws.arguments import resolve_role_arn, resolve_session_name
from ..aws.endpoint import resolve_region
from ..azure.config import AZURE_AUDIENCE
from ..gcp.cred_config import cred_config
from ..gcp.names import WorkloadProvider, parse_provider, service_account_email
from ..http import check_endpoint

__all__ = [
    "AZURE_AUDIENCE",
    "WorkloadProvider",
    "check_endpoint",
    "cred_config",
    "parse_provider",
    "resolve_region",
    "resolve_role_arn",
    "resolve_session_name",
    "service_account_email",
]
