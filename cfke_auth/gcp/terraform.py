"""Terraform for the Google side of the trust: a pool, an OIDC provider for the cluster's issuer, a binding.

Printed by ``cfke-auth gcp principal`` so the configuration matches what the library will send: the provider's
audience, ``google.subject = assertion.sub`` and a ``namespace`` attribute for namespace-wide bindings.
"""

from __future__ import annotations

from .names import WorkloadProvider

__all__ = ["ATTRIBUTE_MAPPING", "terraform"]

#: The attribute mapping the docs and the ``principalSet`` members assume.
ATTRIBUTE_MAPPING = {
    "google.subject": "assertion.sub",
    "attribute.namespace": "assertion['kubernetes.io']['namespace']",
    "attribute.service_account": "assertion['kubernetes.io']['serviceaccount']['name']",
}


def terraform(provider: WorkloadProvider, issuer: str, member: str) -> str:
    """HCL for the pool, the provider trusting ``issuer``, and ``member`` reading one example bucket."""
    entries = {f'"{key}"': value for key, value in ATTRIBUTE_MAPPING.items()}
    width = max(map(len, entries))  # `terraform fmt` aligns the `=` of a map's entries
    mapping = "\n".join(f'    {key:<{width}} = "{value}"' for key, value in entries.items())
    return f"""\
resource "google_iam_workload_identity_pool" "cfke" {{
  project                   = "{provider.project_number}"
  workload_identity_pool_id = "{provider.pool_id}"
  display_name              = "Cloudfleet CFKE"
}}

resource "google_iam_workload_identity_pool_provider" "cfke" {{
  project                            = "{provider.project_number}"
  workload_identity_pool_id          = google_iam_workload_identity_pool.cfke.workload_identity_pool_id
  workload_identity_pool_provider_id = "{provider.provider_id}"
  attribute_mapping = {{
{mapping}
  }}
  oidc {{
    issuer_uri        = "{issuer}"
    allowed_audiences = ["{provider.audience}"]
  }}
}}

# Direct resource access: grant roles to the principal itself (one bucket as an example).
resource "google_storage_bucket_iam_member" "cfke_reader" {{
  bucket = "BUCKET"
  role   = "roles/storage.objectViewer"
  member = "{member}"
}}

# Or impersonation: let the principal act as a service account (pass its email as service_account).
# resource "google_service_account_iam_member" "cfke_impersonation" {{
#   service_account_id = "projects/PROJECT_ID/serviceAccounts/NAME@PROJECT_ID.iam.gserviceaccount.com"
#   role               = "roles/iam.workloadIdentityUser"
#   member             = "{member}"
# }}
"""
