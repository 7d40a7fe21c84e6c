"""The hints the commands print when Entra ID finds no federated identity credential: every no-match code, for every
kind of presented token, names the token's issuer, subject and audience and what the credential must hold."""

from __future__ import annotations

import httpx
import pytest

import cfke_auth
from cfke_auth import TokenSource
from cfke_auth._protocol import Context
from cfke_auth.azure.errors import NO_MATCH_CODES, error_from_response
from cfke_auth.azure.protocol import EntraRequest
from cfke_auth.azure.settings import AZURE_AUDIENCE, EntraSettings
from cfke_auth.testing import FakeEntra, TokenFile, aadsts_error

STORAGE = "https://storage.azure.com/.default"
KINDS = {
    "projected": {"audience": AZURE_AUDIENCE},
    "projected-wrong-audience": {"audience": ["sts.amazonaws.com", "api://other"]},
    "extended-default": {"extended": True},
}


def _refusal(code: int) -> cfke_auth.ExchangeError:
    with pytest.raises(cfke_auth.ExchangeError) as caught:
        cfke_auth.get_azure_credential().get_token(STORAGE)
    assert caught.value.code == f"AADSTS{code}"
    return caught.value


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("code", sorted(NO_MATCH_CODES))
def test_every_no_match_hint_names_the_presented_values(
    code: int, kind: str, cfke_entra: FakeEntra, cfke_token_file: TokenFile
) -> None:
    cfke_token_file.rotate(namespace="shop", service_account="checkout", **KINDS[kind])
    cfke_entra.fail_with(code, "No matching federated identity record found for presented assertion.")
    hint = _refusal(code).hint
    assert hint is not None
    claims = TokenSource(cfke_token_file.path).claims()
    assert f"issuer {claims.issuer!r}" in hint
    assert "subject 'system:serviceaccount:shop:checkout'" in hint
    assert f"audience {', '.join(claims.audiences)!r}" in hint  # what was presented
    assert f"audience {AZURE_AUDIENCE!r} exactly" in hint  # what the credential must hold
    assert "cfke-auth azure federated-credential" in hint
    if kind == "extended-default":
        assert "expirationSeconds 3600" in hint
    if kind == "projected-wrong-audience":
        assert f"the token's audience must be {AZURE_AUDIENCE}" in hint


@pytest.mark.parametrize(("code", "which"), [(700211, "issuer"), (700212, "audience"), (700213, "subject")])
def test_the_specific_codes_say_which_value_differs(
    code: int, which: str, cfke_entra: FakeEntra, cfke_token_file: TokenFile
) -> None:
    cfke_entra.fail_with(code, "No matching federated identity record found.")
    assert f"no federated identity credential has the presented token's {which}" in (_refusal(code).hint or "")


def test_the_year_long_token_refusal_names_the_values_too(cfke_entra: FakeEntra, cfke_token_file: TokenFile) -> None:
    cfke_token_file.rotate(extended=True, audience=AZURE_AUDIENCE, namespace="ml", service_account="trainer")
    hint = _refusal(70023).hint or ""
    assert "expirationSeconds 3600" in hint
    assert "subject 'system:serviceaccount:ml:trainer'" in hint
    assert f"issuer {TokenSource(cfke_token_file.path).claims().issuer!r}" in hint


def test_an_assertion_that_is_not_a_jwt() -> None:
    settings = EntraSettings("tenant", "client", TokenSource(), "https://login.microsoftonline.com")
    request = EntraRequest(settings, "tenant", (STORAGE,))
    answer = aadsts_error(70021, "No matching federated identity record found.")
    response = httpx.Response(answer.status, headers=answer.headers, content=answer.body)
    error = error_from_response(response, Context.of(request, request.url, "not-a-jwt"), now=0.0)
    assert error.hint is not None
    assert "not a JWT" in error.hint and "AZURE_FEDERATED_TOKEN_FILE" in error.hint
