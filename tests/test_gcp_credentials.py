"""get_gcp_credentials end to end: google-auth callers against the loopback Google STS and IAM Credentials."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import time_machine
from conftest import run_threads
from google.auth import credentials as ga_credentials
from google.auth import exceptions as ga_exceptions
from google.auth.transport.requests import AuthorizedSession, Request

import cfke_auth
from cfke_auth.gcp.credentials import GcpCredentials, GoogleExchangeError
from cfke_auth.gcp.settings import CLOUD_PLATFORM_SCOPE, IAM_SCOPE
from cfke_auth.rfc8693.protocol import ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE
from cfke_auth.rfc8693.protocol import TOKEN_EXCHANGE_GRANT as TOKEN_EXCHANGE
from cfke_auth.testing import GoogleFake, Reply, TokenFile
from cfke_auth.testing.gcp import RESOURCE_PATH

SA = "reader@shop-prod.iam.gserviceaccount.com"
STORAGE_SCOPE = "https://www.googleapis.com/auth/devstorage.read_only"
MEMBER = (
    "principal://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/cfke/"
    "subject/system:serviceaccount:default:default"
)


def creds_for(fake: GoogleFake, **kwargs: Any) -> GcpCredentials:
    return cfke_auth.get_gcp_credentials(**{**fake.credential_kwargs(), **kwargs})


def travel(seconds: float, *, tick: bool = True) -> time_machine.travel:
    return time_machine.travel(time.time() + seconds, tick=tick)


def test_direct_access_exchanges_the_file_token_with_every_sts_field(
    cfke_google: GoogleFake, cfke_token_file: TokenFile
) -> None:
    creds = creds_for(cfke_google)
    assert creds.token is None
    assert not creds.valid

    creds.refresh(Request())

    assert creds.valid
    assert creds.token is not None
    assert cfke_google.issued[creds.token].principal == MEMBER
    (call,) = cfke_google.sts_calls()
    assert call.form() == {
        "grant_type": TOKEN_EXCHANGE,
        "audience": cfke_google.provider.audience,
        "scope": CLOUD_PLATFORM_SCOPE,
        "requested_token_type": ACCESS_TOKEN_TYPE,
        "subject_token_type": JWT_TOKEN_TYPE,
        "subject_token": cfke_token_file.token,
    }
    assert cfke_google.generate_calls() == []


def test_expiry_is_naive_utc_one_lifetime_ahead(cfke_google: GoogleFake) -> None:
    creds = creds_for(cfke_google)
    creds.refresh(Request())
    assert creds.expiry is not None
    assert creds.expiry.tzinfo is None
    left = creds.expiry - datetime.now(timezone.utc).replace(tzinfo=None)
    assert timedelta(minutes=59) < left <= timedelta(hours=1)


def test_impersonation_sends_iam_scope_to_sts_and_user_scopes_to_iam(cfke_google: GoogleFake) -> None:
    cfke_google.bind(SA, MEMBER)
    creds = creds_for(cfke_google, service_account=SA, scopes=[STORAGE_SCOPE])

    creds.refresh(Request())

    (sts,) = cfke_google.sts_calls()
    assert sts.form()["scope"] == IAM_SCOPE
    (generate,) = cfke_google.generate_calls()
    assert generate.path == f"/v1/projects/-/serviceAccounts/{SA}:generateAccessToken"
    assert generate.json() == {"scope": [STORAGE_SCOPE], "lifetime": "3600s"}
    federated = generate.headers["authorization"].removeprefix("Bearer ")
    assert cfke_google.issued[federated].service_account is None
    assert creds.token is not None
    issued = cfke_google.issued[creds.token]
    assert (issued.service_account, issued.scopes) == (SA, (STORAGE_SCOPE,))
    assert creds.service_account_email == SA


def test_authorized_session_sends_the_issued_token(cfke_google: GoogleFake) -> None:
    cfke_google.bind(SA, MEMBER)
    creds = creds_for(cfke_google, service_account=SA)
    session = AuthorizedSession(creds)

    answer = session.get(cfke_google.url + RESOURCE_PATH)

    assert answer.status_code == 200
    assert answer.json()["service_account"] == SA
    (seen,) = cfke_google.server.calls("GET", RESOURCE_PATH)
    assert seen.headers["authorization"] == f"Bearer {creds.token}"


def test_a_401_makes_authorized_session_get_a_new_token_once(cfke_google: GoogleFake) -> None:
    creds = creds_for(cfke_google)
    session = AuthorizedSession(creds)
    assert session.get(cfke_google.url + RESOURCE_PATH).status_code == 200
    revoked = creds.token
    cfke_google.issued.clear()  # Google revoked every token it issued: the held one is now refused with 401

    with travel(60):  # past the renewal grace: a token this recent would be taken for the renewal itself
        results = run_threads(8, lambda: AuthorizedSession(creds).get(cfke_google.url + RESOURCE_PATH).status_code)

    assert results == [200] * 8
    assert creds.token != revoked
    assert len(cfke_google.sts_calls()) == 2  # one exchange replaced the refused token, for all eight requests


def test_quota_project_header_and_copies(cfke_google: GoogleFake) -> None:
    creds = creds_for(cfke_google, quota_project_id="billing-project")
    assert creds.quota_project_id == "billing-project"
    answer = AuthorizedSession(creds).get(cfke_google.url + RESOURCE_PATH)
    assert answer.json()["quota_project"] == "billing-project"

    other = creds.with_quota_project("other-billing")
    headers: dict[str, str] = {}
    other.before_request(Request(), "GET", cfke_google.url, headers)
    assert headers == {"authorization": f"Bearer {creds.token}", "x-goog-user-project": "other-billing"}
    assert len(cfke_google.sts_calls()) == 1  # the copy shares the refreshing credential


def test_google_auth_interfaces(cfke_google: GoogleFake) -> None:
    creds = creds_for(cfke_google)
    assert isinstance(creds, ga_credentials.Scoped)
    assert isinstance(creds, ga_credentials.CredentialsWithQuotaProject)
    assert creds.universe_domain == "googleapis.com"
    assert creds.requires_scopes  # no scopes chosen: a client library adds the ones its API needs
    assert creds.scopes == [CLOUD_PLATFORM_SCOPE]  # what they carry when used as they are
    assert creds.has_scopes([CLOUD_PLATFORM_SCOPE])
    assert creds.get_cred_info() == {
        "credential_source": "cfke-auth",
        "credential_type": "external account credentials (cfke-auth)",
    }
    scoped = ga_credentials.with_scopes_if_required(creds, [STORAGE_SCOPE])
    assert scoped.scopes == [STORAGE_SCOPE] and not scoped.requires_scopes
    explicit = creds_for(cfke_google, scopes=[CLOUD_PLATFORM_SCOPE])
    assert ga_credentials.with_scopes_if_required(explicit, [STORAGE_SCOPE]) is explicit  # explicit scopes win
    narrowed = creds.with_scopes([], default_scopes=[STORAGE_SCOPE])
    narrowed.refresh(Request())
    assert narrowed.scopes == [STORAGE_SCOPE]
    assert cfke_google.sts_calls()[-1].form()["scope"] == STORAGE_SCOPE


def test_same_parameters_share_one_refreshing_credential(cfke_google: GoogleFake) -> None:
    first, second = creds_for(cfke_google), creds_for(cfke_google)
    first.refresh(Request())
    second.refresh(Request())
    assert first.token == second.token
    assert len(cfke_google.sts_calls()) == 1
    creds_for(cfke_google, scopes=STORAGE_SCOPE).refresh(Request())
    assert len(cfke_google.sts_calls()) == 2  # other scopes, other credential


def test_token_path_argument_wins(cfke_google: GoogleFake, cfke_token_file: TokenFile, tmp_path: Any) -> None:
    other = TokenFile(tmp_path / "other", cfke_token_file.issuer, audience=cfke_google.provider.audience)
    other.rotate()
    creds = creds_for(cfke_google, token_path=other.path)
    with pytest.raises(GoogleExchangeError, match="not the current content"):
        creds.refresh(Request())  # the fake expects the environment's file: proof the argument was read


def test_serves_cached_token_until_the_refresh_point(cfke_google: GoogleFake) -> None:
    creds = creds_for(cfke_google)
    headers: dict[str, str] = {}
    for _ in range(100):
        creds.before_request(Request(), "GET", cfke_google.url, headers)
    assert len(cfke_google.sts_calls()) == 1


def test_time_travel_across_expiry_gets_a_new_token(cfke_google: GoogleFake, cfke_token_file: TokenFile) -> None:
    creds = creds_for(cfke_google)
    creds.refresh(Request())
    old = creds.token
    with travel(2 * 3600):
        cfke_token_file.rotate()  # the kubelet kept rotating meanwhile
        assert not creds.valid
        answer = AuthorizedSession(creds).get(cfke_google.url + RESOURCE_PATH)
        assert answer.status_code == 200
        assert creds.token != old
        assert creds.valid
    assert [c.form()["subject_token"] for c in cfke_google.sts_calls()][-1] == cfke_token_file.token


def test_rotation_is_picked_up_at_the_next_exchange(cfke_google: GoogleFake, cfke_token_file: TokenFile) -> None:
    creds = creds_for(cfke_google)
    creds.refresh(Request())
    first_token = cfke_token_file.token
    with travel(50 * 60):
        cfke_token_file.rotate()
        creds.refresh(Request())  # past the refresh point: a proactive exchange with the new file content
        assert creds.refreshing.settle()
    first, second = cfke_google.sts_calls()
    assert first.form()["subject_token"] == first_token
    assert second.form()["subject_token"] == cfke_token_file.token != first_token


def test_64_threads_cold_make_one_sts_call(cfke_google: GoogleFake) -> None:
    creds = creds_for(cfke_google)
    run_threads(64, lambda: creds.before_request(Request(), "GET", cfke_google.url, {}), fail=True)
    assert len(cfke_google.sts_calls()) == 1


def test_64_threads_at_the_refresh_point_make_one_sts_call(cfke_google: GoogleFake) -> None:
    creds = creds_for(cfke_google)
    creds.refresh(Request())
    with travel(50 * 60):
        run_threads(64, lambda: creds.before_request(Request(), "GET", cfke_google.url, {}), fail=True)
        assert creds.refreshing.settle()
    assert len(cfke_google.sts_calls()) == 2


def test_outage_while_valid_fails_no_request(cfke_google: GoogleFake) -> None:
    creds = creds_for(cfke_google)
    creds.refresh(Request())
    token = creds.token
    with cfke_google.server.outage(503), travel(50 * 60, tick=False):  # the clock stands: no backoff elapses
        run_threads(64, lambda: creds.before_request(Request(), "GET", cfke_google.url, {}), fail=True)
        assert creds.refreshing.settle()
        for _ in range(50):
            creds.before_request(Request(), "GET", cfke_google.url, {})
    assert creds.token == token
    assert len(cfke_google.sts_calls()) == 2  # one failed refresh attempt, then backoff: not one per request


def test_outage_with_nothing_valid_raises_a_retryable_refresh_error(cfke_google: GoogleFake) -> None:
    creds = creds_for(cfke_google)
    with cfke_google.server.outage(503), pytest.raises(GoogleExchangeError) as info:
        creds.refresh(Request())
    error = info.value
    assert isinstance(error, ga_exceptions.RefreshError)
    assert isinstance(error, cfke_auth.ExchangeError)
    assert error.retryable  # google-auth's own property agrees
    assert error.code == "http-503"


def test_recovers_after_the_outage(cfke_google: GoogleFake) -> None:
    creds = creds_for(cfke_google)
    with cfke_google.server.outage(503), pytest.raises(GoogleExchangeError):
        creds.refresh(Request())
    with travel(5):  # past the first backoff
        creds.refresh(Request())
    assert creds.valid


def test_no_secret_in_messages_reprs_or_logs(
    cfke_google: GoogleFake, cfke_token_file: TokenFile, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    cfke_google.bind(SA, "principal://someone-else")
    creds = creds_for(cfke_google, service_account=SA)
    with pytest.raises(GoogleExchangeError) as info:
        creds.refresh(Request())  # STS succeeds, IAM refuses: the federated token was in flight
    federated = next(iter(cfke_google.issued))
    ok = creds_for(cfke_google)
    ok.refresh(Request())
    texts = [str(info.value), repr(info.value), repr(creds), repr(ok), repr(ok.refreshing), caplog.text]
    secrets = [cfke_token_file.token, federated, ok.token]
    for text in texts:
        for secret in secrets:
            assert secret
            assert secret not in text


async def test_the_same_flow_runs_on_asyncio(cfke_google: GoogleFake) -> None:
    creds = creds_for(cfke_google)
    value = await creds.refreshing.aget()
    assert cfke_google.issued[value.token].principal == MEMBER
    creds.refresh(Request())
    assert creds.token == value.token
    assert len(cfke_google.sts_calls()) == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"project_number": "shop-prod"}, "is a project ID"),
        ({"scopes": []}, "scopes must be"),
        ({"scopes": ["a b"]}, "scopes must be"),
        ({"service_account": "reader"}, "not a service account email"),
        ({"sts_endpoint_url": "http://sts.example.com"}, "sts_endpoint_url"),
        ({"iam_endpoint_url": "ftp://127.0.0.1"}, "iam_endpoint_url"),
    ],
)
def test_bad_arguments_fail_before_any_request(cfke_google: GoogleFake, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(cfke_auth.ConfigurationError, match=message):
        creds_for(cfke_google, **kwargs)
    assert cfke_google.server.requests == []


def test_credentials_pickle_as_their_parameters(cfke_google: GoogleFake) -> None:
    import pickle

    creds = creds_for(cfke_google, quota_project_id="billing")
    creds.refresh(Request())
    copy = pickle.loads(pickle.dumps(creds))
    assert isinstance(copy, GcpCredentials)
    assert copy.quota_project_id == "billing"
    assert creds.token is not None
    assert creds.token not in repr(pickle.dumps(creds))  # the token is not part of the pickle
    copy.refresh(Request())
    assert copy.token == creds.token  # same parameters in one process: the same refreshing credential


def test_an_api_client_gets_a_token_for_its_own_scopes(cfke_google: GoogleFake) -> None:
    """googleapiclient scopes unscoped credentials to its API (Drive here), as google-auth's own credentials are:
    the impersonated token is minted for the Drive scope, not cloud-platform (which Drive refuses with 403)."""
    from googleapiclient.discovery import build

    drive_scope = "https://www.googleapis.com/auth/drive"
    cfke_google.bind(SA, MEMBER)
    creds = creds_for(cfke_google, service_account=SA)
    cfke_google.server.routes[("GET", "/files")] = lambda _: Reply.json({"files": []})
    drive = build(
        "drive", "v3", credentials=creds, static_discovery=True, client_options={"api_endpoint": cfke_google.url}
    )
    assert drive.files().list().execute() == {"files": []}
    (generate,) = cfke_google.generate_calls()
    assert drive_scope in generate.json()["scope"]
    (listing,) = cfke_google.server.calls("GET", "/files")
    token = listing.headers["authorization"].removeprefix("Bearer ")
    assert drive_scope in cfke_google.issued[token].scopes


def test_a_google_cloud_client_scopes_them_too(cfke_google: GoogleFake) -> None:
    from google.cloud import storage

    cfke_google.server.routes[("GET", "/storage/v1/b/orders")] = lambda _: Reply.json({"name": "orders"})
    client = storage.Client(
        project="shop-prod", credentials=creds_for(cfke_google), client_options={"api_endpoint": cfke_google.url}
    )
    assert client.get_bucket("orders").name == "orders"
    (sts,) = cfke_google.sts_calls()
    assert "https://www.googleapis.com/auth/devstorage.full_control" in sts.form()["scope"].split()
