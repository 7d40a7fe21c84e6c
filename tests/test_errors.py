"""The error hierarchy, and no token content in any message, repr or log line the foundation produces."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
import time_machine
from conftest import assert_no_secrets

import cfke_auth
from cfke_auth import (
    CfkeAuthError,
    ConfigurationError,
    ExchangeError,
    Issued,
    RefreshingCredential,
    TokenError,
    TokenSource,
)
from cfke_auth.testing import OidcIssuer


def test_hierarchy() -> None:
    errors = [name for name in cfke_auth.__all__ if name.endswith("Error")]
    assert sorted(errors) == ["CfkeAuthError", "ConfigurationError", "ExchangeError", "TokenError"]
    assert issubclass(ExchangeError, CfkeAuthError)
    assert issubclass(TokenError, CfkeAuthError)
    assert issubclass(ConfigurationError, CfkeAuthError)
    assert issubclass(ConfigurationError, ValueError)  # what Python code catches for a bad argument


def _errors() -> list[CfkeAuthError]:
    """One of every error class a caller can meet, the SDK-native ones included."""
    from cfke_auth.aws.credentials import sdk_error as aws
    from cfke_auth.azure.credentials import sdk_error as azure
    from cfke_auth.gcp.credentials import sdk_error as google

    plain: list[CfkeAuthError] = [
        ExchangeError("refused", provider="entra", code="AADSTS70021", hint="fix it", status=400, retry_after=3.0),
        TokenError("token file /x does not exist", path="/x", reason="not-found"),
        ConfigurationError("role_arn is required"),
    ]
    return plain + [convert(error) for convert in (aws, azure, google) for error in plain]


def _raise(error: CfkeAuthError) -> None:
    raise error


def test_every_error_survives_a_process_pool() -> None:
    """multiprocessing pickles an error raised in a worker; an error that cannot be rebuilt hangs ``Pool`` forever
    and breaks ``ProcessPoolExecutor``."""
    from concurrent.futures import ProcessPoolExecutor

    errors = _errors()
    with ProcessPoolExecutor(max_workers=1) as pool:
        for error in errors:
            with pytest.raises(type(error)) as info:
                pool.submit(_raise, error).result(timeout=30)
            assert str(info.value) == str(error)
            assert {k: v for k, v in vars(info.value).items() if not k.startswith("exc_")} == {
                k: v for k, v in vars(error).items() if not k.startswith("exc_")
            }


def test_sdk_native_errors_are_both_kinds() -> None:
    from azure.core.exceptions import ClientAuthenticationError
    from botocore.exceptions import BotoCoreError
    from google.auth.exceptions import RefreshError

    for error in _errors()[3:]:
        assert isinstance(error, (BotoCoreError, ClientAuthenticationError, RefreshError))
        assert isinstance(error, CfkeAuthError)
    google_exchange = _errors()[-3]
    assert isinstance(google_exchange, RefreshError) and isinstance(google_exchange, ExchangeError)
    assert google_exchange.retryable is False and google_exchange.code == "AADSTS70021"
    azure_token = _errors()[7]
    assert isinstance(azure_token, ClientAuthenticationError) and isinstance(azure_token, TokenError)
    assert azure_token.reason == "not-found"  # the TokenError's field, not an HTTP reason phrase


def test_exchange_error_text() -> None:
    error = ExchangeError("refused", provider="aws-sts", code="AccessDenied", hint="check the trust policy", status=403)
    assert str(error) == "aws-sts: AccessDenied: refused\nhint: check the trust policy"
    assert repr(error) == "ExchangeError(provider='aws-sts', code='AccessDenied', status=403, retryable=False)"


def test_no_token_content_in_any_token_error(
    cfke_issuer: OidcIssuer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    good = cfke_issuer.issue()
    expired = cfke_issuer.issue(issued_at=1_600_000_000, lifetime=600)
    no_sub = cfke_issuer.issue(extra_claims={"sub": None})
    header, payload, signature = good.split(".")
    contents = [expired, no_sub, f"{header}.{payload}", f"{header}.!!{payload}.{signature}", f"  {signature}  \n"]
    seen = []
    for i, content in enumerate(contents):
        path = tmp_path / f"t{i}"
        path.write_text(content)
        source = TokenSource(path)
        with pytest.raises(TokenError) as info:
            source.token()
        seen += [str(info.value), repr(info.value), repr(source)]
    assert_no_secrets([expired, no_sub, signature, payload], *seen, caplog.text)


def test_engine_logs_name_the_failure_not_the_value(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "AKIA-SECRET-VALUE-0123456789"
    outcomes: list[BaseException | Issued[str]] = [
        Issued(secret, time.time() + 3600),
        ExchangeError("refused", provider="fake", code="Throttling", retryable=True),
        RuntimeError(f"unexpected {secret}"),
    ]

    def fetch() -> Issued[str]:
        outcome = outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    cred = RefreshingCredential(fetch, name="fake")
    with time_machine.travel(time.time(), tick=False) as clock:
        assert cred.get() == secret
        clock.shift(3000)
        assert cred.get() == secret  # refresh failed: served anyway
        assert cred.settle()
        clock.shift(120)
        assert cred.get() == secret  # failed again, with an exception that carries the secret: not logged
        assert cred.settle()
    assert "Throttling" in caplog.text and "RuntimeError" in caplog.text
    assert_no_secrets([secret], caplog.text, repr(cred))
