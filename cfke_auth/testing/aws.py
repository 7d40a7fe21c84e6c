"""AWS fakes for tests: an STS that answers ``AssumeRoleWithWebIdentity`` in real STS XML (and any STS error you
choose), and moto's server on loopback with a count of the STS exchanges it served.

Use them to test code built on :func:`cfke_auth.get_boto3_session` without AWS::

    with FakeSts() as sts:
        session = cfke_auth.get_boto3_session(ROLE_ARN, sts_endpoint_url=sts.url)
        sts.fail_with("AccessDenied", status=403)   # exchanges are refused as STS would refuse them
"""

from __future__ import annotations

import io
import secrets
import string
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from xml.sax.saxutils import escape

from .._claims import decode_claims
from .failures import FailureKnobs, Failures
from .server import LoopbackServer, LoopbackService, RecordedRequest, Reply
from .tls import LocalCA

__all__ = ["STS_NAMESPACE", "FakeSts", "MotoServer", "sts_error_xml", "sts_success_xml"]

STS_NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"
_UPPER = string.ascii_uppercase + string.digits


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def sts_error_xml(code: str, message: str, *, sender: bool = True) -> str:
    """An STS ``ErrorResponse`` document, exactly as STS shapes it."""
    return (
        f'<ErrorResponse xmlns="{STS_NAMESPACE}">\n'
        f"  <Error>\n    <Type>{'Sender' if sender else 'Receiver'}</Type>\n    <Code>{escape(code)}</Code>\n"
        f"    <Message>{escape(message)}</Message>\n  </Error>\n"
        f"  <RequestId>{secrets.token_hex(16)}</RequestId>\n</ErrorResponse>\n"
    )


def sts_success_xml(
    *,
    access_key_id: str,
    secret_access_key: str,
    session_token: str,
    expires_at: float,
    role_arn: str,
    session_name: str,
    subject: str,
    audience: str,
    provider: str,
) -> str:
    """An ``AssumeRoleWithWebIdentityResponse`` document, exactly as STS shapes it."""
    account, _, role = role_arn.partition(":role/")
    assumed = f"{account.replace(':iam:', ':sts:')}:assumed-role/{role.rpartition('/')[2]}/{session_name}"
    return (
        f'<AssumeRoleWithWebIdentityResponse xmlns="{STS_NAMESPACE}">\n'
        "  <AssumeRoleWithWebIdentityResult>\n"
        f"    <SubjectFromWebIdentityToken>{escape(subject)}</SubjectFromWebIdentityToken>\n"
        f"    <Audience>{escape(audience)}</Audience>\n"
        "    <AssumedRoleUser>\n"
        f"      <Arn>{escape(assumed)}</Arn>\n"
        f"      <AssumedRoleId>AROA{''.join(secrets.choice(_UPPER) for _ in range(17))}:{escape(session_name)}"
        "</AssumedRoleId>\n"
        "    </AssumedRoleUser>\n"
        "    <Credentials>\n"
        f"      <SessionToken>{escape(session_token)}</SessionToken>\n"
        f"      <SecretAccessKey>{escape(secret_access_key)}</SecretAccessKey>\n"
        f"      <Expiration>{_iso(expires_at)}</Expiration>\n"
        f"      <AccessKeyId>{escape(access_key_id)}</AccessKeyId>\n"
        "    </Credentials>\n"
        f"    <Provider>{escape(provider)}</Provider>\n"
        "  </AssumeRoleWithWebIdentityResult>\n"
        f"  <ResponseMetadata>\n    <RequestId>{secrets.token_hex(16)}</RequestId>\n  </ResponseMetadata>\n"
        "</AssumeRoleWithWebIdentityResponse>\n"
    )


def _claims(token: str) -> dict[str, Any]:
    claims = decode_claims(token)
    return {"sub": claims.subject, "aud": (claims.audiences or ("",))[0], "iss": claims.issuer}


class FakeSts(FailureKnobs, LoopbackService):
    """STS on ``127.0.0.1``: issues credentials living ``lifetime`` seconds (or ``DurationSeconds``), or, after
    :meth:`fail_with`, the error you chose. ``issued`` lists the credentials handed out, newest last."""

    def __init__(
        self, *, lifetime: int = 3600, tls: LocalCA | bool | None = None, hostnames: Iterable[str] = ()
    ) -> None:
        self.lifetime = lifetime
        self.server = LoopbackServer({("POST", "/"): self._handle}, tls=tls, hostnames=hostnames)
        self.issued: list[dict[str, str]] = []
        self.failures = Failures()
        self._lock = threading.Lock()

    @property
    def calls(self) -> list[RecordedRequest]:
        """Every ``AssumeRoleWithWebIdentity`` request received."""
        return self.server.calls("POST", "/")

    def fail_with(
        self, code: str | None, message: str | None = None, status: int = 400, *, times: int | None = None
    ) -> None:
        """Answer exchanges with STS error ``code`` (None: issue credentials again), ``times`` times or until
        cleared."""
        if code is None:
            self.answer_with(None)
            return
        body = sts_error_xml(code, message or f"{code} (from FakeSts)", sender=status < 500)
        self.answer_with(Reply.text(body, status, "text/xml"), times=times)

    def _handle(self, request: RecordedRequest) -> Reply:
        form = request.form()
        if form.get("Action") != "AssumeRoleWithWebIdentity" or form.get("Version") != "2011-06-15":
            return Reply.text(sts_error_xml("InvalidAction", "unsupported action or version"), 400, "text/xml")
        failure = self.failures.take()
        if failure is not None:
            return failure
        claims = _claims(form["WebIdentityToken"])
        issued = {
            "access_key_id": "ASIA" + "".join(secrets.choice(_UPPER) for _ in range(16)),
            "secret_access_key": secrets.token_urlsafe(30),
            "session_token": "FwoG" + secrets.token_urlsafe(120),
        }
        with self._lock:
            self.issued.append(issued)
        body = sts_success_xml(
            **issued,
            expires_at=time.time() + int(form.get("DurationSeconds") or self.lifetime),
            role_arn=form["RoleArn"],
            session_name=form["RoleSessionName"],
            subject=claims["sub"],
            audience=claims["aud"],
            provider=claims["iss"].partition("://")[2],
        )
        return Reply.text(body, 200, "text/xml")


class _Counting:
    """WSGI middleware counting STS ``AssumeRoleWithWebIdentity`` requests before moto sees them, answering them
    ``latency`` seconds late, and refusing them with ``503 ServiceUnavailable`` while :attr:`down`."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.count = 0
        self.down = False
        self.latency = 0.0
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        if b"Action=AssumeRoleWithWebIdentity" in body:
            with self._lock:
                self.count += 1
            if self.latency:
                time.sleep(self.latency)  # a slow STS, as seen from far away or under load
            if self.down:
                start_response("503 Service Unavailable", [("Content-Type", "text/xml")])
                return [sts_error_xml("ServiceUnavailable", "outage (MotoServer.outage)", sender=False).encode()]
        return self.app(environ, start_response)


class MotoServer:
    """moto's server (every AWS service it fakes) on ``127.0.0.1`` in a thread, as ``ThreadedMotoServer`` runs it,
    counting the ``AssumeRoleWithWebIdentity`` calls it served in :attr:`sts_calls`. moto accepts any token."""

    def __init__(self) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        class _Quiet(MotoRequestHandler):
            def log(self, type: str, message: str, *args: Any) -> None:
                """Silence the per-request log line."""

        self._counter = _Counting(DomainDispatcherApplication(create_backend_app))
        self._server = make_server("127.0.0.1", 0, self._counter, True, request_handler=_Quiet)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def sts_calls(self) -> int:
        return self._counter.count

    @contextmanager
    def sts_latency(self, seconds: float) -> Iterator[None]:
        """While inside, ``AssumeRoleWithWebIdentity`` answers ``seconds`` late."""
        self._counter.latency = seconds
        try:
            yield
        finally:
            self._counter.latency = 0.0

    @contextmanager
    def sts_outage(self) -> Iterator[None]:
        """While inside, ``AssumeRoleWithWebIdentity`` answers 503 (still counted); other services keep working."""
        self._counter.down = True
        try:
            yield
        finally:
            self._counter.down = False

    def start(self) -> MotoServer:
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever, name="moto", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
