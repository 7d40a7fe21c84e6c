"""The pieces of the rest of cfke-auth that ``inject`` reuses, imported in one place.

Checks and constants are the library's own, so a manifest written here holds exactly what the library accepts at
run time; when those modules move, this is the only import to follow.
"""

from __future__ import annotations

from .._http import check_endpoint
from ..aws.endpoint import resolve_region
from ..aws.settings import resolve_role_arn, resolve_session_name, session_name_from
from ..azure.settings import AZURE_AUDIENCE
from ..gcp.cred_config import cred_config
from ..gcp.names import WorkloadProvider, parse_provider, service_account_email

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
    "session_name_from",
]
