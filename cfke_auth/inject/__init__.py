"""Wiring Kubernetes workloads for cfke-auth: ``cfke-auth inject`` and, later, an admission webhook.

:func:`inject` takes parsed manifests and an :class:`InjectPlan` and returns them with, per chosen cloud, the
projected service-account token that cloud accepts, its mounts in every container, the variables its SDKs read,
and (for Google) the ConfigMap holding the credential configuration. It does no I/O, so it works as well on the
JSON of an admission review's Pod as on round-trip YAML whose comments and key order must survive.
"""

from __future__ import annotations

from .manifest import InjectError
from .plan import AwsPlan, AzurePlan, GcpPlan, InjectPlan, build_plan
from .stream import inject
from .wiring import INJECTED_ANNOTATION

__all__ = [
    "INJECTED_ANNOTATION",
    "AwsPlan",
    "AzurePlan",
    "GcpPlan",
    "InjectError",
    "InjectPlan",
    "build_plan",
    "inject",
]
