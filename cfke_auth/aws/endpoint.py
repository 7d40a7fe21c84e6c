"""Which STS endpoint to call, resolved the way the AWS SDKs do it.

The explicit argument wins, then ``AWS_ENDPOINT_URL_STS``, then ``AWS_ENDPOINT_URL`` (both ignored when
``AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`` is true), then the regional endpoint of the region -- FIPS with
``use_fips_endpoint``, dual-stack (IPv4 and IPv6, ``sts.REGION.api.aws``) with ``use_dualstack_endpoint``, both
from the environment or the config profile (see :mod:`.profile`) -- then the global endpoint. Regional endpoints are
preferred by AWS: they keep working when ``us-east-1`` has trouble and add no cross-region latency.
"""

from __future__ import annotations

import os
import re

from .._errors import ConfigurationError
from .._http import check_endpoint
from . import profile

__all__ = ["GLOBAL_ENDPOINT", "resolve_region", "resolve_sts_endpoint"]

GLOBAL_ENDPOINT = "https://sts.amazonaws.com"
_REGION = re.compile(r"[a-z]{2,4}(-[a-z]+)+-[0-9]{1,2}", re.ASCII)
#: DNS suffixes (regular, dual-stack) of each partition other than the commercial one, by region prefix.
_PARTITIONS = (
    ("us-isob-", "sc2s.sgov.gov", "api.aws.scloud"),
    ("us-isof-", "csp.hci.ic.gov", "api.aws.hci.ic.gov"),
    ("us-iso-", "c2s.ic.gov", "api.aws.ic.gov"),
    ("eu-isoe-", "cloud.adc-e.uk", "api.cloud-aws.adc-e.uk"),
    ("eusc-", "amazonaws.eu", "api.amazonwebservices.eu"),
    ("cn-", "amazonaws.com.cn", "api.amazonwebservices.com.cn"),
)
_COMMERCIAL = ("amazonaws.com", "api.aws")


def resolve_region(region_name: str | None = None) -> str | None:
    """The region: the argument, then ``AWS_REGION``, ``AWS_DEFAULT_REGION``, then the profile's ``region``; None
    when none is set. Raises :class:`~cfke_auth.ConfigurationError` for a value not shaped like ``eu-central-1``."""
    region = region_name or profile.setting("region", "AWS_REGION", "AWS_DEFAULT_REGION") or None
    if region is not None and not _REGION.fullmatch(region):
        raise ConfigurationError(f"region {region!r} is not an AWS region name such as 'eu-central-1'")
    return region


def resolve_sts_endpoint(sts_endpoint_url: str | None = None, region: str | None = None) -> str:
    """The STS base URL to send the exchange to (``region`` already resolved).

    Raises :class:`~cfke_auth.ConfigurationError` for a configured URL the token may not be sent to (plain
    ``http://`` off loopback) and for FIPS asked in a partition that has no FIPS STS."""
    url = sts_endpoint_url
    if not url and os.environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").strip().lower() != "true":
        url = os.environ.get("AWS_ENDPOINT_URL_STS") or os.environ.get("AWS_ENDPOINT_URL")
    if url:
        return check_endpoint(url, what="STS endpoint")
    fips = profile.flag("use_fips_endpoint", "AWS_USE_FIPS_ENDPOINT")
    dualstack = profile.flag("use_dualstack_endpoint", "AWS_USE_DUALSTACK_ENDPOINT")
    if region is None:
        if not (fips or dualstack):
            return GLOBAL_ENDPOINT
        region = "us-east-1"  # the global endpoint has neither a FIPS nor a dual-stack name
    suffix, dualstack_suffix = next(
        ((regular, dual) for prefix, regular, dual in _PARTITIONS if region.startswith(prefix)), _COMMERCIAL
    )
    domain = dualstack_suffix if dualstack else suffix
    gov = region.startswith("us-gov-")
    if fips and suffix != _COMMERCIAL[0]:
        raise ConfigurationError(
            f"use_fips_endpoint / AWS_USE_FIPS_ENDPOINT is set, but STS has no FIPS endpoint in region {region!r}"
        )
    if fips and not (gov and not dualstack):
        return f"https://sts-fips.{region}.{domain}"
    return f"https://sts.{region}.{domain}"  # in GovCloud the regular endpoint is the FIPS one
