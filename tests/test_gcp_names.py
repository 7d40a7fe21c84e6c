"""Naming the workload identity provider: every accepted shape, and the clear refusals (before any request)."""

from __future__ import annotations

import pytest

from cfke_auth.gcp.names import WorkloadProvider, parse_provider

POOL_NAME = "projects/123456789012/locations/global/workloadIdentityPools/cfke"
PROVIDER_NAME = f"{POOL_NAME}/providers/cluster"
AUDIENCE = f"//iam.googleapis.com/{PROVIDER_NAME}"
EXPECTED = WorkloadProvider("123456789012", "cfke", "cluster")


@pytest.mark.parametrize(
    ("pool", "provider", "number"),
    [
        ("cfke", "cluster", "123456789012"),
        ("cfke", "cluster", 123456789012),
        (POOL_NAME, "cluster", None),
        (POOL_NAME, PROVIDER_NAME, None),
        ("cfke", PROVIDER_NAME, None),
        ("cfke", AUDIENCE, "123456789012"),
        (AUDIENCE, "cluster", None),
        ("cfke", "https:" + AUDIENCE, None),
    ],
)
def test_every_shape_names_the_same_provider(pool: str, provider: str, number: str | int | None) -> None:
    assert parse_provider(pool, provider, number) == EXPECTED


def test_audience_principal_and_principal_set() -> None:
    assert EXPECTED.audience == AUDIENCE
    assert EXPECTED.principal("system:serviceaccount:shop:api") == (
        f"principal://iam.googleapis.com/{POOL_NAME}/subject/system:serviceaccount:shop:api"
    )
    assert EXPECTED.principal_set("namespace", "shop") == (
        f"principalSet://iam.googleapis.com/{POOL_NAME}/attribute.namespace/shop"
    )


def test_a_project_id_is_refused_with_how_to_find_the_number() -> None:
    with pytest.raises(ValueError, match="is a project ID") as info:
        parse_provider("cfke", "cluster", "my-shop-prod")
    assert "gcloud projects describe my-shop-prod --format='value(projectNumber)'" in str(info.value)


def test_a_project_id_inside_a_resource_name_is_refused_too() -> None:
    with pytest.raises(ValueError, match="is a project ID"):
        parse_provider("projects/my-shop-prod/locations/global/workloadIdentityPools/cfke", "cluster")


@pytest.mark.parametrize(
    ("pool", "provider", "number", "message"),
    [
        ("cfke", "cluster", None, "project number is missing"),
        ("", "cluster", "1", "both pool and provider"),
        ("cfke", "", "1", "both pool and provider"),
        ("CFKE", "cluster", "1", "pool ID 'CFKE' must be 4-32"),
        ("cfke", "x", "1", "provider ID 'x' must be 4-32"),
        ("gcp-pool", "cluster", "1", "prefix 'gcp-' is reserved"),
        ("cfke", "cluster", "12-34", "not a project number"),
        (POOL_NAME, "cluster", "999", "different projects"),
        (POOL_NAME, "projects/123456789012/locations/global/workloadIdentityPools/other/providers/x1x1", None, "pools"),
        (PROVIDER_NAME, "another", None, "different providers"),
        ("cfke", POOL_NAME, None, "provider ID is missing"),
        ("projects/1/locations/europe-west1/workloadIdentityPools/cfke", "cluster", None, "location 'global'"),
        ("pools/cfke", "cluster", "1", "neither an ID nor a resource name"),
    ],
)
def test_bad_shapes_are_value_errors(pool: str, provider: str, number: str | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_provider(pool, provider, number)
