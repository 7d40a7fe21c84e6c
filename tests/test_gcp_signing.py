"""Signing as the impersonated service account through IAM ``signBlob``: google-auth's ``Signing`` interface, and
google-cloud-storage V4 signed URLs whose signature verifies against the key the fake signed with."""

from __future__ import annotations

import base64
import hashlib
import pickle
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import httpx
import jwt
import pytest
from conftest import assert_no_secrets
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from google.auth import credentials as ga_credentials
from google.auth import crypt as ga_crypt
from google.auth import jwt as ga_jwt
from google.auth.exceptions import RefreshError

import cfke_auth
from cfke_auth import TokenSource
from cfke_auth._protocol import Context
from cfke_auth.gcp.credentials import GcpCredentials, GcpImpersonatedCredentials, GoogleExchangeError
from cfke_auth.gcp.names import WorkloadProvider
from cfke_auth.gcp.settings import IAM_SCOPE, GcpSettings
from cfke_auth.gcp.signing import parse_sign_response
from cfke_auth.testing import GoogleFake, TokenFile
from cfke_auth.testing.gcp import TOKEN_CREATOR

SA = "signer@shop-prod.iam.gserviceaccount.com"
MEMBER = WorkloadProvider("123456789012", "cfke", "cfke").principal("system:serviceaccount:default:default")


def creds_for(fake: GoogleFake, **kwargs: Any) -> GcpCredentials:
    return cfke_auth.get_gcp_credentials(**{**fake.credential_kwargs(), "service_account": SA, **kwargs})


def assert_signed_by(key: rsa.RSAPublicKey, signature: bytes, message: bytes) -> None:
    key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())  # raises InvalidSignature otherwise


def v4_string_to_sign(url: str) -> tuple[bytes, bytes]:
    """The GOOG4-RSA-SHA256 string-to-sign of a V4 signed URL, computed from the URL alone (Google's documented
    canonical request: method, path, sorted query without the signature, host header, unsigned payload), and the
    signature the URL carries."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    signature = bytes.fromhex(query.pop("X-Goog-Signature"))
    canonical_query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(query.items()))
    canonical = "\n".join(["GET", parts.path, canonical_query, f"host:{parts.hostname}\n", "host", "UNSIGNED-PAYLOAD"])
    scope = query["X-Goog-Credential"].split("/", 1)[1]
    lines = ["GOOG4-RSA-SHA256", query["X-Goog-Date"], scope, hashlib.sha256(canonical.encode()).hexdigest()]
    return "\n".join(lines).encode(), signature


def test_google_cloud_storage_generates_a_v4_signed_url_the_service_accounts_key_verifies(
    cfke_google: GoogleFake,
) -> None:
    from google.cloud import storage

    cfke_google.bind(SA, MEMBER, TOKEN_CREATOR)
    client = storage.Client(project="shop-prod", credentials=creds_for(cfke_google))
    blob = client.bucket("shop-invoices").blob("2026/inv 1.pdf")

    url = blob.generate_signed_url(version="v4", expiration=timedelta(minutes=15), method="GET")

    assert url.startswith("https://storage.googleapis.com/shop-invoices/2026/inv%201.pdf?")
    query = dict(parse_qsl(urlsplit(url).query))
    assert query["X-Goog-Algorithm"] == "GOOG4-RSA-SHA256"
    assert query["X-Goog-Credential"].startswith(f"{SA}/")
    assert query["X-Goog-Expires"] == "900"
    string_to_sign, signature = v4_string_to_sign(url)
    (call,) = cfke_google.iam_calls("signBlob")
    assert call.path == f"/v1/projects/-/serviceAccounts/{SA}:signBlob"
    assert call.json() == {"payload": base64.b64encode(string_to_sign).decode()}  # exactly that string
    assert_signed_by(cfke_google.public_key(SA), signature, string_to_sign)
    with pytest.raises(InvalidSignature):
        assert_signed_by(cfke_google.public_key(SA), signature, string_to_sign + b"x")


def test_signing_is_authorized_by_one_federated_token_of_the_principal(cfke_google: GoogleFake) -> None:
    cfke_google.bind(SA, MEMBER, TOKEN_CREATOR)
    creds = creds_for(cfke_google)
    for _ in range(5):
        creds.sign_bytes(b"payload")
    (sts,) = cfke_google.sts_calls()  # one exchange for five signings, and no generateAccessToken at all
    assert sts.form()["scope"] == IAM_SCOPE
    assert cfke_google.generate_calls() == []
    bearers = {call.headers["authorization"].removeprefix("Bearer ") for call in cfke_google.iam_calls("signBlob")}
    (bearer,) = bearers
    issued = cfke_google.issued[bearer]
    assert (issued.principal, issued.service_account) == (MEMBER, None)


def test_google_auths_signing_interface_and_its_own_jwt_encoder(cfke_google: GoogleFake) -> None:
    cfke_google.bind(SA, MEMBER, TOKEN_CREATOR)
    creds = creds_for(cfke_google)
    assert isinstance(creds, ga_credentials.Signing)
    assert isinstance(creds, GcpImpersonatedCredentials)
    assert isinstance(creds.signer, ga_crypt.Signer)
    assert (creds.signer_email, creds.signer.key_id) == (SA, None)
    assert_signed_by(cfke_google.public_key(SA), creds.sign_bytes("Grüße"), "Grüße".encode())

    assertion = ga_jwt.encode(creds.signer, {"iss": SA, "aud": "https://example.com", "sub": SA})
    key = cfke_google.public_key(SA)
    assert jwt.decode(assertion, key, algorithms=["RS256"], audience="https://example.com")["iss"] == SA


def test_copies_keep_signing(cfke_google: GoogleFake) -> None:
    creds = creds_for(cfke_google)
    for copy in (
        creds.with_scopes(["https://www.googleapis.com/auth/devstorage.read_only"]),
        creds.with_quota_project("billing"),
        pickle.loads(pickle.dumps(creds)),
    ):
        assert isinstance(copy, GcpImpersonatedCredentials)
        assert copy.signer_email == SA


def test_direct_access_credentials_do_not_claim_to_sign(cfke_google: GoogleFake) -> None:
    from google.cloud import storage

    creds = cfke_auth.get_gcp_credentials(**cfke_google.credential_kwargs())
    assert not isinstance(creds, ga_credentials.Signing)
    blob = storage.Client(project="shop-prod", credentials=creds).bucket("b").blob("o")
    with pytest.raises(AttributeError, match="private key to sign"):  # google-cloud-storage's own refusal
        blob.generate_signed_url(version="v4", expiration=timedelta(minutes=5))


def test_a_principal_without_token_creator_is_told_which_role_signs(
    cfke_google: GoogleFake, cfke_token_file: TokenFile
) -> None:
    cfke_google.bind(SA, MEMBER)  # workloadIdentityUser: enough for access tokens, not for signBlob
    creds = creds_for(cfke_google)
    with pytest.raises(GoogleExchangeError) as info:
        creds.sign_bytes(b"payload")
    error = info.value
    federated = next(iter(cfke_google.issued))
    assert_no_secrets([cfke_token_file.token, federated], str(error), repr(error), repr(creds), repr(creds.signer))
    assert isinstance(error, RefreshError) and isinstance(error, cfke_auth.ExchangeError)
    assert (error.provider, error.code, error.status) == ("gcp-iam", "PERMISSION_DENIED", 403)
    assert "iam.serviceAccounts.signBlob" in error.message
    assert error.hint is not None
    assert f"grant {TOKEN_CREATOR} on {SA} to {MEMBER}" in error.hint
    assert "--role=roles/iam.serviceAccountTokenCreator" in error.hint


def test_a_revoked_federated_token_is_replaced_for_the_next_signing(cfke_google: GoogleFake) -> None:
    cfke_google.bind(SA, MEMBER, TOKEN_CREATOR)
    creds = creds_for(cfke_google)
    creds.sign_bytes(b"one")
    cfke_google.issued.clear()  # Google revoked it: signBlob answers 401
    with pytest.raises(GoogleExchangeError) as info:
        creds.sign_bytes(b"two")
    assert (info.value.code, info.value.status) == ("UNAUTHENTICATED", 401)
    assert_signed_by(cfke_google.public_key(SA), creds.sign_bytes(b"three"), b"three")
    assert len(cfke_google.sts_calls()) == 2


SETTINGS = GcpSettings(WorkloadProvider("123456789012", "cfke", "cfke"), (IAM_SCOPE,), TokenSource(), SA)
CONTEXT = Context.of(SETTINGS, "https://iam.example/v1/x:signBlob", "pod.jwt.token")


@pytest.mark.parametrize(
    "body", [{}, {"keyId": "k"}, {"keyId": "k", "signedBlob": "%%%"}, {"keyId": 1, "signedBlob": "c2ln"}]
)
def test_a_sign_answer_without_key_and_signature_is_malformed(body: dict[str, Any]) -> None:
    with pytest.raises(cfke_auth.ExchangeError) as info:
        parse_sign_response(httpx.Response(200, json=body), CONTEXT, now=0.0)
    assert (info.value.code, info.value.retryable) == ("malformed-response", True)
