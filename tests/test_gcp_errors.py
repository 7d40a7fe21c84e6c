"""Every refusal Google can answer, through real HTTP to the loopback fake: the typed error, its code and its hint."""

from __future__ import annotations

import socket
from typing import Any

import httpx
import pytest
from conftest import assert_no_secrets
from google.auth.exceptions import RefreshError
from google.auth.transport.requests import Request

import cfke_auth
from cfke_auth import TokenSource
from cfke_auth._protocol import Context
from cfke_auth.gcp.errors import iam_error, sts_error
from cfke_auth.gcp.names import WorkloadProvider
from cfke_auth.gcp.protocol import parse_iam_response, parse_sts_response
from cfke_auth.gcp.settings import GcpSettings
from cfke_auth.testing import GoogleFake, OidcIssuer, TokenFile

SA = "writer@shop-prod.iam.gserviceaccount.com"
PROVIDER = WorkloadProvider("123456789012", "cfke", "cfke")
MEMBER = PROVIDER.principal("system:serviceaccount:default:default")


def exchange_error(fake: GoogleFake, **kwargs: Any) -> cfke_auth.ExchangeError:
    """The error a google-auth caller gets: google-auth's own RefreshError, and cfke-auth's ExchangeError."""
    creds = cfke_auth.get_gcp_credentials(**{**fake.credential_kwargs(), **kwargs})
    with pytest.raises(RefreshError) as info:
        creds.refresh(Request())
    assert isinstance(info.value, cfke_auth.ExchangeError)
    assert info.value.retryable is info.value.retryable  # one field, read through google-auth's property too
    return info.value


@pytest.mark.cfke_token(audience="https://wrong.example.com")
def test_invalid_grant_shows_token_audience_and_issuer_against_the_provider(
    cfke_google: GoogleFake, cfke_issuer: OidcIssuer
) -> None:
    error = exchange_error(cfke_google)
    assert (error.provider, error.code, error.status, error.retryable) == ("gcp-sts", "invalid_grant", 400, False)
    assert "does not match the expected audience" in error.message
    assert error.hint is not None
    assert "aud ['https://wrong.example.com']" in error.hint
    assert f"iss {cfke_issuer.issuer!r}" in error.hint
    assert PROVIDER.audience in error.hint


@pytest.mark.cfke_token(audience=PROVIDER.audience, extended=True)
def test_invalid_grant_for_the_extended_default_token_says_to_mount_a_projected_one(cfke_google: GoogleFake) -> None:
    error = exchange_error(cfke_google)
    assert error.code == "invalid_grant"
    assert "too long" in error.message
    assert error.hint is not None
    assert "default extended token" in error.hint
    assert "projected token" in error.hint


def test_invalid_target_for_a_disabled_provider(cfke_google: GoogleFake) -> None:
    cfke_google.disabled = True
    error = exchange_error(cfke_google)
    assert error.code == "invalid_target"
    assert error.hint is not None
    assert "does not exist in project 123456789012 or is disabled" in error.hint


def test_invalid_target_for_an_unknown_provider(cfke_google: GoogleFake) -> None:
    error = exchange_error(cfke_google, provider="absent")
    assert error.code == "invalid_target"
    assert error.hint is not None
    assert "'absent'" in error.hint


def test_invalid_request_on_the_audience_of_an_unknown_project(cfke_google: GoogleFake) -> None:
    error = exchange_error(cfke_google, project_number="999999999999")
    assert error.code == "invalid_request"
    assert error.hint is not None
    assert "project number (not the ID)" in error.hint


def test_invalid_scope(cfke_google: GoogleFake) -> None:
    error = exchange_error(cfke_google, scopes=["storage"])
    assert error.code == "invalid_scope"
    assert error.hint is not None
    assert "https://www.googleapis.com/auth/" in error.hint


def test_iam_permission_denied_prints_the_exact_member_to_bind(cfke_google: GoogleFake) -> None:
    cfke_google.bind(SA, "principal://someone-else")
    error = exchange_error(cfke_google, service_account=SA)
    assert (error.provider, error.code, error.status) == ("gcp-iam", "PERMISSION_DENIED", 403)
    assert error.hint is not None
    assert f"--member='{MEMBER}'" in error.hint
    assert "roles/iam.workloadIdentityUser" in error.hint


def test_iam_unknown_service_account(cfke_google: GoogleFake) -> None:
    error = exchange_error(cfke_google, service_account="ghost@shop-prod.iam.gserviceaccount.com")
    assert error.status == 404
    assert error.hint is not None
    assert "does not exist" in error.hint


@pytest.mark.parametrize("status", [429, 500, 503])
def test_overload_and_server_errors_are_retryable(cfke_google: GoogleFake, status: int) -> None:
    with cfke_google.server.outage(status):
        error = exchange_error(cfke_google)
    assert (error.code, error.status, error.retryable) == (f"http-{status}", status, True)


def test_unreachable_endpoint_is_a_retryable_connection_error(cfke_google: GoogleFake) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    error = exchange_error(cfke_google, sts_endpoint_url=closed)
    assert (error.code, error.retryable) == ("connection", True)


# -- parsing canned answers: the cases a live fake has no reason to produce --------------------------------------

SETTINGS = GcpSettings(PROVIDER, ("https://www.googleapis.com/auth/cloud-platform",), TokenSource(), SA)


def context(token: str = "t.o.k", *secrets: str) -> Context[GcpSettings]:
    return Context.of(SETTINGS, "https://sts.googleapis.com/v1/token", token, *secrets)


def answer(status: int, body: Any = None, text: str | None = None) -> httpx.Response:
    """A bare answer, as parsers get it: no request attached. A string body is sent as it is."""
    if isinstance(body, str):
        text = body
    if text is not None:
        return httpx.Response(status, text=text)
    return httpx.Response(status, json=body)


def test_expired_subject_token_is_marked_stale(cfke_token_file: TokenFile) -> None:
    token = cfke_token_file.token or ""
    error = sts_error(
        answer(400, {"error": "invalid_grant", "error_description": "The ID Token has expired."}), context(token), now=0
    )
    assert error.stale_token
    other = sts_error(
        answer(400, {"error": "invalid_grant", "error_description": "Bad signature."}), context(token), now=0
    )
    assert not other.stale_token


def test_non_json_error_bodies_keep_the_status(cfke_token_file: TokenFile) -> None:
    error = sts_error(answer(400, text="<html>bad</html>"), context(cfke_token_file.token or ""), now=0)
    assert (error.code, error.status, error.retryable) == ("http-400", 400, False)
    iam = iam_error(answer(401, text="nope"), context(cfke_token_file.token or ""), now=0)
    assert (iam.code, iam.hint) == ("http-401", None)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"access_token": "", "expires_in": 3600},
        {"access_token": "t", "expires_in": "3600"},
        {"access_token": "t", "expires_in": True},
        {"access_token": "t", "expires_in": 0},
        {"access_token": "t", "expires_in": 1e12},
        '{"access_token": "t", "expires_in": Infinity}',  # what Python's json reads, and a server may send
        '{"access_token": "t", "expires_in": NaN}',
        '{"access_token": "t", "expires_in": 1e400}',
        ["not", "an object"],
    ],
)
def test_malformed_sts_answers_are_retryable(body: Any) -> None:
    with pytest.raises(cfke_auth.ExchangeError) as info:
        parse_sts_response(answer(200, body), context(), now=0)
    assert (info.value.code, info.value.retryable) == ("malformed-response", True)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"accessToken": "t", "expireTime": "tomorrow"},
        {"accessToken": 1, "expireTime": "2026-01-01T00:00:00Z"},
        {"accessToken": "t", "expireTime": "9999-12-31T23:59:59Z"},
        {"accessToken": "t", "expireTime": "2026-02-30T00:00:00Z"},
        [],
    ],
)
def test_malformed_iam_answers_are_retryable(body: Any) -> None:
    with pytest.raises(cfke_auth.ExchangeError) as info:
        parse_iam_response(answer(200, body), context(), now=1767323045.0 - 3600)
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
    now = 1767323045.0 - 3600
    issued = parse_iam_response(answer(200, {"accessToken": "t", "expireTime": expire_time}), context(), now=now)
    assert issued.expires_at == epoch
    assert issued.value.expiry.isoformat().startswith("2026-01-02T03:04:05")


def test_text_echoing_a_secret_is_redacted() -> None:
    """A server (or a proxy in its place) quoting the subject token or the STS token back: never in the error."""
    subject, federated = "eyJhbGciOi.eyJzdWIiOiJ4In0.c2lnbmF0dXJl", "ya29.federated-sts-token-0123456789"
    body = {"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": f"bad {subject} and {federated}"}}
    error = iam_error(answer(400, body), context(subject, federated), now=0)
    sts = sts_error(
        answer(400, {"error": "invalid_grant", "error_description": f"echo {subject}"}), context(subject), now=0
    )
    assert_no_secrets([subject, federated], str(error), repr(error), str(sts))
    assert "<redacted>" in error.message and "<redacted>" in sts.message


def test_retry_after_on_an_overloaded_answer() -> None:
    error = sts_error(httpx.Response(429, headers={"Retry-After": "12"}), context(), now=0)
    assert (error.retryable, error.retry_after) == (True, 12.0)
