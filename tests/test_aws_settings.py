"""Checking and completing what callers pass: role ARN, duration, session name, region and STS endpoint (with FIPS
and dual-stack, from the environment or the config profile)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cfke_auth import ConfigurationError, TokenClaims
from cfke_auth.aws.endpoint import resolve_region, resolve_sts_endpoint
from cfke_auth.aws.settings import (
    default_session_name,
    resolve_duration,
    resolve_role_arn,
    resolve_session_name,
)

pytestmark = pytest.mark.usefixtures("cfke_aws_env")

ROLE = "arn:aws:iam::123456789012:role/app"


def _claims(namespace: str | None = "shop", pod: str | None = "api-7d9f8-x2x4q", sa: str | None = "api") -> TokenClaims:
    now = datetime.now(timezone.utc)
    return TokenClaims(
        issuer="https://api.cloudfleet.ai/v1/clusters/c1",
        subject=f"system:serviceaccount:{namespace}:{sa}",
        audiences=("sts.amazonaws.com",),
        issued_at=now,
        not_before=now,
        expires_at=now,
        warn_after=None,
        namespace=namespace,
        pod_name=pod,
        pod_uid=None,
        service_account=sa,
        service_account_uid=None,
        cluster_id="c1",
    )


@pytest.mark.parametrize(
    "arn",
    [ROLE, "arn:aws-cn:iam::123456789012:role/app", "arn:aws-us-gov:iam::123456789012:role/team/path/app+x=y,z.@-"],
)
def test_role_arn_accepts_role_arns(arn: str) -> None:
    assert resolve_role_arn(arn) == arn


@pytest.mark.parametrize(
    "arn",
    [
        "app",
        "arn:aws:iam::12345:role/app",
        "arn:aws:iam::123456789012:user/app",
        "arn:aws:sts::123456789012:assumed-role/app/s",
        "arn:aws:iam::123456789012:role/",
        "arn:aws:iam::123456789012:role/has space",
    ],
)
def test_role_arn_rejects_anything_else_naming_the_parameter(arn: str) -> None:
    with pytest.raises(ConfigurationError, match="role_arn") as info:
        resolve_role_arn(arn)
    assert arn in str(info.value)


def test_role_arn_falls_back_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="AWS_ROLE_ARN"):
        resolve_role_arn(None)
    monkeypatch.setenv("AWS_ROLE_ARN", ROLE)
    assert resolve_role_arn(None) == ROLE
    assert resolve_role_arn("arn:aws:iam::210987654321:role/other") == "arn:aws:iam::210987654321:role/other"


@pytest.mark.parametrize("seconds", [900, 3600, 43200, None])
def test_duration_within_sts_limits(seconds: int | None) -> None:
    assert resolve_duration(seconds) == seconds


@pytest.mark.parametrize("seconds", [899, 43201, 0, -1, True, 3600.0, "3600"])
def test_duration_outside_limits_is_a_configuration_error(seconds: object) -> None:
    with pytest.raises(ConfigurationError, match="duration_seconds"):
        resolve_duration(seconds)  # type: ignore[arg-type]


def test_session_name_from_argument_or_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_session_name(None) is None
    monkeypatch.setenv("AWS_ROLE_SESSION_NAME", "from-env")
    assert resolve_session_name(None) == "from-env"
    assert resolve_session_name("explicit@x.y") == "explicit@x.y"


@pytest.mark.parametrize("name", ["a", "x" * 65, "has space", "slash/name", "ünïcode"])
def test_bad_session_name_is_a_configuration_error(name: str) -> None:
    with pytest.raises(ConfigurationError, match="session_name"):
        resolve_session_name(name)


def test_default_session_name_is_namespace_and_pod() -> None:
    assert default_session_name(_claims()) == "shop.api-7d9f8-x2x4q"


def test_default_session_name_uses_service_account_without_pod() -> None:
    assert default_session_name(_claims(pod=None)) == "shop.api"


def test_default_session_name_is_sanitised() -> None:
    name = default_session_name(_claims(namespace="team a", pod="pod:1/ü"))
    assert name == "team-a.pod-1"


def test_long_default_session_names_are_cut_and_stay_distinct() -> None:
    first = default_session_name(_claims(pod="p" * 80 + "-one"))
    second = default_session_name(_claims(pod="p" * 80 + "-two"))
    assert len(first) == len(second) == 64
    assert first != second
    assert first.startswith("shop.ppp")
    assert resolve_session_name(first) == first


def test_default_session_name_without_kubernetes_claims_uses_subject() -> None:
    claims = _claims(namespace=None, pod=None, sa=None)._replace(subject="user:alice")
    assert default_session_name(claims) == "user-alice"


def test_region_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_region(None) is None
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    assert resolve_region(None) == "eu-west-1"
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    assert resolve_region(None) == "eu-central-1"
    assert resolve_region("us-gov-west-1") == "us-gov-west-1"


@pytest.mark.parametrize("region", ["Frankfurt", "eu-west-1\n", " eu-west-1"])
def test_bad_region_is_a_configuration_error(region: str) -> None:
    with pytest.raises(ConfigurationError, match="region"):
        resolve_region(region)


def test_no_fips_endpoint_outside_the_commercial_partition(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_USE_FIPS_ENDPOINT", "true")
    with pytest.raises(ConfigurationError, match="no FIPS endpoint"):
        resolve_sts_endpoint(None, "cn-north-1")


def test_trailing_newlines_are_not_valid_names(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="role_arn"):
        resolve_role_arn("arn:aws:iam::123456789012:role/app\n")
    with pytest.raises(ConfigurationError, match="session_name"):
        resolve_session_name("name\n")
    monkeypatch.setenv("AWS_ROLE_SESSION_NAME", "")
    assert resolve_session_name(None) is None  # empty means unset


@pytest.mark.parametrize(
    ("region", "fips", "expected"),
    [
        (None, False, "https://sts.amazonaws.com"),
        (None, True, "https://sts-fips.us-east-1.amazonaws.com"),
        ("eu-central-1", False, "https://sts.eu-central-1.amazonaws.com"),
        ("us-east-2", True, "https://sts-fips.us-east-2.amazonaws.com"),
        ("cn-north-1", False, "https://sts.cn-north-1.amazonaws.com.cn"),
        ("us-gov-west-1", False, "https://sts.us-gov-west-1.amazonaws.com"),
        ("us-gov-west-1", True, "https://sts.us-gov-west-1.amazonaws.com"),
        ("us-iso-east-1", False, "https://sts.us-iso-east-1.c2s.ic.gov"),
        ("us-isob-east-1", False, "https://sts.us-isob-east-1.sc2s.sgov.gov"),
        ("eusc-de-east-1", False, "https://sts.eusc-de-east-1.amazonaws.eu"),
    ],
)
def test_regional_and_fips_endpoints(
    monkeypatch: pytest.MonkeyPatch, region: str | None, fips: bool, expected: str
) -> None:
    if fips:
        monkeypatch.setenv("AWS_USE_FIPS_ENDPOINT", "true")
    assert resolve_sts_endpoint(None, region) == expected


@pytest.mark.parametrize(
    ("region", "fips", "expected"),
    [
        (None, False, "https://sts.us-east-1.api.aws"),
        ("eu-central-1", False, "https://sts.eu-central-1.api.aws"),
        ("us-east-2", True, "https://sts-fips.us-east-2.api.aws"),
        ("us-gov-west-1", False, "https://sts.us-gov-west-1.api.aws"),
        ("us-gov-west-1", True, "https://sts-fips.us-gov-west-1.api.aws"),
        ("cn-north-1", False, "https://sts.cn-north-1.api.amazonwebservices.com.cn"),
        ("eusc-de-east-1", False, "https://sts.eusc-de-east-1.api.amazonwebservices.eu"),
    ],
)
def test_dualstack_endpoints_as_botocore_names_them(
    monkeypatch: pytest.MonkeyPatch, region: str | None, fips: bool, expected: str
) -> None:
    monkeypatch.setenv("AWS_USE_DUALSTACK_ENDPOINT", "true")
    if fips:
        monkeypatch.setenv("AWS_USE_FIPS_ENDPOINT", "true")
    assert resolve_sts_endpoint(None, region) == expected


def test_dualstack_agrees_with_botocore(monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    monkeypatch.setenv("AWS_USE_DUALSTACK_ENDPOINT", "true")
    for region in ("eu-west-1", "cn-northwest-1", "us-gov-east-1"):
        client = boto3.client("sts", region_name=region, aws_access_key_id="x", aws_secret_access_key="y")
        assert resolve_sts_endpoint(None, region) == client.meta.endpoint_url


def test_region_and_endpoint_flags_come_from_the_config_profile(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    config.write_text(
        "[default]\nregion = eu-west-1\n\n[profile ipv6]\nregion = eu-north-1\nuse_dualstack_endpoint = true\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    assert resolve_region(None) == "eu-west-1"
    assert resolve_sts_endpoint(None, "eu-west-1") == "https://sts.eu-west-1.amazonaws.com"
    monkeypatch.setenv("AWS_PROFILE", "ipv6")
    assert resolve_region(None) == "eu-north-1"
    assert resolve_sts_endpoint(None, "eu-north-1") == "https://sts.eu-north-1.api.aws"
    monkeypatch.setenv("AWS_REGION", "us-west-2")  # the variable wins over the profile
    assert resolve_region(None) == "us-west-2"


def test_an_unreadable_config_file_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("region = no section header\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    with pytest.raises(ConfigurationError, match="AWS config file"):
        resolve_region(None)


def test_endpoint_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://all.example")
    assert resolve_sts_endpoint(None, "eu-west-1") == "https://all.example"
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", "https://sts.example/")
    assert resolve_sts_endpoint(None, "eu-west-1") == "https://sts.example"
    assert resolve_sts_endpoint("http://127.0.0.1:9", "eu-west-1") == "http://127.0.0.1:9"
    monkeypatch.setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")
    assert resolve_sts_endpoint(None, "eu-west-1") == "https://sts.eu-west-1.amazonaws.com"


@pytest.mark.parametrize("url", ["http://sts.example.com", "ftp://127.0.0.1", "sts.amazonaws.com"])
def test_endpoint_that_would_leak_the_token_is_refused(url: str) -> None:
    with pytest.raises(ConfigurationError, match="STS endpoint"):
        resolve_sts_endpoint(url, None)


@given(namespace=st.text(min_size=1, max_size=80), pod=st.text(min_size=1, max_size=120))
def test_default_session_name_is_always_valid(namespace: str, pod: str) -> None:
    name = default_session_name(_claims(namespace=namespace, pod=pod))
    assert resolve_session_name(name) == name
