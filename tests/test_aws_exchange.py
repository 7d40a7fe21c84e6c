"""The AssumeRoleWithWebIdentity exchange: the request sent, the answer parsed, and every STS error mapped to an
ExchangeError with an actionable hint. Errors come from a loopback server answering real STS ErrorResponse XML."""

from __future__ import annotations

import logging
import pickle

import httpx
import pytest

from cfke_auth import ExchangeError, TokenSource
from cfke_auth._protocol import Context
from cfke_auth.aws.protocol import StsCredentials, build_request, parse_response
from cfke_auth.aws.refresh import exchange_once, sts_credential
from cfke_auth.aws.settings import AwsSettings, resolve
from cfke_auth.testing import FakeSts, LoopbackServer, Reply, TokenFile
from cfke_auth.testing.aws import sts_error_xml, sts_success_xml

pytestmark = [pytest.mark.usefixtures("cfke_aws_env"), pytest.mark.cfke_token(audience="sts.amazonaws.com")]

ROLE = "arn:aws:iam::123456789012:role/app"


def _exchange(url: str, token_file: TokenFile, **params: object) -> StsCredentials:
    return exchange_once(resolve(ROLE, sts_endpoint_url=url, token_path=token_file.path, **params))  # type: ignore[arg-type]


def _engine_error(url: str, token_file: TokenFile, caplog: pytest.LogCaptureFixture) -> ExchangeError:
    """The error of a failing exchange run by the shared engine, which logs it (the bare flow logs nothing): checks
    that the warning was logged and that no log line, at any level, carries the token."""
    setup = resolve(ROLE, sts_endpoint_url=url, token_path=token_file.path)
    with caplog.at_level(logging.DEBUG), pytest.raises(ExchangeError) as info:
        sts_credential(setup).get()
    warnings = [r for r in caplog.records if r.name == "cfke_auth" and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "exchange failed" in warnings[0].getMessage()
    assert token_file.token
    assert token_file.token not in caplog.text
    return info.value


def test_request_is_an_unsigned_form_post(cfke_token_file: TokenFile) -> None:
    token = cfke_token_file.token
    assert token is not None
    settings = AwsSettings(ROLE, "https://sts.example", TokenSource(cfke_token_file.path), duration_seconds=1800)
    request = build_request(settings, token, "shop.api")
    assert request.method == "POST"
    assert str(request.url) == "https://sts.example/"
    assert "authorization" not in request.headers
    form = dict(httpx.QueryParams(request.content.decode()))
    assert form == {
        "Action": "AssumeRoleWithWebIdentity",
        "Version": "2011-06-15",
        "RoleArn": ROLE,
        "RoleSessionName": "shop.api",
        "WebIdentityToken": token,
        "DurationSeconds": "1800",
    }


def test_exchange_against_fake_sts(cfke_token_file: TokenFile, cfke_fake_sts: FakeSts) -> None:
    creds = _exchange(cfke_fake_sts.url, cfke_token_file)
    (call,) = cfke_fake_sts.calls
    form = call.form()
    assert form["WebIdentityToken"] == cfke_token_file.token
    assert form["RoleSessionName"] == "default.app-7d9f8-x2x4q"
    assert "DurationSeconds" not in form
    issued = cfke_fake_sts.issued[-1]
    assert creds.access_key_id == issued["access_key_id"]
    assert creds.secret_access_key == issued["secret_access_key"]
    assert creds.session_token == issued["session_token"]
    assert creds.assumed_role_arn == "arn:aws:sts::123456789012:assumed-role/app/default.app-7d9f8-x2x4q"
    assert creds.account_id == "123456789012"
    assert creds.subject == "system:serviceaccount:default:default"
    assert creds.audience == "sts.amazonaws.com"
    assert creds.provider is not None
    assert creds.provider.endswith("/v1/clusters/c0ffee00-0000-4000-8000-000000000001")


def test_explicit_session_name_and_duration_are_sent(cfke_token_file: TokenFile, cfke_fake_sts: FakeSts) -> None:
    creds = _exchange(cfke_fake_sts.url, cfke_token_file, session_name="batch-job", duration_seconds=7200)
    form = cfke_fake_sts.calls[-1].form()
    assert (form["RoleSessionName"], form["DurationSeconds"]) == ("batch-job", "7200")
    assert creds.assumed_role_arn is not None
    assert creds.assumed_role_arn.endswith("/batch-job")


def _response(body: str, status: int = 200, content_type: str = "text/xml") -> httpx.Response:
    """A bare answer, as parsers get it: no request attached."""
    return httpx.Response(status, content=body.encode(), headers={"Content-Type": content_type})


def _context(token: str) -> Context[AwsSettings]:
    settings = AwsSettings(ROLE, "https://sts.example", TokenSource())
    return Context.of(settings, "https://sts.example/", token)


def _success(stamp: str) -> str:
    return sts_success_xml(
        access_key_id="ASIAEXAMPLE",
        secret_access_key="secret",
        session_token="session",
        expires_at=0,
        role_arn=ROLE,
        session_name="s",
        subject="sub",
        audience="aud",
        provider="prov",
    ).replace("1970-01-01T00:00:00Z", stamp)


@pytest.mark.parametrize(
    ("stamp", "epoch"),
    [
        ("2030-01-01T00:00:00Z", 1893456000.0),
        ("2030-01-01T00:00:00.500Z", 1893456000.5),
        ("2030-01-01T02:00:00+02:00", 1893456000.0),
        ("2030-01-01T00:00:00", 1893456000.0),
    ],
)
def test_expiration_formats(cfke_token_file: TokenFile, stamp: str, epoch: float) -> None:
    token = cfke_token_file.token
    assert token is not None
    issued = parse_response(_response(_success(stamp)), _context(token), now=1893456000 - 3600)
    assert issued.value.expires_at == issued.expires_at == epoch


@pytest.mark.parametrize(
    "stamp",
    [
        "2030-02-30T00:00:00Z",  # a day that does not exist
        "0000-01-01T00:00:00Z",  # year 0
        "2030-01-01T00:00:00+99:00",  # an offset no zone has
        "\uff12\uff10\uff13\uff10-01-01T00:00:00Z",  # full-width digits
        "9999-12-31T23:59:59-23:59",  # past any credential's lifetime (and past what a datetime holds)
        "soon",
    ],
)
def test_an_expiration_that_is_no_instant_is_an_unexpected_response(stamp: str) -> None:
    with pytest.raises(ExchangeError) as info:
        parse_response(_response(_success(stamp)), _context("t.o.k"), now=1893456000)
    assert (info.value.code, "lacks credentials or a valid expiration" in info.value.message) == (
        "unexpected-response",
        True,
    )


def test_credentials_repr_hides_secrets_and_they_do_not_pickle() -> None:
    creds = StsCredentials(access_key_id="ASIAX", secret_access_key="SECRET-KEY", session_token="TOK", expires_at=0)
    assert "SECRET-KEY" not in repr(creds)
    assert "TOK" not in repr(creds)
    assert "ASIAX" in repr(creds)
    with pytest.raises(TypeError, match="not pickled"):
        pickle.dumps(creds)


ERRORS = [
    # code, status, retryable, words the hint must contain
    ("AccessDenied", 403, False, ["trust policy", ":aud", ":sub", "system:serviceaccount:default:default"]),
    ("InvalidIdentityToken", 400, False, ["OIDC identity provider", "client-id", "sts.amazonaws.com"]),
    ("IDPRejectedClaim", 403, False, ["rejected a claim", "sts.amazonaws.com"]),
    ("IDPCommunicationError", 400, True, ["/.well-known/openid-configuration", "reachable"]),
    ("Throttling", 400, True, ["rate-limiting"]),
    ("RegionDisabledException", 403, False, ["not activated in this region"]),
    ("ValidationError", 400, False, ["parameters"]),
    ("InternalFailure", 500, True, None),
    ("ServiceUnavailable", 503, True, None),
]


@pytest.mark.parametrize(("code", "status", "retryable", "hint_words"), ERRORS)
def test_sts_error_codes_become_typed_errors(
    cfke_token_file: TokenFile,
    cfke_fake_sts: FakeSts,
    caplog: pytest.LogCaptureFixture,
    code: str,
    status: int,
    retryable: bool,
    hint_words: list[str] | None,
) -> None:
    cfke_fake_sts.fail_with(code, f"STS says {code}", status)
    exc = _engine_error(cfke_fake_sts.url, cfke_token_file, caplog)
    assert (exc.provider, exc.code, exc.status, exc.retryable, exc.stale_token) == (
        "aws-sts",
        code,
        status,
        retryable,
        False,
    )
    assert exc.message == f"STS says {code}"
    for word in hint_words or []:
        assert exc.hint is not None
        assert word in exc.hint
    token = cfke_token_file.token
    assert token is not None
    assert token not in str(exc) + repr(exc)
    assert len(cfke_fake_sts.calls) == 1


def test_access_denied_hint_names_the_principal_and_condition_keys(
    cfke_token_file: TokenFile, cfke_fake_sts: FakeSts
) -> None:
    cfke_fake_sts.fail_with("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity", 403)
    with pytest.raises(ExchangeError) as info:
        _exchange(cfke_fake_sts.url, cfke_token_file)
    claims = TokenSource(cfke_token_file.path).claims()
    key = claims.issuer.partition("://")[2]
    assert info.value.hint is not None
    assert f"arn:aws:iam::123456789012:oidc-provider/{key}" in info.value.hint
    assert f'"{key}:aud" = one of [sts.amazonaws.com]' in info.value.hint
    assert f'"{key}:sub" = "{claims.subject}"' in info.value.hint


def test_expired_token_rereads_the_file_and_retries_once(cfke_token_file: TokenFile, cfke_fake_sts: FakeSts) -> None:
    first = cfke_token_file.token
    source = TokenSource(cfke_token_file.path)
    assert source.token() == first
    second = cfke_token_file.rotate()  # the cached token is now outdated: only a re-read sees the new one
    original = cfke_fake_sts.server.routes[("POST", "/")]

    def expire_old_token(request):  # type: ignore[no-untyped-def]
        if request.form()["WebIdentityToken"] == first:
            return Reply.text(sts_error_xml("ExpiredTokenException", "Token expired: current date/time"), 400)
        return original(request)

    cfke_fake_sts.server.routes[("POST", "/")] = expire_old_token
    creds = _exchange(cfke_fake_sts.url, cfke_token_file)
    assert [c.form()["WebIdentityToken"] for c in cfke_fake_sts.calls] == [first, second]
    assert creds.access_key_id == cfke_fake_sts.issued[-1]["access_key_id"]


def test_expired_token_twice_is_a_stale_token_error(cfke_token_file: TokenFile, cfke_fake_sts: FakeSts) -> None:
    cfke_fake_sts.fail_with("ExpiredTokenException", "Token expired")
    with pytest.raises(ExchangeError) as info:
        _exchange(cfke_fake_sts.url, cfke_token_file)
    assert (info.value.code, info.value.stale_token, info.value.retryable) == ("ExpiredTokenException", True, True)
    assert info.value.hint is not None
    assert "rotating" in info.value.hint
    assert len(cfke_fake_sts.calls) == 2


@pytest.mark.parametrize(
    ("status", "content_type", "body", "retryable", "said"),
    [
        (200, "text/html", "<html><body>proxy login TOKEN</body></html>", False, "HTTP 200"),
        (502, "text/html", "<html>Bad Gateway TOKEN</html>", True, "HTTP 502"),
        (403, "application/json", '{"message": "forbidden TOKEN"}', False, "HTTP 403"),
        (
            200,
            "text/xml",
            "<AssumeRoleWithWebIdentityResponse><Echo>TOKEN</Echo></AssumeRoleWithWebIdentityResponse>",
            False,
            "lacks credentials",
        ),
        (
            400,
            "text/xml",
            '<!DOCTYPE x [<!ENTITY a "Throttling">]><ErrorResponse><Error><Code>&a;</Code>'
            "<Message>TOKEN</Message></Error></ErrorResponse>",
            False,
            "is not an STS ErrorResponse",
        ),
    ],
)
def test_answer_that_is_not_sts_xml_is_described_not_echoed(
    cfke_token_file: TokenFile, status: int, content_type: str, body: str, retryable: bool, said: str
) -> None:
    token = cfke_token_file.token
    assert token is not None
    route = {("POST", "/"): lambda _: Reply.text(body.replace("TOKEN", token), status, content_type)}
    with LoopbackServer(route) as server, pytest.raises(ExchangeError) as info:
        _exchange(server.url, cfke_token_file)
    exc = info.value
    assert (exc.code, exc.status, exc.retryable) == ("unexpected-response", status, retryable)
    assert f"HTTP {status}" in exc.message
    assert said in exc.message
    assert content_type in exc.message
    assert token not in str(exc)
    assert "proxy login" not in str(exc)


def test_an_entity_hidden_in_utf16_is_not_parsed(cfke_token_file: TokenFile) -> None:
    body = (
        '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x [<!ENTITY a "Throttling">]>'
        "<ErrorResponse><Error><Code>&a;</Code></Error></ErrorResponse>"
    ).encode("utf-16")
    route = {("POST", "/"): lambda _: Reply(400, body, {"Content-Type": "text/xml"})}
    with LoopbackServer(route) as server, pytest.raises(ExchangeError) as info:
        _exchange(server.url, cfke_token_file)
    assert info.value.code == "unexpected-response"  # not the Throttling the entity would have expanded to


def test_sts_message_echoing_the_token_is_scrubbed(
    cfke_token_file: TokenFile, cfke_fake_sts: FakeSts, caplog: pytest.LogCaptureFixture
) -> None:
    token = cfke_token_file.token
    assert token is not None
    cfke_fake_sts.fail_with("InvalidIdentityToken", f"Couldn't parse token {token}")
    exc = _engine_error(cfke_fake_sts.url, cfke_token_file, caplog)
    assert token not in str(exc) + repr(exc)
    assert "<redacted>" in str(exc)
    assert "<redacted>" in caplog.text  # the scrubbed message is what the engine logged


def test_unreachable_verification_keys_are_transient(cfke_token_file: TokenFile, cfke_fake_sts: FakeSts) -> None:
    """STS could not fetch the issuer's JWKS: retried, as the other AWS SDKs retry it, with the IdP hint."""
    cfke_fake_sts.fail_with("InvalidIdentityToken", "Couldn't retrieve verification key from your identity provider")
    with pytest.raises(ExchangeError) as info:
        _exchange(cfke_fake_sts.url, cfke_token_file)
    assert (info.value.code, info.value.retryable) == ("InvalidIdentityToken", True)
    assert info.value.hint is not None
    assert "reachable" in info.value.hint


def test_throttling_honours_retry_after() -> None:
    response = httpx.Response(
        400, content=sts_error_xml("Throttling", "Rate exceeded").encode(), headers={"Retry-After": "17"}
    )
    with pytest.raises(ExchangeError) as info:
        parse_response(response, _context("t.o.k"), now=0)
    assert (info.value.code, info.value.retryable, info.value.retry_after) == ("Throttling", True, 17.0)


def test_unreachable_sts_is_a_retryable_connection_error(cfke_token_file: TokenFile) -> None:
    server = LoopbackServer()
    url = server.url
    server.stop()  # the port is closed: nothing listens
    with pytest.raises(ExchangeError) as info:
        _exchange(url, cfke_token_file)
    assert (info.value.code, info.value.retryable) == ("connection", True)
