"""The test kit itself: the issuer's discovery and keys verify its tokens; the token file behaves like the kubelet's."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from cfke_auth.testing import OidcIssuer, TokenFile


def test_discovery_and_jwks_verify_issued_tokens(cfke_issuer: OidcIssuer) -> None:
    discovery = httpx.get(f"{cfke_issuer.issuer}/.well-known/openid-configuration").json()
    assert discovery["issuer"] == cfke_issuer.issuer
    jwks = httpx.get(discovery["jwks_uri"]).json()
    token = cfke_issuer.issue(audience="sts.amazonaws.com", namespace="ns", service_account="sa")
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256"
    [key] = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
    public_key = jwt.PyJWK(key).key
    claims = jwt.decode(token, public_key, algorithms=["RS256"], audience="sts.amazonaws.com")
    assert claims["sub"] == "system:serviceaccount:ns:sa"
    assert claims["iss"] == cfke_issuer.issuer
    assert claims["kubernetes.io"]["serviceaccount"]["name"] == "sa"


def test_key_id_is_the_kubernetes_one(cfke_issuer: OidcIssuer) -> None:
    """Kubernetes: kid = unpadded base64url(SHA-256(PKIX DER of the public key)); recomputed from the published JWK."""
    [key] = cfke_issuer.jwks["keys"]
    der = jwt.PyJWK(key).key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert key["kid"] == base64.urlsafe_b64encode(hashlib.sha256(der).digest()).decode().rstrip("=")
    assert len(key["kid"]) == 43


def test_extended_and_projected_shapes(cfke_issuer: OidcIssuer) -> None:
    extended = jwt.decode(cfke_issuer.issue(extended=True), options={"verify_signature": False})
    assert extended["exp"] - extended["iat"] == 365 * 24 * 3600
    assert extended["kubernetes.io"]["warnafter"] - extended["iat"] == 3607
    assert extended["aud"] == [cfke_issuer.issuer]
    projected = jwt.decode(
        cfke_issuer.issue(audience="api://AzureADTokenExchange", lifetime=600), options={"verify_signature": False}
    )
    assert projected["exp"] - projected["iat"] == 600
    assert "warnafter" not in projected["kubernetes.io"]


def test_token_file_layout_and_atomic_rotation(cfke_issuer: OidcIssuer, tmp_path: Path) -> None:
    token_file = TokenFile(tmp_path, cfke_issuer)
    first = token_file.rotate()
    assert os.readlink(tmp_path / "token") == "..data/token"
    first_dir = os.readlink(tmp_path / "..data")
    assert first_dir.startswith("..") and Path(token_file.path).read_text() == first
    second = token_file.rotate(namespace="other")
    assert os.readlink(tmp_path / "..data") != first_dir
    assert not (tmp_path / first_dir).exists()  # the old generation is removed, as the kubelet does
    assert Path(token_file.path).read_text() == second
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("..2")) == ["..data", "token"]


def test_token_file_without_issuer_needs_a_token(tmp_path: Path) -> None:
    token_file = TokenFile(tmp_path)
    assert token_file.rotate("given") == "given"
    with pytest.raises(ValueError, match="issuer"):
        token_file.rotate()


@pytest.mark.cfke_token(namespace="marked", audience="sts.amazonaws.com")
def test_marker_knobs_and_environment(cfke_token_file: TokenFile) -> None:
    claims = jwt.decode(cfke_token_file.token or "", options={"verify_signature": False})
    assert claims["kubernetes.io"]["namespace"] == "marked"
    assert claims["aud"] == ["sts.amazonaws.com"]
    for name in ("CFKE_TOKEN_FILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AZURE_FEDERATED_TOKEN_FILE"):
        assert os.environ[name] == cfke_token_file.path
