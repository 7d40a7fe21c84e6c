"""Google ID tokens from IAM Credentials ``generateIdToken``: the shared refreshing credential behind the google-auth
adapter and the broker's metadata ``identity`` endpoint, against the loopback fake, whose tokens google-auth
verifies against the keys it publishes."""

from __future__ import annotations

import base64
import json
import pickle
import time
from datetime import timezone
from email.utils import formatdate
from typing import Any

import httpx
import pytest
import time_machine
from conftest import run_threads
from google.auth.transport.requests import Request
from google.oauth2 import id_token as ga_id_token

import cfke_auth
from cfke_auth import TokenSource
from cfke_auth._protocol import Context
from cfke_auth.gcp.names import WorkloadProvider
from cfke_auth.gcp.protocol import GoogleIdToken, parse_id_token_response
from cfke_auth.gcp.refresh import id_token_credential
from cfke_auth.gcp.settings import IAM_SCOPE, GcpSettings, resolve
from cfke_auth.testing import GoogleFake
from cfke_auth.testing.gcp import CERTS_PATH, ID_TOKEN_ISSUER

SA = "invoker@shop-prod.iam.gserviceaccount.com"
AUDIENCE = "https://orders-abc123-ew.a.run.app"
MEMBER = WorkloadProvider("123456789012", "cfke", "cfke").principal("system:serviceaccount:default:default")


def settings_for(fake: GoogleFake, **kwargs: Any) -> GcpSettings:
    return resolve(**{**fake.credential_kwargs(), "service_account": SA, **kwargs})


def verified(fake: GoogleFake, token: str, audience: str = AUDIENCE) -> dict[str, Any]:
    """The claims of ``token`` as google-auth verifies them: signature against the fake's published keys, aud, exp."""
    return dict(ga_id_token.verify_token(token, Request(), audience=audience, certs_url=fake.url + CERTS_PATH))


def unsigned_jwt(claims: dict[str, Any]) -> str:
    def segment(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{segment({'alg': 'RS256'})}.{segment(claims)}.c2ln"


def test_an_id_token_google_auth_verifies_for_the_audience(cfke_google: GoogleFake) -> None:
    cfke_google.bind(SA, MEMBER)
    value = id_token_credential(settings_for(cfke_google), AUDIENCE).get()

    assert isinstance(value, GoogleIdToken)
    claims = verified(cfke_google, value.token)
    assert (claims["aud"], claims["iss"]) == (AUDIENCE, ID_TOKEN_ISSUER)
    assert "email" not in claims
    assert value.expires_at == pytest.approx(claims["exp"], abs=1)  # the fake's clock is ours (Date: whole seconds)
    assert value.expiry.tzinfo is None
    assert value.expiry.replace(tzinfo=timezone.utc).timestamp() == pytest.approx(value.expires_at, abs=1e-5)
    (sts,) = cfke_google.sts_calls()
    assert sts.form()["scope"] == IAM_SCOPE
    (call,) = cfke_google.iam_calls("generateIdToken")
    assert call.path == f"/v1/projects/-/serviceAccounts/{SA}:generateIdToken"
    assert call.json() == {"audience": AUDIENCE, "includeEmail": False}
    assert call.headers["authorization"] == "Bearer " + next(iter(cfke_google.issued))  # the federated token


def test_include_email_adds_the_email_claims(cfke_google: GoogleFake) -> None:
    cfke_google.bind(SA, MEMBER)
    value = id_token_credential(settings_for(cfke_google), AUDIENCE, include_email=True).get()
    claims = verified(cfke_google, value.token)
    assert (claims["email"], claims["email_verified"]) == (SA, True)
    assert cfke_google.iam_calls("generateIdToken")[0].json()["includeEmail"] is True


def test_the_value_hides_its_token_and_refuses_to_pickle(cfke_google: GoogleFake) -> None:
    cfke_google.bind(SA, MEMBER)
    value = id_token_credential(settings_for(cfke_google), AUDIENCE).get()
    assert value.token not in repr(value)
    assert repr(value).startswith("GoogleIdToken(expiry=")
    with pytest.raises(TypeError, match="not pickled"):
        pickle.dumps(value)


def test_one_credential_per_settings_and_audience_whatever_the_scopes(cfke_google: GoogleFake) -> None:
    settings = settings_for(cfke_google)
    same = id_token_credential(settings_for(cfke_google, scopes="https://www.googleapis.com/auth/drive"), AUDIENCE)
    assert id_token_credential(settings, AUDIENCE) is same
    assert id_token_credential(settings, AUDIENCE + "/other") is not same
    assert id_token_credential(settings, AUDIENCE, include_email=True) is not same


def test_64_threads_cold_make_one_exchange_and_a_refresh_replaces_it(cfke_google: GoogleFake) -> None:
    cfke_google.bind(SA, MEMBER)
    cred = id_token_credential(settings_for(cfke_google), AUDIENCE)
    (first, *rest) = run_threads(64, cred.get, fail=True)
    assert all(value is first for value in rest)
    assert (len(cfke_google.sts_calls()), len(cfke_google.iam_calls("generateIdToken"))) == (1, 1)

    with time_machine.travel(time.time() + 50 * 60):  # past the refresh point of the token's hour
        assert cred.get() is first  # served at once; the exchange runs behind
        assert cred.settle()
        assert cred.get() is not first
        assert verified(cfke_google, cred.get().token)["iat"] > verified(cfke_google, first.token)["iat"]
    assert len(cfke_google.iam_calls("generateIdToken")) == 2


def test_a_refusal_names_the_role_to_grant(cfke_google: GoogleFake) -> None:
    cfke_google.bind(SA, "principal://someone-else")
    with pytest.raises(cfke_auth.ExchangeError) as info:
        id_token_credential(settings_for(cfke_google), AUDIENCE).get()
    assert (info.value.provider, info.value.code, info.value.status) == ("gcp-iam", "PERMISSION_DENIED", 403)
    assert "getOpenIdToken" in info.value.message
    assert info.value.hint is not None
    assert f"roles/iam.workloadIdentityUser on {SA} to {MEMBER}" in info.value.hint


@pytest.mark.parametrize(
    ("service_account", "audience", "include_email", "message"),
    [
        (None, AUDIENCE, False, "issued for a service account"),
        (SA, "", False, "audience must be"),
        (SA, "two words", False, "audience must be"),
        (SA, 42, False, "audience must be"),
        (SA, AUDIENCE, "yes", "include_email must be True or False"),
    ],
)
def test_bad_requests_fail_before_any_exchange(
    cfke_google: GoogleFake, service_account: str | None, audience: Any, include_email: Any, message: str
) -> None:
    settings = settings_for(cfke_google, service_account=service_account)
    with pytest.raises(cfke_auth.ConfigurationError, match=message):
        id_token_credential(settings, audience, include_email)
    assert cfke_google.server.requests == []


# -- the parser, on canned answers ------------------------------------------------------------------------------

SETTINGS = GcpSettings(WorkloadProvider("123456789012", "cfke", "cfke"), (IAM_SCOPE,), TokenSource(), SA)
CONTEXT = Context.of(SETTINGS, "https://iam.example/v1/x:generateIdToken", "pod.jwt.token")
NOW = 1_900_000_000.0


def test_exp_is_carried_to_the_local_clock_by_the_date_header() -> None:
    """Google's clock is 300 s ahead of this machine's: the token expires 3600 s after Google's Date, which is 3600 s
    from now here -- not exp as this clock reads it, which would refresh five minutes late."""
    google_now = NOW + 300
    token = unsigned_jwt({"aud": AUDIENCE, "iat": google_now, "exp": google_now + 3600})
    response = httpx.Response(200, json={"token": token}, headers={"Date": formatdate(google_now, usegmt=True)})
    issued = parse_id_token_response(response, CONTEXT, now=NOW)
    assert issued.expires_at == issued.value.expires_at == NOW + 3600
    assert issued.value.token == token

    without_date = parse_id_token_response(httpx.Response(200, json={"token": token}), CONTEXT, now=NOW)
    assert without_date.expires_at == google_now + 3600  # nothing to correct by: exp as it is


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"token": "not-a-jwt"},
        {"token": "a.!!!.c"},
        {"token": unsigned_jwt({"aud": AUDIENCE})},
        {"token": unsigned_jwt({"exp": "soon"})},
        {"token": unsigned_jwt({"exp": NOW - 10})},
        {"token": unsigned_jwt({"exp": NOW + 400 * 86400})},
    ],
)
def test_an_answer_without_a_usable_token_is_malformed_and_retryable(body: dict[str, Any]) -> None:
    with pytest.raises(cfke_auth.ExchangeError) as info:
        parse_id_token_response(httpx.Response(200, json=body), CONTEXT, now=NOW)
    assert (info.value.code, info.value.retryable) == ("malformed-response", True)
