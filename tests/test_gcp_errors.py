"""Every refusal Google can answer, through real HTTP to the loopback fake: the typed error, its code and its hint."""

from __future__ import annotations

import socket
from typing import Any

import httpx
import pytest
from google.auth.transport.requests import Request

import cfke_auth
from cfke_auth.gcp.credentials import GcpRefreshError
from cfke_auth.gcp.errors import iam_error, sts_error
from cfke_auth.gcp.exchange import GcpExchange, parse_iam_response, parse_sts_response
from cfke_auth.gcp.names import WorkloadProvider
from cfke_auth.testing import OidcIssuer, TokenFile
from cfke_auth.testing.gcp import GoogleFake

SA = "writer@shop-prod.iam.gserviceaccount.com"
PROVIDER = WorkloadProvider("123456789012", "cfke", "cfke")
MEMBER = PROVIDER.principal("system:serviceaccount:default:default")


def exchange_error(fake: GoogleFake, **kwargs: Any) -> cfke_auth.ExchangeError:
    creds = cfke_auth.get_gcp_credentials(**{**fake.credential_kwargs(), **kwargs})
    with pytest.raises(GcpRefreshError) as info:
        creds.refresh(Request())
    cause = info.value.__cause__
    assert isinstance(cause, cfke_auth.ExchangeError)
    assert str(cause) in str(info.value)
    return cause


@pytest.mark.cfke_token(audience="https://wrong.example.com")
def test_invalid_grant_shows_token_audience_and_issuer_against_the_provider(
    gcp_fake: GoogleFake, cfke_issuer: OidcIssuer
) -> None:
    error = exchange_error(gcp_fake)
    assert (error.provider, error.code, error.status, error.retryable) == ("gcp-sts", "invalid_grant", 400, False)
    assert "does not match the expected audience" in error.message
    assert error.hint is not None
    assert "aud ['https://wrong.example.com']" in error.hint
    assert f"iss {cfke_issuer.issuer!r}" in error.hint
    assert PROVIDER.audience in error.hint


@pytest.mark.cfke_token(audience=PROVIDER.audience, extended=True)
def test_invalid_grant_for_the_extended_default_token_says_to_mount_a_projected_one(gcp_fake: GoogleFake) -> None:
    error = exchange_error(gcp_fake)
    assert error.code == "invalid_grant"
    assert "too long" in error.message
    assert error.hint is not None
    assert "default extended token" in error.hint
    assert "projected token" in error.hint


def test_invalid_target_for_a_disabled_provider(gcp_fake: GoogleFake) -> None:
    gcp_fake.disabled = True
    error = exchange_error(gcp_fake)
    assert error.code == "invalid_target"
    assert error.hint is not None
    assert "does not exist in project 123456789012 or is disabled" in error.hint


def test_invalid_target_for_an_unknown_provider(gcp_fake: GoogleFake) -> None:
    error = exchange_error(gcp_fake, provider="absent")
    assert error.code == "invalid_target"
    assert error.hint is not None
    assert "'absent'" in error.hint


def test_invalid_request_on_the_audience_of_an_unknown_project(gcp_fake: GoogleFake) -> None:
    error = exchange_error(gcp_fake, project_number="999999999999")
    assert error.code == "invalid_request"
    assert error.hint is not None
    assert "project number (not the ID)" in error.hint


def test_invalid_scope(gcp_fake: GoogleFake) -> None:
    error = exchange_error(gcp_fake, scopes=["storage"])
    assert error.code == "invalid_scope"
    assert error.hint is not None
    assert "https://www.googleapis.com/auth/" in error.hint


def test_iam_permission_denied_prints_the_exact_member_to_bind(gcp_fake: GoogleFake) -> None:
    gcp_fake.bind(SA, "principal://someone-else")
    error = exchange_error(gcp_fake, service_account=SA)
    assert (error.provider, error.code, error.status) == ("gcp-iam", "PERMISSION_DENIED", 403)
    assert error.hint is not None
    assert f"--member='{MEMBER}'" in error.hint
    assert "roles/iam.workloadIdentityUser" in error.hint


def test_iam_unknown_service_account(gcp_fake: GoogleFake) -> None:
    error = exchange_error(gcp_fake, service_account="ghost@shop-prod.iam.gserviceaccount.com")
    assert error.status == 404
    assert error.hint is not None
    assert "does not exist" in error.hint


@pytest.mark.parametrize("status", [429, 500, 503])
def test_overload_and_server_errors_are_retryable(gcp_fake: GoogleFake, status: int) -> None:
    with gcp_fake.server.outage(status):
        error = exchange_error(gcp_fake)
    assert (error.code, error.status, error.retryable) == (f"http-{status}", status, True)


def test_unreachable_endpoint_is_a_retryable_connection_error(gcp_fake: GoogleFake) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    error = exchange_error(gcp_fake, sts_endpoint_url=closed)
    assert (error.code, error.retryable) == ("connection", True)


# -- parsing canned answers: the cases a live fake has no reason to produce --------------------------------------

EXCHANGE = GcpExchange(PROVIDER, ("https://www.googleapis.com/auth/cloud-platform",), SA)


def answer(status: int, body: Any = None, text: str | None = None) -> httpx.Response:
    request = httpx.Request("POST", "https://sts.googleapis.com/v1/token")
    if text is not None:
        return httpx.Response(status, text=text, request=request)
    return httpx.Response(status, json=body, request=request)


def test_expired_subject_token_is_marked_stale(cfke_token_file: TokenFile) -> None:
    token = cfke_token_file.token or ""
    error = sts_error(
        answer(400, {"error": "invalid_grant", "error_description": "The ID Token has expired."}), PROVIDER, token
    )
    assert error.stale_token
    other = sts_error(answer(400, {"error": "invalid_grant", "error_description": "Bad signature."}), PROVIDER, token)
    assert not other.stale_token


def test_non_json_error_bodies_keep_the_status(cfke_token_file: TokenFile) -> None:
    error = sts_error(answer(400, text="<html>bad</html>"), PROVIDER, cfke_token_file.token or "")
    assert (error.code, error.status, error.retryable) == ("http-400", 400, False)
    iam = iam_error(answer(401, text="nope"), PROVIDER, SA, cfke_token_file.token or "")
    assert (iam.code, iam.hint) == ("http-401", None)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"access_token": "", "expires_in": 3600},
        {"access_token": "t", "expires_in": "3600"},
        {"access_token": "t", "expires_in": True},
        {"access_token": "t", "expires_in": 0},
        ["not", "an object"],
    ],
)
def test_malformed_sts_answers_are_retryable(body: Any) -> None:
    with pytest.raises(cfke_auth.ExchangeError) as info:
        parse_sts_response(answer(200, body), EXCHANGE, "token")
    assert (info.value.code, info.value.retryable) == ("malformed-response", True)


@pytest.mark.parametrize(
    "body",
    [{}, {"accessToken": "t", "expireTime": "tomorrow"}, {"accessToken": 1, "expireTime": "2026-01-01T00:00:00Z"}, []],
)
def test_malformed_iam_answers_are_retryable(body: Any) -> None:
    with pytest.raises(cfke_auth.ExchangeError) as info:
        parse_iam_response(answer(200, body), EXCHANGE, "token")
    assert (info.value.code, info.value.retryable) == ("malformed-response", True)


@pytest.mark.parametrize(
    ("expire_time", "epoch"),
    [
        ("2026-01-02T03:04:05Z", 1767323045.0),
        ("2026-01-02T03:04:05.5Z", 1767323045.5),
        ("2026-01-02T03:04:05.250000000Z", 1767323045.25),
    ],
)
def test_iam_expire_time_in_every_rfc3339_precision(expire_time: str, epoch: float) -> None:
    issued = parse_iam_response(answer(200, {"accessToken": "t", "expireTime": expire_time}), EXCHANGE, "token")
    assert issued.expires_at == epoch
    assert issued.value.expiry.isoformat().startswith("2026-01-02T03:04:05")
