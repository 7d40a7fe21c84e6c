"""Decoding service-account JWTs into TokenClaims, and refusing what is not one."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from conftest import token_error
from hypothesis import given
from hypothesis import strategies as st

from cfke_auth import TokenError
from cfke_auth._claims import decode_claims
from cfke_auth.testing import OidcIssuer


def _unsigned(payload: object, header: object = None) -> str:
    def seg(value: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{seg(header or {'alg': 'RS256'})}.{seg(payload)}.c2ln"


def test_extended_token_claims(cfke_issuer: OidcIssuer) -> None:
    token = cfke_issuer.issue(namespace="shop", service_account="checkout", pod_name="web-1", extended=True)
    claims = decode_claims(token)
    assert claims.issuer == cfke_issuer.issuer
    assert claims.subject == "system:serviceaccount:shop:checkout"
    assert claims.audiences == (cfke_issuer.issuer,)
    assert (claims.namespace, claims.service_account, claims.pod_name) == ("shop", "checkout", "web-1")
    assert claims.pod_uid and claims.service_account_uid
    assert claims.cluster_id == cfke_issuer.cluster_id
    assert claims.is_extended
    assert claims.issued_at is not None and claims.warn_after is not None
    assert claims.warn_after - claims.issued_at == timedelta(seconds=3607)
    assert claims.expires_at - claims.issued_at == timedelta(days=365)
    assert claims.lifetime_end == claims.warn_after
    assert claims.expires_at.tzinfo is not None


def test_projected_token_claims(cfke_issuer: OidcIssuer) -> None:
    claims = decode_claims(cfke_issuer.issue(audience="sts.amazonaws.com", lifetime=600))
    assert claims.audiences == ("sts.amazonaws.com",)
    assert claims.warn_after is None and not claims.is_extended
    assert claims.lifetime_end == claims.expires_at
    assert claims.issued_at is not None
    assert claims.expires_at - claims.issued_at == timedelta(seconds=600)


@pytest.mark.parametrize(
    ("issuer", "cluster"),
    [
        ("https://api.cloudfleet.ai/v1/clusters/0b1c2d3e", "0b1c2d3e"),
        ("https://api.cloudfleet.ai/v1/clusters/0b1c2d3e/", "0b1c2d3e"),
        ("https://oidc.eks.eu-west-1.amazonaws.com/id/ABC", None),
        ("https://example.com/x/v1/clusters/0b1c", None),
        ("https://example.com/v1/clusters/a/b", None),
    ],
)
def test_cluster_id_from_issuer(issuer: str, cluster: str | None) -> None:
    claims = decode_claims(_unsigned({"iss": issuer, "sub": "s", "exp": 4102444800}))
    assert claims.cluster_id == cluster


def test_string_audience_becomes_a_tuple() -> None:
    claims = decode_claims(_unsigned({"iss": "https://i", "sub": "s", "exp": 4102444800, "aud": "one"}))
    assert claims.audiences == ("one",)


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ({"sub": "s", "exp": 1}, "'iss'"),
        ({"iss": "https://i", "exp": 1}, "'sub'"),
        ({"iss": "https://i", "sub": "s"}, "'exp'"),
        ({"iss": "https://i", "sub": "s", "exp": "soon"}, "'exp'"),
        ({"iss": "https://i", "sub": "s", "exp": True}, "'exp'"),
        ({"iss": "https://i", "sub": "s", "exp": 1e300}, "out of range"),
        ({"iss": "https://i", "sub": "s", "exp": 1, "aud": [1]}, "'aud'"),
        ({"iss": 5, "sub": "s", "exp": 1}, "'iss'"),
    ],
)
def test_missing_or_malformed_claims(payload: dict[str, object], problem: str) -> None:
    with token_error("claims", match=problem) as info:
        decode_claims(_unsigned(payload), "/pod/token")
    assert "/pod/token" in str(info.value)


@pytest.mark.parametrize(
    "text",
    ["not-a-jwt", "a.b", "a.b.c.d", "!!!.???.sig", _unsigned([1, 2]), ".x.y", "e30.bm90IGpzb24.sig"],
)
def test_not_a_jwt(text: str) -> None:
    with token_error("format"):
        decode_claims(text)


@given(st.text(max_size=300))
def test_arbitrary_text_raises_only_token_errors(text: str) -> None:
    try:
        decode_claims(text)
    except TokenError:
        pass


def test_claims_nested_deeper_than_json_can_parse_are_a_format_error() -> None:
    """A 53 KB JWT of nested claims once made the parser raise RecursionError (and the CLI print a traceback)."""
    header = base64.urlsafe_b64encode(b'{"alg":"RS256"}').rstrip(b"=").decode()
    payload = base64.urlsafe_b64encode(b'{"a":' + b"[" * 50_000 + b"]" * 50_000 + b"}").rstrip(b"=").decode()
    with token_error("format", match="not base64url-encoded JSON"):
        decode_claims(f"{header}.{payload}.c2ln")
