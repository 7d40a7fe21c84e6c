"""Every Entra ID error answer becomes a typed ExchangeError with a hint, and nothing secret leaks into it."""

from __future__ import annotations

import logging
import time

import httpx
import pytest
import time_machine
from azure.core.exceptions import ClientAuthenticationError
from conftest import assert_no_secrets

import cfke_auth
from cfke_auth import TokenSource
from cfke_auth._protocol import Context
from cfke_auth.azure.protocol import EntraRequest, parse_response
from cfke_auth.azure.settings import EntraSettings, resolve
from cfke_auth.testing import FakeEntra, FederatedCredential, Reply, TokenFile, aadsts_error

STORAGE = "https://storage.azure.com/.default"
VAULT = "https://vault.azure.net/.default"


def _error(credential: object) -> cfke_auth.ExchangeError:
    """The error an Azure SDK caller gets: azure-core's ClientAuthenticationError, and cfke-auth's ExchangeError."""
    with pytest.raises(ClientAuthenticationError) as caught:
        credential.get_token(STORAGE)  # type: ignore[attr-defined]
    assert isinstance(caught.value, cfke_auth.ExchangeError)
    return caught.value


def _context(token: str = "t.o.k") -> Context[EntraRequest]:
    settings = EntraSettings("tenant", "client", TokenSource(), "https://login.microsoftonline.com")
    request = EntraRequest(settings, "tenant", (STORAGE,))
    return Context.of(request, request.url, token)


def test_no_matching_federated_credential_names_iss_sub_aud(cfke_entra: FakeEntra, cfke_token_file: TokenFile):
    cfke_entra.federated = FederatedCredential(subject="system:serviceaccount:other:sa")
    error = _error(cfke_auth.get_azure_credential())
    claims = cfke_auth.TokenSource(cfke_token_file.path).claims()
    assert error.code == "AADSTS70021"
    assert not error.retryable
    assert error.hint is not None
    for value in (claims.issuer, claims.subject, "api://AzureADTokenExchange"):
        assert value in error.hint
    assert "federated-credential" in error.hint


@pytest.mark.cfke_token(audience="https://api.cloudfleet.ai/wrong-audience")
def test_wrong_audience_is_no_matching_credential(cfke_entra: FakeEntra):
    error = _error(cfke_auth.get_azure_credential())
    assert error.code == "AADSTS70021"
    assert error.hint is not None
    assert "wrong-audience" in error.hint


def test_year_long_default_token_is_refused_with_the_projected_volume_fix(
    cfke_entra: FakeEntra, cfke_token_file: TokenFile
):
    cfke_token_file.rotate(extended=True, audience="api://AzureADTokenExchange")
    error = _error(cfke_auth.get_azure_credential())
    assert error.code == "AADSTS70023"
    assert error.hint is not None
    assert "expirationSeconds 3600" in error.hint
    assert "token-volume" in error.hint


def test_assertion_outside_its_time_is_retried_once_with_a_reread_token(
    cfke_entra: FakeEntra, cfke_token_file: TokenFile
):
    credential = cfke_auth.get_azure_credential()
    with time_machine.travel(time.time(), tick=False):  # inside the stat interval: the source trusts what it read
        credential.get_token(VAULT)  # the source now holds the old token
        old = cfke_token_file.token
        new = cfke_token_file.rotate()
        cfke_entra.answer_with(aadsts_error(700024, "Client assertion is not within its valid time range."), times=1)
        assert credential.get_token(STORAGE).token == cfke_entra.issued[-1]
    assertions = [r.form()["client_assertion"] for r in cfke_entra.token_requests()]
    assert assertions == [old, old, new]  # the refused cached token, then the file read again


def test_assertion_expired_twice_surfaces_as_stale_and_retryable(cfke_entra: FakeEntra):
    cfke_entra.answer_with(aadsts_error(700024, "Client assertion is not within its valid time range."), times=2)
    error = _error(cfke_auth.get_azure_credential())
    assert error.code == "AADSTS700024"
    assert error.stale_token
    assert error.retryable
    assert len(cfke_entra.token_requests()) == 2


def test_unknown_client_id(cfke_entra: FakeEntra):
    error = _error(cfke_auth.get_azure_credential(client_id="11111111-2222-3333-4444-555555555555"))
    assert error.code == "AADSTS700016"
    assert error.hint is not None
    assert "AZURE_CLIENT_ID" in error.hint


def test_unknown_tenant(cfke_entra: FakeEntra):
    cfke_entra.answer_with(aadsts_error(90002, "Tenant 'contoso.example' not found.", error="invalid_tenant"), times=1)
    error = _error(cfke_auth.get_azure_credential())
    assert error.code == "AADSTS90002"
    assert error.hint is not None
    assert "AZURE_AUTHORITY_HOST" in error.hint


def test_scope_without_default_suffix(cfke_entra: FakeEntra):
    with pytest.raises(cfke_auth.ExchangeError) as caught:
        cfke_auth.get_azure_credential().get_token("https://storage.azure.com/user_impersonation")
    assert caught.value.code == "AADSTS1002012"
    assert caught.value.hint is not None
    assert "/.default" in caught.value.hint


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_throttling_and_server_errors_are_retryable(cfke_entra: FakeEntra, status: int):
    cfke_entra.answer_with(Reply.text("busy", status), times=1)
    error = _error(cfke_auth.get_azure_credential())
    assert error.code == f"http-{status}"
    assert error.retryable
    assert error.status == status


def test_throttling_with_an_aadsts_body_keeps_the_code_and_is_retryable(cfke_entra: FakeEntra):
    cfke_entra.answer_with(
        aadsts_error(50196, "The server terminated an operation because it encountered a loop.", status=429), times=1
    )
    error = _error(cfke_auth.get_azure_credential())
    assert error.code == "AADSTS50196"
    assert error.retryable


def test_unmapped_aadsts_code_keeps_the_first_line_only(cfke_entra: FakeEntra):
    cfke_entra.answer_with(aadsts_error(7000112, "Application is disabled."), times=1)
    error = _error(cfke_auth.get_azure_credential())
    assert error.code == "AADSTS7000112"
    assert error.hint is None
    assert "Application is disabled." in str(error)
    assert "Trace ID" not in error.message


def test_connection_refused_is_retryable(cfke_entra: FakeEntra, cfke_token_file: TokenFile):
    cfke_entra.stop()
    error = _error(cfke_auth.get_azure_credential())
    assert error.code == "connection"
    assert error.retryable


def test_token_file_errors_are_token_errors(cfke_entra: FakeEntra, tmp_path):
    with pytest.raises(ClientAuthenticationError) as info:
        cfke_auth.get_azure_credential(token_path=tmp_path / "missing").get_token(STORAGE)
    assert isinstance(info.value, cfke_auth.TokenError) and info.value.reason == "not-found"
    assert cfke_entra.token_requests() == []


@pytest.mark.parametrize(
    ("body", "what"),
    [
        (b"<html>sign in</html>", "not a JSON object"),
        (b'{"token_type":"Bearer","expires_in":3599}', "no access_token"),
        (b'{"access_token":"x"}', "neither expires_in nor expires_on"),
        (b'{"access_token":"x","expires_in":"soon"}', "not a sensible number"),
        (b'{"access_token":"x","expires_in":Infinity}', "not a sensible number"),
        (b'{"access_token":"x","expires_in":1e400}', "not a sensible number"),
        (b'{"access_token":"x","expires_in":-5}', "not a sensible number"),
        (b'{"access_token":"x","expires_on":99999999999999999999}', "not a sensible number"),
    ],
)
def test_malformed_success_answers(cfke_entra: FakeEntra, body: bytes, what: str):
    cfke_entra.answer_with(Reply(200, body, {"Content-Type": "application/json"}), times=1)
    error = _error(cfke_auth.get_azure_credential())
    assert error.code == "malformed-response"
    assert what in error.message


def test_expires_on_and_string_numbers_are_understood():
    response = httpx.Response(200, json={"access_token": "at", "expires_on": "1800086400", "token_type": "Bearer"})
    issued = parse_response(response, _context(), now=1_800_000_000)
    assert issued.expires_at == 1_800_086_400
    assert issued.value.refresh_on is None
    response = httpx.Response(200, json={"access_token": "at", "expires_in": "3599", "refresh_in": 1800})
    issued = parse_response(response, _context(), now=1_800_000_000)
    assert (issued.expires_at, issued.refresh_at) == (1_800_003_599, 1_800_001_800)


@pytest.mark.parametrize("refresh_in", [0, -60, "soon", None, 10**12])
def test_senseless_refresh_advice_is_ignored_not_fatal(refresh_in: object) -> None:
    response = httpx.Response(200, json={"access_token": "at", "expires_in": 3599, "refresh_in": refresh_in})
    issued = parse_response(response, _context(), now=1_800_000_000)
    assert (issued.expires_at, issued.refresh_at) == (1_800_003_599, None)


def test_an_error_echoing_the_assertion_is_redacted() -> None:
    assertion = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
    body = {
        "error": "invalid_client",
        "error_description": f"AADSTS50027: bad token {assertion}",
        "error_codes": [50027],
    }
    with pytest.raises(cfke_auth.ExchangeError) as info:
        parse_response(httpx.Response(401, json=body), _context(assertion), now=0)
    assert_no_secrets([assertion], str(info.value), repr(info.value))


def test_throttling_carries_retry_after() -> None:
    response = httpx.Response(429, text="slow down", headers={"Retry-After": "7"})
    with pytest.raises(cfke_auth.ExchangeError) as info:
        parse_response(response, _context(), now=0)
    assert (info.value.retryable, info.value.retry_after) == (True, 7.0)


@pytest.mark.parametrize(
    ("kwargs", "env", "message"),
    [
        ({}, {}, "AZURE_TENANT_ID.*AZURE_CLIENT_ID"),
        ({"tenant_id": "t"}, {}, "AZURE_CLIENT_ID"),
        ({"client_id": "c"}, {}, "AZURE_TENANT_ID"),
        ({"tenant_id": "a/b", "client_id": "c"}, {}, "neither a GUID"),
        ({"tenant_id": "t", "client_id": "c", "authority_host": "http://login.example.com"}, {}, "https"),
        ({"tenant_id": "t", "client_id": "c"}, {"AZURE_AUTHORITY_HOST": "http://10.0.0.1"}, "https"),
    ],
)
def test_bad_settings_are_configuration_errors(monkeypatch: pytest.MonkeyPatch, kwargs, env, message):
    for name in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_AUTHORITY_HOST"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(cfke_auth.ConfigurationError, match=message):
        cfke_auth.get_azure_credential(**kwargs)
    with pytest.raises(cfke_auth.ConfigurationError, match=message):
        cfke_auth.get_azure_credential_async(**kwargs)


def test_settings_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path):
    monkeypatch.setenv("AZURE_TENANT_ID", "env-tenant")
    monkeypatch.setenv("AZURE_CLIENT_ID", "env-client")
    monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", str(tmp_path / "azure"))
    monkeypatch.setenv("CFKE_TOKEN_FILE", str(tmp_path / "cfke"))
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", "login.microsoftonline.us")
    assert resolve() == EntraSettings(
        "env-tenant", "env-client", TokenSource(tmp_path / "azure"), "https://login.microsoftonline.us"
    )
    assert resolve("t", "c", token_path=tmp_path / "arg", authority_host="https://login.chinacloudapi.cn/") == (
        EntraSettings("t", "c", TokenSource(tmp_path / "arg"), "https://login.chinacloudapi.cn")
    )
    monkeypatch.delenv("AZURE_FEDERATED_TOKEN_FILE")
    monkeypatch.delenv("AZURE_AUTHORITY_HOST")
    settings = resolve()
    assert settings.source.path == str(tmp_path / "cfke")  # type: ignore[attr-defined]
    assert settings.authority == "https://login.microsoftonline.com"


def test_no_secret_in_errors_reprs_or_logs(
    cfke_entra: FakeEntra, cfke_token_file: TokenFile, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    credential = cfke_auth.get_azure_credential()
    token = credential.get_token(STORAGE)
    info = credential.get_token_info(STORAGE)
    start = time.time()
    cfke_entra.federated = FederatedCredential(subject="someone-else")
    seen: list[str] = [repr(credential), repr(token), repr(info), repr(cfke_auth.get_azure_credential_async())]
    # at start + 3590 nothing valid is left, so the refusal reaches the caller
    with time_machine.travel(start + 3590, tick=False), pytest.raises(cfke_auth.ExchangeError) as caught:
        credential.get_token(STORAGE)
    seen += [str(caught.value), repr(caught.value), caplog.text]
    secrets = [cfke_token_file.token, *cfke_entra.issued]
    assert caplog.text  # the failed refresh was logged...
    for text in seen:
        for secret in secrets:
            assert secret not in text  # ...without the token or an access token
        assert cfke_token_file.token.split(".")[2] not in text  # not even the signature part


def test_message_drops_the_code_prefix_and_the_trace_lines(cfke_entra: FakeEntra):
    cfke_entra.answer_with(aadsts_error(700016, "Application with identifier 'x' was not found."), times=1)
    error = _error(cfke_auth.get_azure_credential())
    assert error.message == "Application with identifier 'x' was not found."
    assert str(error).startswith("entra: AADSTS700016: Application with identifier")


@pytest.mark.parametrize("code", [700211, 700212, 700213, 7002137])
def test_specific_no_match_codes_get_the_matching_hint(cfke_entra: FakeEntra, code: int):
    cfke_entra.answer_with(aadsts_error(code, "No matching federated identity record found."), times=1)
    error = _error(cfke_auth.get_azure_credential())
    assert error.code == f"AADSTS{code}"
    assert error.hint is not None
    assert "system:serviceaccount:" in error.hint
    assert "cfke-auth azure federated-credential" in error.hint


@pytest.mark.cfke_token(extended=True)
def test_no_match_with_the_default_token_points_at_the_projected_volume(cfke_entra: FakeEntra):
    cfke_entra.answer_with(aadsts_error(700212, "No matching federated identity record found."), times=1)
    error = _error(cfke_auth.get_azure_credential())
    assert error.hint is not None
    assert "cfke-auth azure token-volume" in error.hint
