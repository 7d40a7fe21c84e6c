"""Which STS endpoint to call, resolved the way the AWS SDKs do it, and where to turn when it fails.

The explicit argument wins, then ``AWS_ENDPOINT_URL_STS``, then ``AWS_ENDPOINT_URL`` (both ignored when
``AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`` is true), then the regional endpoint of the region -- FIPS with
``use_fips_endpoint``, dual-stack (IPv4 and IPv6, ``sts.REGION.api.aws``) with ``use_dualstack_endpoint``, both
from the environment or the config profile (see :mod:`.profile`) -- then the global endpoint. Regional endpoints are
preferred by AWS: they keep working when ``us-east-1`` has trouble and add no cross-region latency.

Fallbacks (opt-in, see :func:`resolve_fallback_endpoints`) are regions whose endpoints follow the same rules, tried
when the primary endpoint cannot be reached or answers 5xx; a custom endpoint is backed up by explicit URLs only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from .._errors import ConfigurationError
from .._http import check_endpoint
from . import profile

__all__ = [
    "FALLBACK_REGIONS_VARIABLE",
    "GLOBAL_ENDPOINT",
    "configured_endpoint",
    "regional_endpoint",
    "resolve_fallback_endpoints",
    "resolve_region",
    "resolve_sts_endpoint",
    "signing_region",
]

GLOBAL_ENDPOINT = "https://sts.amazonaws.com"
#: Comma-separated regions whose STS endpoints back up the primary one (``us-west-2,eu-west-1``).
FALLBACK_REGIONS_VARIABLE = "CFKE_AWS_STS_FALLBACK_REGIONS"
_DEFAULT_SIGNING_REGION = "us-east-1"  # what the global endpoint (and an endpoint naming no region) signs for
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


def _check_region(region: str, what: str) -> str:
    if not isinstance(region, str) or not _REGION.fullmatch(region):
        raise ConfigurationError(f"{what} {region!r} is not an AWS region name such as 'eu-central-1'")
    return region


def resolve_region(region_name: str | None = None) -> str | None:
    """The region: the argument, then ``AWS_REGION``, ``AWS_DEFAULT_REGION``, then the profile's ``region``; None
    when none is set. Raises :class:`~cfke_auth.ConfigurationError` for a value not shaped like ``eu-central-1``."""
    region = region_name or profile.setting("region", "AWS_REGION", "AWS_DEFAULT_REGION") or None
    return None if region is None else _check_region(region, "region")


def configured_endpoint(sts_endpoint_url: str | None = None) -> str | None:
    """The STS URL set by argument or variable (``AWS_ENDPOINT_URL_STS``, ``AWS_ENDPOINT_URL``), checked; None when
    the regional endpoint applies."""
    url = sts_endpoint_url
    if not url and os.environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").strip().lower() != "true":
        url = os.environ.get("AWS_ENDPOINT_URL_STS") or os.environ.get("AWS_ENDPOINT_URL")
    return check_endpoint(url, what="STS endpoint") if url else None


def regional_endpoint(region: str | None) -> str:
    """AWS's STS endpoint for ``region`` (the global one for None), FIPS or dual-stack as the environment or profile
    asks. Raises :class:`~cfke_auth.ConfigurationError` for FIPS in a partition that has no FIPS STS."""
    fips = profile.flag("use_fips_endpoint", "AWS_USE_FIPS_ENDPOINT")
    dualstack = profile.flag("use_dualstack_endpoint", "AWS_USE_DUALSTACK_ENDPOINT")
    if region is None:
        if not (fips or dualstack):
            return GLOBAL_ENDPOINT
        region = _DEFAULT_SIGNING_REGION  # the global endpoint has neither a FIPS nor a dual-stack name
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


def resolve_sts_endpoint(sts_endpoint_url: str | None = None, region: str | None = None) -> str:
    """The STS base URL to send the exchange to (``region`` already resolved).

    Raises :class:`~cfke_auth.ConfigurationError` for a configured URL the token may not be sent to (plain
    ``http://`` off loopback) and for FIPS asked in a partition that has no FIPS STS."""
    return configured_endpoint(sts_endpoint_url) or regional_endpoint(region)


def _names(value: str | Sequence[str], what: str) -> list[str]:
    """A comma-separated string or a sequence of strings as a list of stripped, non-empty names."""
    if isinstance(value, str):
        return [name.strip() for name in value.split(",") if name.strip()]
    if not isinstance(value, Sequence) or not all(isinstance(name, str) for name in value):
        raise ConfigurationError(f"{what} must be a sequence of strings (or one comma-separated string)")
    return [name.strip() for name in value]


def resolve_fallback_endpoints(
    primary: str,
    regions: str | Sequence[str] | None = None,
    urls: str | Sequence[str] | None = None,
    *,
    custom: bool = False,
) -> tuple[str, ...]:
    """The endpoints tried, in order, after ``primary``: those of ``regions`` (else ``CFKE_AWS_STS_FALLBACK_REGIONS``)
    by the regional rules, then ``urls`` as given; duplicates of an earlier endpoint are dropped.

    With a ``custom`` primary endpoint (an argument or ``AWS_ENDPOINT_URL_STS``/``AWS_ENDPOINT_URL``), regions are
    refused: their AWS endpoints are no backup for an emulator, an on-premises STS or a VPC endpoint, and sending the
    token to them would be a surprise; give ``urls`` instead (``regions=()`` overrides the variable)."""
    source = "sts_fallback_regions"
    if regions is None:
        regions, source = os.environ.get(FALLBACK_REGIONS_VARIABLE, ""), FALLBACK_REGIONS_VARIABLE
    names = [_check_region(region, f"{source} entry") for region in _names(regions, source)]
    if names and custom:
        raise ConfigurationError(
            f"{source} ({', '.join(names)}) names AWS regional STS endpoints, which cannot back up the custom STS "
            f"endpoint {primary}: pass sts_fallback_endpoint_urls for a custom endpoint (and sts_fallback_regions=() "
            f"to ignore {FALLBACK_REGIONS_VARIABLE})"
        )
    candidates = [regional_endpoint(region) for region in names]
    candidates += [check_endpoint(url, what="STS fallback endpoint") for url in _names(urls or (), "fallback URLs")]
    endpoints: list[str] = []
    for endpoint in candidates:
        if endpoint != primary and endpoint not in endpoints:
            endpoints.append(endpoint)
    return tuple(endpoints)


def signing_region(url: str, default: str | None = None) -> str:
    """The region a SigV4 signature for the STS endpoint ``url`` names: the first host label shaped like a region
    (``sts.eu-west-1.amazonaws.com``, ``vpce-1.sts.eu-west-1.vpce.amazonaws.com``), else ``default`` (the SDK
    region), else ``us-east-1`` (the global endpoint's)."""
    host = url.partition("://")[2].partition("/")[0].rpartition("@")[2].partition(":")[0]
    for label in host.split("."):
        if _REGION.fullmatch(label):
            return label
    return default or _DEFAULT_SIGNING_REGION
