"""verify_token against the loopback issuer's discovery document and keys."""

from __future__ import annotations

import pytest
from conftest import token_error

from cfke_auth import ExchangeError, verify_token
from cfke_auth.testing import LoopbackServer, OidcIssuer, Reply


def test_a_token_from_the_issuer_verifies(cfke_issuer: OidcIssuer) -> None:
    token = cfke_issuer.issue(audience="sts.amazonaws.com", namespace="ns", service_account="sa")
    claims = verify_token(token, audience="sts.amazonaws.com")
    assert claims.subject == "system:serviceaccount:ns:sa"


def test_wrong_audience(cfke_issuer: OidcIssuer) -> None:
    with token_error("unverified", match="InvalidAudience"):
        verify_token(cfke_issuer.issue(audience="sts.amazonaws.com"), audience="api://AzureADTokenExchange")


def test_a_key_the_issuer_does_not_publish(cfke_issuer: OidcIssuer) -> None:
    impostor = OidcIssuer(issuer=cfke_issuer.issuer)  # same iss, its own key; never started
    token = impostor.issue()
    with token_error("unverified", match="does not publish") as info:
        verify_token(token)
    assert token not in str(info.value)


def test_a_tampered_payload(cfke_issuer: OidcIssuer) -> None:
    header, _, signature = cfke_issuer.issue().split(".")
    _, payload, _ = cfke_issuer.issue(namespace="kube-system").split(".")
    with token_error("unverified", match="InvalidSignature"):
        verify_token(f"{header}.{payload}.{signature}")


def test_discovery_naming_another_issuer() -> None:
    with LoopbackServer() as server:
        issuer = OidcIssuer(issuer=f"{server.url}/v1/clusters/x")
        server.routes[("GET", "/v1/clusters/x/.well-known/openid-configuration")] = lambda _: Reply.json(
            {"issuer": "https://elsewhere.example", "jwks_uri": f"{server.url}/jwks"}
        )
        with token_error("unverified", match=r"names issuer 'https://elsewhere\.example'"):
            verify_token(issuer.issue())


def test_unreachable_issuer() -> None:
    server = LoopbackServer()
    issuer = OidcIssuer(issuer=f"{server.url}/v1/clusters/gone")
    server.stop()
    with pytest.raises(ExchangeError) as info:
        verify_token(issuer.issue())
    assert info.value.code == "connection"


def test_issuer_without_discovery() -> None:
    with LoopbackServer() as server:
        issuer = OidcIssuer(issuer=f"{server.url}/v1/clusters/none")
        with pytest.raises(ExchangeError, match="HTTP 404"):
            verify_token(issuer.issue())
