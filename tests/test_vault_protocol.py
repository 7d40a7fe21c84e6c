"""The Vault JWT login and renew-self without a server: requests built, bare answers parsed, every refusal OpenBao
was measured to send (its exact sentences) mapped to a code and a hint naming what the role must hold, the flow's
choice between renewing and logging in, and the settings read from VAULT_* variables."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import assert_no_secrets

from cfke_auth import ConfigurationError, ExchangeError, HttpOptions, Issued, TokenSource
from cfke_auth._flow import SUBJECT_TOKEN
from cfke_auth._protocol import Context
from cfke_auth.testing import OidcIssuer, TokenFile
from cfke_auth.vault.protocol import (
    VaultSession,
    VaultToken,
    build_login_request,
    build_renew_request,
    parse_login,
    parse_renewal,
    vault_flow,
)
from cfke_auth.vault.settings import VaultSettings, resolve

pytestmark = pytest.mark.cfke_token(namespace="shop", service_account="api", audience="vault")

NOW = 1_800_000_000.0
SUBJECT = "system:serviceaccount:shop:api"
CLIENT_TOKEN = "s.Xs6OaQ9Rxp6aMcTcfxx4NOUS"


@pytest.fixture
def settings(cfke_token_file: TokenFile) -> VaultSettings:
    return VaultSettings("https://vault.example:8200", "app", TokenSource(cfke_token_file.path), namespace="team-a")


@pytest.fixture
def context(settings: VaultSettings, cfke_token_file: TokenFile) -> Context[VaultSettings]:
    assert cfke_token_file.token
    return Context.of(settings, settings.login_url, cfke_token_file.token)


def _auth(**fields: Any) -> dict[str, Any]:
    """A login/renewal answer as OpenBao 2.7 sends it: the top-level lease is the secret's (none), not the token's."""
    auth = {
        "client_token": CLIENT_TOKEN,
        "accessor": "v0GOHYyjCQQ8NoWgSuQOhMEm",
        "policies": ["app", "default"],
        "token_policies": ["app", "default"],
        "metadata": {"role": "app"},
        "lease_duration": 60,
        "renewable": True,
        "token_type": "service",
        "orphan": True,
        **fields,
    }
    return {"request_id": "r", "lease_id": "", "renewable": False, "lease_duration": 0, "data": None, "auth": auth}


def _errors(status: int, *errors: str) -> httpx.Response:
    return httpx.Response(status, json={"errors": list(errors)})


def _token(lease: float = 60, ttl: float = 60, renewable: bool = True, expires_at: float = NOW + 60) -> VaultToken:
    return VaultToken(
        CLIENT_TOKEN, expires_at=expires_at, lease_duration=lease, ttl=ttl, renewable=renewable, token_type="service"
    )


# -- requests --------------------------------------------------------------------------------------------------


def test_login_request_posts_role_and_token_with_the_namespace(settings: VaultSettings) -> None:
    request = build_login_request(settings, "the.pod.jwt")
    assert (request.method, str(request.url)) == ("POST", "https://vault.example:8200/v1/auth/jwt/login")
    assert json.loads(request.content) == {"role": "app", "jwt": "the.pod.jwt"}
    assert request.headers["x-vault-namespace"] == "team-a"
    assert request.headers["x-vault-request"] == "true"
    assert "x-vault-token" not in request.headers


def test_renew_request_carries_the_token_and_no_increment(settings: VaultSettings) -> None:
    request = build_renew_request(settings, CLIENT_TOKEN)
    assert (request.method, str(request.url)) == ("POST", "https://vault.example:8200/v1/auth/token/renew-self")
    assert json.loads(request.content) == {}
    assert request.headers["x-vault-token"] == CLIENT_TOKEN
    assert request.headers["x-vault-namespace"] == "team-a"


# -- answers ---------------------------------------------------------------------------------------------------


def test_login_answer_reads_auth_not_the_secret_lease(context: Context[VaultSettings]) -> None:
    issued = parse_login(httpx.Response(200, json=_auth()), context, now=NOW)
    token = issued.value
    assert issued.expires_at == token.expires_at == NOW + 60
    assert (token.token, token.lease_duration, token.ttl, token.renewable) == (CLIENT_TOKEN, 60, 60, True)
    assert token.policies == ("app", "default")
    assert token.can_renew(NOW + 45)


def test_token_repr_hides_it_and_it_does_not_pickle() -> None:
    token = _token()
    assert CLIENT_TOKEN not in repr(token)
    assert "v0GOHYyjCQQ8NoWgSuQOhMEm" not in repr(token)  # the accessor was not given: it is empty here
    with pytest.raises(TypeError, match="not pickled"):
        pickle.dumps(token)


@pytest.mark.parametrize(
    "body",
    [
        {"data": {"a": 1}},  # no auth: a secret read, not a login
        _auth(lease_duration=0),  # a token without TTL (a root token)
        _auth(client_token=""),
        _auth(lease_duration="60"),
    ],
)
def test_a_login_answer_without_a_usable_token_is_malformed(context: Context[VaultSettings], body: Any) -> None:
    with pytest.raises(ExchangeError) as info:
        parse_login(httpx.Response(200, json=body), context, now=NOW)
    assert (info.value.code, info.value.retryable) == ("malformed-response", True)


def test_a_renewal_keeps_the_login_ttl_and_a_capped_one_stops_renewing(context: Context[VaultSettings]) -> None:
    previous = _token()
    full = parse_renewal(httpx.Response(200, json=_auth()), context, now=NOW + 45, previous=previous)
    assert full is not None and full.value.can_renew(NOW + 90)
    assert full.expires_at == NOW + 105
    capped_answer = _auth(lease_duration=14)  # "TTL of 1m exceeded the effective max_ttl of 14s"
    capped = parse_renewal(httpx.Response(200, json=capped_answer), context, now=NOW + 106, previous=full.value)
    assert capped is not None and (capped.value.lease_duration, capped.value.ttl) == (14, 60)
    assert not capped.value.can_renew(NOW + 110)


@pytest.mark.parametrize(
    "response",
    [
        _errors(403, "permission denied"),  # expired, revoked: as for a bogus token
        _errors(400, "batch tokens cannot be renewed"),
        httpx.Response(200, json=_auth(lease_duration=0)),  # nothing left of the maximum TTL
    ],
)
def test_a_renewal_that_cannot_keep_the_token_asks_for_a_login(
    context: Context[VaultSettings], response: httpx.Response
) -> None:
    assert parse_renewal(response, context, now=NOW, previous=_token()) is None


def test_a_failing_server_during_renewal_is_a_retryable_error(context: Context[VaultSettings]) -> None:
    with pytest.raises(ExchangeError) as info:
        parse_renewal(_errors(503, "Vault is sealed"), context, now=NOW, previous=_token())
    assert (info.value.code, info.value.retryable) == ("sealed", True)


def test_tokens_that_cannot_be_renewed() -> None:
    assert not _token(renewable=False).can_renew(NOW)  # batch tokens
    assert not _token(expires_at=NOW).can_renew(NOW)
    assert not _token(lease=30, ttl=60).can_renew(NOW)  # capped by the maximum TTL


# -- refusals --------------------------------------------------------------------------------------------------

ISSUER_KEYS_GONE = (
    "error validating token: error verifying token signature: fetching keys oidc: get keys failed: 404 Not Found"
)


@pytest.mark.parametrize(
    ("status", "sentence", "code", "retryable", "hint_has"),
    [
        (400, "error validating token: invalid subject (sub) claim", "invalid-subject", False,
         [f"bound_subject={SUBJECT}", "role 'app'", "role_type=jwt"]),
        (400, "error validating token: invalid audience (aud) claim: audience claim does not match any expected "
         "audience", "invalid-audience", False, ["bound_audiences", "aud [vault]"]),
        (400, "audience claim found in JWT but no audiences bound to the role", "no-bound-audiences", False,
         ["bound_audiences"]),
        (400, "error validating token: invalid issuer (iss) claim", "invalid-issuer", False,
         ["bound_issuer=http://127.0.0.1", "write -namespace=team-a auth/jwt/config"]),
        (400, "error validating token: invalid expiration time (exp) claim: token is expired", "token-expired", True,
         ["re-read", "clock_skew_leeway"]),
        (400, "error validating token: invalid not before (nbf) claim: token not yet valid", "token-not-yet-valid",
         True, ["clock"]),
        (400, "error validating token: error verifying token signature: failed to verify id token signature",
         "invalid-signature", False, ["oidc_discovery_url=http://127.0.0.1", "/openid/v1/jwks"]),
        (400, ISSUER_KEYS_GONE, "keys-unreachable", True, ["must reach", "/.well-known/openid-configuration"]),
        (400, "error validating token: error verifying token signature: oidc: malformed jwt: go-jose/go-jose: "
         "compact JWS format must have three parts", "malformed-token", False, ["token_path"]),
        (400, 'role "app" could not be found', "role-not-found", False,
         [f"vault write -namespace=team-a auth/jwt/role/app role_type=jwt user_claim=sub bound_subject={SUBJECT} "
          "bound_audiences=vault token_policies=POLICY"]),
        (400, "role with oidc role_type is not allowed", "not-a-jwt-role", False, ["role_type=jwt"]),
        (400, 'claim "email" not found in token', "missing-claim", False, ["user_claim=sub"]),
        (400, 'error validating claims: claim "/kubernetes.io/namespace" does not match any associated bound claim '
         "values", "bound-claims", False, ["bound_claims", "cfke-auth token"]),
        (400, "could not load configuration", "not-configured", False, ["write -namespace=team-a auth/jwt/config"]),
        (403, "permission denied", "permission-denied", False,
         ["auth/jwt in namespace team-a", "vault auth enable -namespace=team-a -path=jwt jwt"]),
        (404, "namespace not found", "namespace-not-found", False, ["'team-a'", "VAULT_NAMESPACE"]),
        (503, "Vault is sealed", "sealed", True, ["unsealed"]),
        (500, "internal error", "http-500", True, []),
        (400, "something new", "http-400", False, []),
    ],
)  # fmt: skip
def test_refusals_become_codes_with_what_the_role_must_hold(
    context: Context[VaultSettings],
    status: int,
    sentence: str,
    code: str,
    retryable: bool,
    hint_has: list[str],
) -> None:
    with pytest.raises(ExchangeError) as info:
        parse_login(_errors(status, sentence), context, now=NOW)
    exc = info.value
    assert (exc.provider, exc.code, exc.status, exc.retryable) == ("vault", code, status, retryable)
    assert exc.message == sentence
    assert exc.stale_token == (code == "token-expired")
    for text in hint_has:
        assert text in (exc.hint or "")
    pickle.loads(pickle.dumps(exc))


def test_the_default_token_refused_for_its_audience_is_told_to_use_a_projected_one(
    settings: VaultSettings, cfke_issuer: OidcIssuer
) -> None:
    default_token = cfke_issuer.issue(namespace="shop", service_account="api", extended=True)
    context = Context.of(settings, settings.login_url, default_token)
    sentence = "error validating token: invalid audience (aud) claim: audience claim does not match any expected"
    with pytest.raises(ExchangeError) as info:
        parse_login(_errors(400, sentence), context, now=NOW)
    assert f"aud [{cfke_issuer.issuer}]" in (info.value.hint or "")
    assert "projected serviceAccountToken with audience: vault" in (info.value.hint or "")


def test_a_refusal_echoing_the_token_is_redacted(context: Context[VaultSettings], cfke_token_file: TokenFile) -> None:
    jwt = cfke_token_file.token
    assert jwt
    with pytest.raises(ExchangeError) as info:
        parse_login(_errors(400, f"cannot use {jwt}: invalid subject (sub) claim"), context, now=NOW)
    assert info.value.code == "invalid-subject"
    assert_no_secrets([jwt], str(info.value), repr(info.value), pickle.dumps(info.value).decode("latin-1"))


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(502, text="<html>bad gateway</html>", headers={"content-type": "text/html"}),
        httpx.Response(400, json={"error": "not vault"}),
        httpx.Response(429, json={"errors": []}, headers={"retry-after": "7"}),
    ],
)
def test_an_answer_that_is_not_vaults_is_described_not_echoed(
    context: Context[VaultSettings], response: httpx.Response
) -> None:
    with pytest.raises(ExchangeError) as info:
        parse_login(response, context, now=NOW)
    exc = info.value
    assert exc.code == "unexpected-response"
    assert exc.retryable == (response.status_code >= 429)
    assert "bad gateway" not in str(exc) and "not vault" not in str(exc)
    assert "VAULT_ADDR" in (exc.hint or "")
    if response.status_code == 429:
        assert exc.retry_after == 7


def test_a_token_file_that_is_no_jwt_still_gets_hints(settings: VaultSettings) -> None:
    context = Context.of(settings, settings.login_url, "not-a-jwt")
    with pytest.raises(ExchangeError) as info:
        parse_login(_errors(400, 'role "app" could not be found'), context, now=NOW)
    assert "system:serviceaccount:NAMESPACE:SERVICE_ACCOUNT" in (info.value.hint or "")


# -- the flow: renew while that extends the token, else log in ---------------------------------------------------


def _drive(flow: Any, replies: list[httpx.Response], jwt: str) -> tuple[Issued[VaultToken], list[httpx.Request]]:
    """Run ``flow`` by hand: the subject token for SUBJECT_TOKEN, the next canned reply for each request."""
    sent: list[httpx.Request] = []
    reply: Any = None
    while True:
        try:
            step = flow.send(reply)
        except StopIteration as done:
            return done.value, sent
        if step is SUBJECT_TOKEN:
            reply = jwt
        else:
            sent.append(step)
            reply = replies.pop(0)


def test_the_flow_logs_in_then_renews_then_logs_in_when_renewal_stops_helping(
    settings: VaultSettings, cfke_token_file: TokenFile
) -> None:
    jwt = cfke_token_file.token or ""
    session = VaultSession()
    first, sent = _drive(vault_flow(settings, session), [httpx.Response(200, json=_auth())], jwt)
    assert [r.url.path for r in sent] == ["/v1/auth/jwt/login"]
    assert session.token is first.value

    renewed, sent = _drive(vault_flow(settings, session), [httpx.Response(200, json=_auth(lease_duration=20))], jwt)
    assert [r.url.path for r in sent] == ["/v1/auth/token/renew-self"]
    assert renewed.value.token == first.value.token and not renewed.value.can_renew(0)

    fresh_answer = _auth(client_token="s.fresh")
    fresh, sent = _drive(vault_flow(settings, session), [httpx.Response(200, json=fresh_answer)], jwt)
    assert [r.url.path for r in sent] == ["/v1/auth/jwt/login"]
    assert fresh.value.token == "s.fresh"


def test_the_flow_logs_in_when_the_held_token_was_revoked(settings: VaultSettings, cfke_token_file: TokenFile) -> None:
    session = VaultSession()
    session.token = _token(expires_at=2**40)
    replies = [_errors(403, "permission denied"), httpx.Response(200, json=_auth(client_token="s.new"))]
    issued, sent = _drive(vault_flow(settings, session), replies, cfke_token_file.token or "")
    assert [r.url.path for r in sent] == ["/v1/auth/token/renew-self", "/v1/auth/jwt/login"]
    assert issued.value.token == session.token.token == "s.new"


# -- settings ----------------------------------------------------------------------------------------------------


@pytest.fixture
def vault_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("VAULT_ADDR", "VAULT_NAMESPACE", "VAULT_CACERT"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_settings_come_from_the_vault_variables(
    vault_env: pytest.MonkeyPatch, cfke_token_file: TokenFile, tmp_path: Path
) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    vault_env.setenv("VAULT_ADDR", "https://vault.example:8200/")
    vault_env.setenv("VAULT_NAMESPACE", "/team-a/app/")
    vault_env.setenv("VAULT_CACERT", str(ca))
    settings = resolve("app", mount="/kubernetes/prod/")
    assert (settings.url, settings.namespace, settings.mount) == (
        "https://vault.example:8200",
        "team-a/app",
        "kubernetes/prod",
    )
    assert settings.login_url == "https://vault.example:8200/v1/auth/kubernetes/prod/login"
    assert settings.ca_cert == str(ca) and settings.http == HttpOptions(verify=str(ca))
    assert resolve("app", http=HttpOptions(verify="/own/ca.pem")).ca_cert == "/own/ca.pem"  # an explicit one wins
    assert resolve("app", url="http://127.0.0.1:8200", namespace="other").namespace == "other"
    assert resolve("app") == resolve("app")  # hashable and equal: one shared credential


@pytest.mark.parametrize(
    ("arguments", "env", "message"),
    [
        ({}, {}, "pass it or set VAULT_ADDR"),
        ({"url": "http://vault.example:8200"}, {}, "not an https:// URL"),
        ({}, {"VAULT_ADDR": "http://vault.vault.svc:8200"}, "VAULT_ADDR"),
        ({"url": "https://vault.example?x=1"}, {}, "without a query"),
        ({"url": "https://vault.example", "role": "a b"}, {}, "not a valid Vault name"),
        ({"url": "https://vault.example", "role": ""}, {}, "not a valid Vault name"),
        ({"url": "https://vault.example", "mount": "../sys"}, {}, "not a Vault path"),
        ({"url": "https://vault.example", "mount": ""}, {}, "not a Vault path"),
        ({"url": "https://vault.example"}, {"VAULT_NAMESPACE": "team a"}, "not a Vault path"),
        ({"url": "https://vault.example", "namespace": "a\r\nX-Evil: 1"}, {}, "not a Vault path"),
        ({"url": "https://vault.example"}, {"VAULT_CACERT": "/nowhere/ca.pem"}, "VAULT_CACERT=/nowhere/ca.pem"),
    ],
)
def test_bad_settings_are_configuration_errors(
    vault_env: pytest.MonkeyPatch,
    cfke_token_file: TokenFile,
    arguments: dict[str, Any],
    env: dict[str, str],
    message: str,
) -> None:
    for name, value in env.items():
        vault_env.setenv(name, value)
    with pytest.raises(ConfigurationError, match=message):
        resolve(arguments.pop("role", "app"), **arguments)
