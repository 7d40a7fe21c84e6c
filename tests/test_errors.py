"""The error hierarchy, and no token content in any message, repr or log line the foundation produces."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
import time_machine
from conftest import assert_no_secrets

import cfke_auth
from cfke_auth import CfkeAuthError, ExchangeError, Issued, RefreshingCredential, TokenError, TokenSource
from cfke_auth.testing import OidcIssuer


def test_hierarchy() -> None:
    token_errors = [
        getattr(cfke_auth, name) for name in cfke_auth.__all__ if name.startswith("Token") and name.endswith("Error")
    ]
    assert len(token_errors) == 11
    assert all(issubclass(cls, TokenError) and issubclass(cls, CfkeAuthError) for cls in token_errors)
    assert issubclass(ExchangeError, CfkeAuthError)


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
        clock.shift(120)
        assert cred.get() == secret  # failed again, with an exception that carries the secret: not logged
    assert "Throttling" in caplog.text and "RuntimeError" in caplog.text
    assert_no_secrets([secret], caplog.text, repr(cred))
