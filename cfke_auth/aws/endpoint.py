"""Which STS endpoint to call, resolved the way the AWS SDKs do it.

The explicit argument wins, then ``AWS_ENDPOINT_URL_STS``, then ``AWS_ENDPOINT_URL`` (both ignored when
``AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`` is true), then the regional endpoint of the region (``region_name``,
``AWS_REGION``, ``AWS_DEFAULT_REGION``; FIPS with ``AWS_USE_FIPS_ENDPOINT``), then the global endpoint. Regional
endpoints are preferred by AWS: they keep working when ``us-east-1`` has trouble and add no cross-region latency.
"""

from __future__ import annotations

import os
import re

from ..http import check_endpoint

__all__ = ["GLOBAL_ENDPOINT", "resolve_region", "resolve_sts_endpoint"]

GLOBAL_ENDPOINT = "https://sts.amazonaws.com"
_REGION = re.compile(r"[a-z]{2,4}(-[a-z]+)+-\d{1,2}")
#: DNS suffix of each partition other than the commercial one (amazonaws.com), by region prefix; longest first.
_PARTITION_SUFFIXES = (
    ("us-isob-", "sc2s.sgov.gov"),
    ("us-isof-", "csp.hci.ic.gov"),
    ("us-iso-", "c2s.ic.gov"),
    ("eu-isoe-", "cloud.adc-e.uk"),
    ("eusc-", "amazonaws.eu"),
    ("cn-", "amazonaws.com.cn"),
)


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() == "true"


def resolve_region(region_name: str | None = None) -> str | None:
    """The region: the argument, then ``AWS_REGION``, then ``AWS_DEFAULT_REGION``; None when none is set.

    Raises ``ValueError`` for a value that is not shaped like an AWS region (``eu-central-1``)."""
    region = region_name or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None
    if region is not None and not _REGION.fullmatch(region):
        raise ValueError(f"region {region!r} is not an AWS region name such as 'eu-central-1'")
    return region


def resolve_sts_endpoint(sts_endpoint_url: str | None = None, region: str | None = None) -> str:
    """The STS base URL to send ``AssumeRoleWithWebIdentity`` to (``region`` already resolved).

    Raises ``ValueError`` for a configured URL the token may not be sent to (plain ``http://`` off loopback)."""
    url = sts_endpoint_url
    if not url and not _env_true("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"):
        url = os.environ.get("AWS_ENDPOINT_URL_STS") or os.environ.get("AWS_ENDPOINT_URL")
    if url:
        return check_endpoint(url, what="STS endpoint")
    fips = _env_true("AWS_USE_FIPS_ENDPOINT")
    if region is None:
        return "https://sts-fips.us-east-1.amazonaws.com" if fips else GLOBAL_ENDPOINT
    domain = next((suffix for prefix, suffix in _PARTITION_SUFFIXES if region.startswith(prefix)), "amazonaws.com")
    if fips and domain == "amazonaws.com" and not region.startswith("us-gov-"):
        return f"https://sts-fips.{region}.{domain}"
    if fips and not region.startswith("us-gov-"):
        raise ValueError(f"AWS_USE_FIPS_ENDPOINT is set, but STS has no FIPS endpoint in region {region!r}")
    return f"https://sts.{region}.{domain}"  # in GovCloud the regular endpoint is the FIPS one
