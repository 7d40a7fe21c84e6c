"""get_azure_credential / get_azure_credential_async against the loopback Entra ID endpoint."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time

import pytest
import time_machine
from azure.core.credentials import AccessToken, AccessTokenInfo

import cfke_auth
from cfke_auth.testing.entra import FakeEntra
from cfke_auth.testing.plugin import ENTRA_CLIENT_ID, ENTRA_TENANT_ID
from cfke_auth.testing.token_file import TokenFile

STORAGE = "https://storage.azure.com/.default"
VAULT = "https://vault.azure.net/.default"


def test_get_token_sends_every_field_and_returns_the_access_token(cfke_entra: FakeEntra, cfke_token_file: TokenFile):
    credential = cfke_auth.get_azure_credential()
    before = time.time()
    token = credential.get_token(STORAGE)
    assert isinstance(token, AccessToken)
    assert token.token == cfke_entra.issued[0]
    assert before + 3600 - 1 <= token.expires_on <= time.time() + 3600
    [request] = cfke_entra.token_requests()
    assert request.path == f"/{ENTRA_TENANT_ID}/oauth2/v2.0/token"
    assert request.form() == {
        "grant_type": "client_credentials",
        "client_id": ENTRA_CLIENT_ID,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": cfke_token_file.token,
        "scope": STORAGE,
    }


def test_tokens_are_cached_per_scope_set(cfke_entra: FakeEntra):
    credential = cfke_auth.get_azure_credential()
    first = credential.get_token(STORAGE)
    assert credential.get_token(STORAGE) is first
    assert credential.get_token_info(STORAGE).token == first.token
    vault = credential.get_token(VAULT)
    assert vault.token != first.token
    assert len(cfke_entra.token_requests()) == 2


def test_the_factory_shares_one_credential_per_settings(cfke_entra: FakeEntra):
    assert cfke_auth.get_azure_credential() is cfke_auth.get_azure_credential(ENTRA_TENANT_ID, ENTRA_CLIENT_ID)
    assert cfke_auth.get_azure_credential_async() is cfke_auth.get_azure_credential_async(
        ENTRA_TENANT_ID, ENTRA_CLIENT_ID
    )
    assert cfke_auth.get_azure_credential() is not cfke_auth.get_azure_credential(ENTRA_TENANT_ID, "other-client")


def test_get_token_info_carries_refresh_on(cfke_entra: FakeEntra):
    cfke_entra.refresh_in = 1800
    info = cfke_auth.get_azure_credential().get_token_info(STORAGE)
    assert isinstance(info, AccessTokenInfo)
    assert info.token_type == "Bearer"
    assert info.refresh_on is not None
    assert info.expires_on - info.refresh_on == 1800


def test_claims_challenge_bypasses_the_cache(cfke_entra: FakeEntra):
    credential = cfke_auth.get_azure_credential()
    cached = credential.get_token(STORAGE)
    claims = '{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}'
    fresh = credential.get_token(STORAGE, claims=claims)
    assert fresh.token != cached.token
    assert cfke_entra.token_requests()[-1].form()["claims"] == claims
    again = credential.get_token(STORAGE)  # the challenged token was dropped: the next plain call exchanges too
    assert again.token not in (cached.token, fresh.token)
    assert len(cfke_entra.token_requests()) == 3


def test_a_failed_claims_challenge_keeps_the_cached_token(cfke_entra: FakeEntra):
    credential = cfke_auth.get_azure_credential()
    cached = credential.get_token(STORAGE)
    with cfke_entra.outage(503), pytest.raises(cfke_auth.ExchangeError):
        credential.get_token(STORAGE, claims='{"access_token":{"nbf":{"essential":true,"value":"1"}}}')
    with cfke_entra.outage(503):
        assert credential.get_token(STORAGE).token == cached.token  # still served while Entra is down


def test_claims_through_get_token_info_options(cfke_entra: FakeEntra):
    credential = cfke_auth.get_azure_credential()
    credential.get_token_info(STORAGE, options={"claims": '{"id_token":{}}'})
    assert cfke_entra.token_requests()[-1].form()["claims"] == '{"id_token":{}}'


def test_enable_cae_declares_the_capability_and_is_cached_apart(cfke_entra: FakeEntra):
    credential = cfke_auth.get_azure_credential()
    plain = credential.get_token(STORAGE)
    cae = credential.get_token(STORAGE, enable_cae=True)
    assert cae.token != plain.token
    assert credential.get_token_info(STORAGE, options={"enable_cae": True}).token == cae.token
    forms = [r.form() for r in cfke_entra.token_requests()]
    assert "claims" not in forms[0]
    assert forms[1]["claims"] == '{"access_token":{"xms_cc":{"values":["CP1"]}}}'
    assert len(forms) == 2


def test_another_tenant_is_asked_at_its_own_path(cfke_entra: FakeEntra, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AZURE_ADDITIONALLY_ALLOWED_TENANTS", "first.example, other-tenant.onmicrosoft.com")
    credential = cfke_auth.get_azure_credential()
    cfke_entra.serve_tenant("other-tenant.onmicrosoft.com")
    token = credential.get_token(STORAGE, tenant_id="other-tenant.onmicrosoft.com")
    assert token.token == cfke_entra.issued[-1]
    assert cfke_entra.token_requests()[-1].path == "/other-tenant.onmicrosoft.com/oauth2/v2.0/token"


def test_bad_tenant_and_missing_scopes_are_value_errors(cfke_entra: FakeEntra, monkeypatch: pytest.MonkeyPatch):
    with pytest.raises(ValueError, match="not the credential's tenant"):
        cfke_auth.get_azure_credential().get_token(STORAGE, tenant_id="chosen-by-a-challenge.example")
    monkeypatch.setenv("AZURE_ADDITIONALLY_ALLOWED_TENANTS", "*")
    credential = cfke_auth.get_azure_credential()
    with pytest.raises(ValueError, match="at least one scope"):
        credential.get_token()
    with pytest.raises(ValueError, match="neither a GUID nor a domain"):
        credential.get_token(STORAGE, tenant_id="../evil")
    assert cfke_entra.token_requests() == []


def test_context_manager_and_close(cfke_entra: FakeEntra):
    with cfke_auth.get_azure_credential() as credential:
        credential.get_token(STORAGE)
    credential.close()
    assert credential.get_token(STORAGE).token == cfke_entra.issued[0]  # shared: closing does not break others


def test_rotation_sends_the_new_token(cfke_entra: FakeEntra, cfke_token_file: TokenFile):
    credential = cfke_auth.get_azure_credential()
    credential.get_token(STORAGE)
    first_assertion = cfke_token_file.token
    with time_machine.travel(time.time() + 2900, tick=False):  # past 75-80 % of the access token's hour
        new = cfke_token_file.rotate()
        credential.get_token(STORAGE)
        assert credential.refreshing(STORAGE).settle()
    assertions = [r.form()["client_assertion"] for r in cfke_entra.token_requests()]
    assert assertions == [first_assertion, new]


def test_time_travel_refreshes_ahead_of_expiry_and_serves_until_then(cfke_entra: FakeEntra, cfke_token_file: TokenFile):
    credential = cfke_auth.get_azure_credential()
    start = time.time()
    first = credential.get_token(STORAGE)
    with time_machine.travel(start + 2000, tick=False):  # 55 %: still the cached token
        cfke_token_file.rotate()
        assert credential.get_token(STORAGE) is first
    with time_machine.travel(start + 3000, tick=False):  # 83 %: refreshed ahead of expiry, in the background
        assert credential.get_token(STORAGE) is first
        assert credential.refreshing(STORAGE).settle()
        second = credential.get_token(STORAGE)
        assert second.token != first.token
        assert second.expires_on >= start + 3000 + 3600 - 1
    assert len(cfke_entra.token_requests()) == 2


def test_refresh_in_is_honoured(cfke_entra: FakeEntra):
    cfke_entra.refresh_in = 600
    credential = cfke_auth.get_azure_credential()
    start = time.time()
    first = credential.get_token(STORAGE)
    with time_machine.travel(start + 700, tick=False):  # far before 75 % of the hour, after refresh_in
        credential.get_token(STORAGE)
        assert credential.refreshing(STORAGE).settle()
        assert credential.get_token(STORAGE).token != first.token
    assert len(cfke_entra.token_requests()) == 2


def test_64_threads_on_a_cold_credential_make_one_request(cfke_entra: FakeEntra):
    credential = cfke_auth.get_azure_credential()
    barrier = threading.Barrier(64)
    results: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        barrier.wait()
        try:
            results.append(credential.get_token(STORAGE).token)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(cfke_entra.token_requests()) == 1
    assert set(results) == {cfke_entra.issued[0]}


def test_outage_while_valid_serves_the_cached_token(cfke_entra: FakeEntra):
    credential = cfke_auth.get_azure_credential()
    start = time.time()
    first = credential.get_token(STORAGE)
    failures = 0
    with cfke_entra.server.outage(503):
        for step in range(60):  # 2800-3390 s into the hour, 10 s apart: refresh attempts fail, callers don't
            with time_machine.travel(start + 2800 + step * 10, tick=False):
                try:
                    assert credential.get_token(STORAGE).token == first.token
                except cfke_auth.ExchangeError:
                    failures += 1
                assert credential.refreshing(STORAGE).settle()
    assert failures == 0
    # A call makes an attempt once the backoff is over: the first at the call at or after the refresh point (75-80 %
    # of the hour: 2800-2890 s), then after 1, 2, 4, 8, 16, 32, 60, 60... s times a 0.5-1 jitter, at the next call.
    # Shortest waits: 2800, 2810, ..., 2850, 2870, then every 30 s to 3380 = 24 attempts. Longest: 2890, 2900, 2910,
    # 2920, 2930, 2950, 2990, then every 60 s to 3350 = 13. Retrying on every call would be 60.
    attempts = len(cfke_entra.token_requests()) - 1
    assert 13 <= attempts <= 24
    with time_machine.travel(start + 3500, tick=False):
        credential.get_token(STORAGE)
        assert credential.refreshing(STORAGE).settle()
        assert credential.get_token(STORAGE).token != first.token  # the endpoint is back: refreshed


def test_outage_with_nothing_valid_raises_retryable_error(cfke_entra: FakeEntra):
    credential = cfke_auth.get_azure_credential()
    with cfke_entra.server.outage(503), pytest.raises(cfke_auth.ExchangeError) as caught:
        credential.get_token(STORAGE)
    assert caught.value.code == "http-503"
    assert caught.value.retryable


# -- async ------------------------------------------------------------------------------------------------------


async def test_async_get_token_and_info(cfke_entra: FakeEntra, cfke_token_file: TokenFile):
    async with cfke_auth.get_azure_credential_async() as credential:
        token = await credential.get_token(STORAGE)
        info = await credential.get_token_info(STORAGE)
    assert token.token == info.token == cfke_entra.issued[0]
    assert cfke_entra.token_requests()[0].form()["client_assertion"] == cfke_token_file.token
    await credential.close()


async def test_async_claims_challenge_bypasses_the_cache(cfke_entra: FakeEntra):
    credential = cfke_auth.get_azure_credential_async()
    cached = await credential.get_token(STORAGE)
    fresh = await credential.get_token_info(STORAGE, options={"claims": '{"access_token":{}}'})
    assert fresh.token != cached.token
    assert cfke_entra.token_requests()[-1].form()["claims"] == '{"access_token":{}}'


async def test_200_tasks_on_a_cold_credential_make_one_request(cfke_entra: FakeEntra):
    credential = cfke_auth.get_azure_credential_async()
    tokens = await asyncio.gather(*(credential.get_token(STORAGE) for _ in range(200)))
    assert {t.token for t in tokens} == {cfke_entra.issued[0]}
    assert len(cfke_entra.token_requests()) == 1


async def test_sync_and_async_share_tokens(cfke_entra: FakeEntra):
    token = await cfke_auth.get_azure_credential_async().get_token(STORAGE)
    assert await asyncio.to_thread(lambda: cfke_auth.get_azure_credential().get_token(STORAGE).token) == token.token
    assert len(cfke_entra.token_requests()) == 1


async def test_async_outage_while_valid(cfke_entra: FakeEntra):
    credential = cfke_auth.get_azure_credential_async()
    start = time.time()
    first = await credential.get_token(STORAGE)
    with cfke_entra.server.outage(503):
        for step in range(20):  # 2800-3370 s into the hour, 30 s apart
            with time_machine.travel(start + 2800 + step * 30, tick=False):
                assert (await credential.get_token(STORAGE)).token == first.token
                assert await credential.refreshing(STORAGE).asettle()
    # The sync test's schedule with calls 30 s apart (a 0.5x jitter, which would shorten a 60 s wait to exactly 30 s,
    # needs random() to return exactly 0.0). Shortest waits: 2800, 2830, ..., 2950, 2980, then every 60 s to 3340 = 13
    # attempts. Longest: 2890, 2920, ..., 3040, 3100, then every 60 s to 3340 = 11. Retrying on every call would be 20.
    attempts = len(cfke_entra.token_requests()) - 1
    assert 11 <= attempts <= 13


def test_cae_is_merged_into_a_claims_challenge(cfke_entra: FakeEntra):
    credential = cfke_auth.get_azure_credential()
    credential.get_token(STORAGE, claims='{"access_token":{"nbf":{"essential":true}}}', enable_cae=True)
    sent = json.loads(cfke_entra.token_requests()[-1].form()["claims"])
    assert sent == {"access_token": {"nbf": {"essential": True}, "xms_cc": {"values": ["CP1"]}}}


def test_a_forked_child_exchanges_on_its_own(cfke_entra: FakeEntra):
    credential = cfke_auth.get_azure_credential()
    parent = credential.get_token(STORAGE).token
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its locks are fresh and its token the inherited one
        ok = False
        try:
            os.close(read)
            ok = credential.get_token(VAULT).token != parent and credential.get_token(STORAGE).token == parent
        finally:  # whatever happens, the child never returns into pytest
            os.write(write, b"1" if ok else b"0")
            os._exit(0)
    os.close(write)
    assert os.read(read, 1) == b"1"
    os.waitpid(pid, 0)
    assert len(cfke_entra.token_requests()) == 2


def test_azure_core_is_imported_only_when_a_credential_is_built():
    code = (
        "import sys, cfke_auth; assert 'httpx' not in sys.modules; f = cfke_auth.get_azure_credential; "
        "assert 'azure' not in sys.modules, 'azure-core imported by the attribute'; "
        "f('t', 'c', token_path='/nonexistent', authority_host='https://login.example.com'); "
        "assert 'azure.core' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_credentials_pickle_as_their_settings(cfke_entra: FakeEntra):
    import pickle

    credential = cfke_auth.get_azure_credential()
    token = credential.get_token(STORAGE)
    data = pickle.dumps(credential)
    assert token.token.encode() not in data
    assert pickle.loads(data).get_token(STORAGE).token == token.token
    with pytest.raises(TypeError, match="not pickled"):
        pickle.dumps(token)
