"""Impersonation options: a token lifetime beyond Google's default hour (where the org policy allows it) and a chain
of delegate service accounts, in the library and in ``cfke-auth gcp cred-config`` -- whose file google-auth's own
loader must honour against the fake."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import google.auth
import pytest
from google.auth.exceptions import RefreshError
from google.auth.transport.requests import Request

import cfke_auth
from cfke_auth.cli import main
from cfke_auth.gcp.credentials import GcpCredentials, GoogleExchangeError
from cfke_auth.gcp.names import WorkloadProvider
from cfke_auth.testing import GoogleFake
from cfke_auth.testing.gcp import TOKEN_CREATOR

SA = "batch@shop-prod.iam.gserviceaccount.com"
HOP1 = "hop-one@infra-prod.iam.gserviceaccount.com"
HOP2 = "hop-two@infra-prod.iam.gserviceaccount.com"
MEMBER = WorkloadProvider("123456789012", "cfke", "cfke").principal("system:serviceaccount:default:default")
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"


def creds_for(fake: GoogleFake, **kwargs: Any) -> GcpCredentials:
    return cfke_auth.get_gcp_credentials(**{**fake.credential_kwargs(), "service_account": SA, **kwargs})


def chain(fake: GoogleFake) -> None:
    """The pod's principal may act as HOP1, HOP1 as HOP2, HOP2 as SA."""
    fake.bind(HOP1, MEMBER, TOKEN_CREATOR)
    fake.bind(HOP2, HOP1, TOKEN_CREATOR)
    fake.bind(SA, HOP2, TOKEN_CREATOR)


def test_twelve_hours_where_the_org_policy_allows_them(cfke_google: GoogleFake) -> None:
    cfke_google.bind(SA, MEMBER)
    cfke_google.allow_lifetime_extension(SA)
    creds = creds_for(cfke_google, lifetime=43200)
    creds.refresh(Request())
    (call,) = cfke_google.generate_calls()
    assert call.json()["lifetime"] == "43200s"
    assert creds.refreshing.expires_at == pytest.approx(time.time() + 43200, abs=5)


def test_more_than_an_hour_without_the_org_policy_is_explained(cfke_google: GoogleFake) -> None:
    cfke_google.bind(SA, MEMBER)
    with pytest.raises(GoogleExchangeError) as info:
        creds_for(cfke_google, lifetime=7200).refresh(Request())
    error = info.value
    assert (error.provider, error.code, error.status) == ("gcp-iam", "INVALID_ARGUMENT", 400)
    assert error.hint is not None
    assert "constraints/iam.allowServiceAccountCredentialLifetimeExtension" in error.hint
    assert SA in error.hint and "7200 s" in error.hint


def test_a_short_lifetime_is_asked_for_as_it_is(cfke_google: GoogleFake) -> None:
    cfke_google.bind(SA, MEMBER)
    creds_for(cfke_google, lifetime=900).refresh(Request())
    assert cfke_google.generate_calls()[0].json()["lifetime"] == "900s"


def test_delegates_are_sent_as_resource_names_and_the_chain_is_honoured(cfke_google: GoogleFake) -> None:
    chain(cfke_google)
    with pytest.raises(GoogleExchangeError, match="PERMISSION_DENIED"):
        creds_for(cfke_google).refresh(Request())  # the pod's principal holds no role on SA itself
    creds = creds_for(cfke_google, delegates=[HOP1, f"projects/-/serviceAccounts/{HOP2}"])
    creds.refresh(Request())
    call = cfke_google.generate_calls()[-1]
    assert call.json()["delegates"] == [f"projects/-/serviceAccounts/{HOP1}", f"projects/-/serviceAccounts/{HOP2}"]
    assert creds.token is not None and cfke_google.issued[creds.token].service_account == SA

    signature = creds.sign_bytes(b"through the chain")  # signBlob goes through the same chain
    assert cfke_google.iam_calls("signBlob")[0].json()["delegates"] == call.json()["delegates"]
    assert signature


def test_id_tokens_go_through_the_chain_too(cfke_google: GoogleFake) -> None:
    chain(cfke_google)
    cfke_google.bind(SA, HOP1, TOKEN_CREATOR)  # a chain of one: the principal acts as HOP1, HOP1 as SA
    creds = cfke_auth.get_gcp_id_token_credentials(
        "https://orders.example.com", **{**cfke_google.credential_kwargs(), "service_account": SA}, delegates=HOP1
    )
    creds.refresh(Request())
    (call,) = cfke_google.iam_calls("generateIdToken")
    assert call.json()["delegates"] == [f"projects/-/serviceAccounts/{HOP1}"]


def test_a_broken_link_is_explained_link_by_link(cfke_google: GoogleFake) -> None:
    cfke_google.bind(HOP1, MEMBER, TOKEN_CREATOR)
    cfke_google.bind(SA, HOP2, TOKEN_CREATOR)  # HOP1 may not act as HOP2
    with pytest.raises(GoogleExchangeError) as info:
        creds_for(cfke_google, delegates=(HOP1, HOP2)).refresh(Request())
    assert info.value.code == "PERMISSION_DENIED"
    assert "implicitDelegation" in info.value.message
    assert info.value.hint == (
        f"through delegates, each link must be allowed to act as the next -- grant {TOKEN_CREATOR} on {HOP1} to "
        f"{MEMBER}; {TOKEN_CREATOR} on {HOP2} to serviceAccount:{HOP1}; {TOKEN_CREATOR} on {SA} to "
        f"serviceAccount:{HOP2}"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lifetime": 43201}, "lifetime must be whole seconds from 60 to 43200"),
        ({"lifetime": 59}, "lifetime must be whole seconds"),
        ({"lifetime": "3600"}, "lifetime must be whole seconds"),
        ({"lifetime": True}, "lifetime must be whole seconds"),
        ({"lifetime": 3600, "service_account": None}, "lifetime applies to impersonated tokens"),
        ({"delegates": [HOP1], "service_account": None}, "delegates chain to a service account"),
        ({"delegates": ["hop-one"]}, "each delegate 'hop-one' is not a service account email"),
        ({"delegates": [42]}, "each delegate must be an email string"),
        ({"delegates": [HOP1, HOP1]}, "repeats one or names service_account itself"),
        ({"delegates": [SA]}, "repeats one or names service_account itself"),
    ],
)
def test_bad_options_fail_before_any_request(cfke_google: GoogleFake, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(cfke_auth.ConfigurationError, match=message):
        creds_for(cfke_google, **kwargs)
    assert cfke_google.server.requests == []


def test_options_key_the_shared_credential(cfke_google: GoogleFake) -> None:
    plain = creds_for(cfke_google)
    assert creds_for(cfke_google).refreshing is plain.refreshing
    assert creds_for(cfke_google, lifetime=1800).refreshing is not plain.refreshing
    assert creds_for(cfke_google, delegates=[HOP1]).refreshing is not plain.refreshing


# -- cfke-auth gcp cred-config: google-auth's loader reads the lifetime ------------------------------------------


def write_config(fake: GoogleFake, path: Path, *extra: str) -> int:
    args = ["gcp", "cred-config", "--pool", "cfke", "--provider", "cfke", "--project-number", "123456789012"]
    urls = ["--sts-endpoint-url", fake.url, "--iam-endpoint-url", fake.url]
    return main([*args, *urls, "--service-account", SA, *extra, "--output", str(path)])


@pytest.mark.filterwarnings("ignore:.*load_credentials_from_file:DeprecationWarning")
def test_google_auth_honours_the_configured_lifetime(cfke_google: GoogleFake, tmp_path: Path) -> None:
    cfke_google.bind(SA, MEMBER)
    path = tmp_path / "gcp.json"
    assert write_config(cfke_google, path, "--lifetime", "7200") == 0
    assert json.loads(path.read_text())["service_account_impersonation"] == {"token_lifetime_seconds": 7200}

    loaded = google.auth.load_credentials_from_file(str(path))[0].with_scopes([CLOUD_PLATFORM])  # no project lookup
    with pytest.raises(RefreshError):  # as Google would: no org policy allows more than an hour yet
        loaded.refresh(Request())
    assert cfke_google.generate_calls()[-1].json()["lifetime"] == "7200s"

    cfke_google.allow_lifetime_extension(SA)
    loaded.refresh(Request())
    assert cfke_google.issued[loaded.token].service_account == SA
    assert cfke_google.issued[loaded.token].expires_at == pytest.approx(time.time() + 7200, abs=5)


def test_cred_config_refuses_what_the_file_cannot_say(
    cfke_google: GoogleFake, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "gcp.json"
    assert write_config(cfke_google, path, "--delegate", HOP1) == 2
    assert "no field for a delegation chain" in capsys.readouterr().err
    assert write_config(cfke_google, path, "--lifetime", "86400") == 2
    assert "--lifetime must be whole seconds from 60 to 43200" in capsys.readouterr().err
    args = ["gcp", "cred-config", "--pool", "cfke", "--provider", "cfke", "--project-number", "123456789012"]
    assert main([*args, "--lifetime", "7200"]) == 2
    assert "--lifetime applies to impersonated tokens" in capsys.readouterr().err
    assert not path.exists()
