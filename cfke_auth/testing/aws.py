"""AWS fakes for tests: an STS that answers ``AssumeRoleWithWebIdentity`` and (SigV4-checked) ``AssumeRole`` in real
STS XML (and any STS error you choose), and moto's server on loopback with a count of the STS exchanges it served.

Use them to test code built on :func:`cfke_auth.get_boto3_session` without AWS::

    with FakeSts() as sts:
        session = cfke_auth.get_boto3_session(ROLE_ARN, sts_endpoint_url=sts.url)
        sts.fail_with("AccessDenied", status=403)   # exchanges are refused as STS would refuse them
"""

from __future__ import annotations

import calendar
import hmac
import io
import os
import re
import secrets
import shutil
import string
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from .._claims import decode_claims
from .failures import FailureKnobs, Failures
from .server import LoopbackServer, LoopbackService, RecordedRequest, Reply
from .tls import LocalCA

__all__ = [
    "SIGNATURE_SKEW",
    "STS_NAMESPACE",
    "FakeSts",
    "MotoServer",
    "assumed_role_arn",
    "sts_error_xml",
    "sts_success_xml",
]

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


def assumed_role_arn(role_arn: str, session_name: str) -> str:
    """The ARN of session ``session_name`` of ``role_arn``: ``arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION``."""
    account, _, role = role_arn.partition(":role/")
    return f"{account.replace(':iam:', ':sts:')}:assumed-role/{role.rpartition('/')[2]}/{session_name}"


def sts_success_xml(
    *,
    access_key_id: str,
    secret_access_key: str,
    session_token: str,
    expires_at: float,
    role_arn: str,
    session_name: str,
    subject: str | None = None,
    audience: str | None = None,
    provider: str | None = None,
    action: str = "AssumeRoleWithWebIdentity",
) -> str:
    """An ``AssumeRoleWithWebIdentityResponse`` (or, with ``action="AssumeRole"``, an ``AssumeRoleResponse``)
    document, exactly as STS shapes it; ``subject``, ``audience`` and ``provider`` are the web-identity fields."""
    assumed = assumed_role_arn(role_arn, session_name)
    identity = "".join(
        f"    <{tag}>{escape(value)}</{tag}>\n"
        for tag, value in (("SubjectFromWebIdentityToken", subject), ("Audience", audience))
        if value is not None
    )
    return (
        f'<{action}Response xmlns="{STS_NAMESPACE}">\n'
        f"  <{action}Result>\n"
        f"{identity}"
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
        + (f"    <Provider>{escape(provider)}</Provider>\n" if provider is not None else "")
        + f"  </{action}Result>\n"
        f"  <ResponseMetadata>\n    <RequestId>{secrets.token_hex(16)}</RequestId>\n  </ResponseMetadata>\n"
        f"</{action}Response>\n"
    )


def _claims(token: str) -> dict[str, Any]:
    claims = decode_claims(token)
    return {"sub": claims.subject, "aud": (claims.audiences or ("",))[0], "iss": claims.issuer}


@dataclass(frozen=True)
class _Key:
    """Credentials the fake issued, as it checks a request signed with them."""

    secret_access_key: str
    session_token: str
    expires_at: float
    assumed_role_arn: str


_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(\w+)/([0-9]{8})/([\w-]+)/([\w-]+)/aws4_request, "
    r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})"
)
#: How far a signature's time may be from the fake's clock, as AWS allows.
SIGNATURE_SKEW = 300


def _refusal(code: str, message: str, status: int) -> Reply:
    return Reply.text(sts_error_xml(code, message, sender=status < 500), status, "text/xml")


class FakeSts(FailureKnobs, LoopbackService):
    """STS on ``127.0.0.1``: issues credentials living ``lifetime`` seconds (or ``DurationSeconds``), or, after
    :meth:`fail_with`, the error you chose. ``issued`` lists the credentials handed out, newest last, each with the
    ``role_arn`` assumed and the ``caller`` (the access key that signed an ``AssumeRole``; empty for web identity).

    ``AssumeRole`` is answered as STS does for a role chain: the SigV4 signature must verify (checked with
    botocore's signer) with credentials this fake issued, still valid, and the signature's time within
    :data:`SIGNATURE_SKEW` seconds; a role listed in ``external_ids`` admits only its external ID. Else the call is
    refused with STS's own code (``InvalidClientTokenId``, ``ExpiredToken``, ``SignatureDoesNotMatch``,
    ``AccessDenied``).
    """

    def __init__(
        self, *, lifetime: int = 3600, tls: LocalCA | bool | None = None, hostnames: Iterable[str] = ()
    ) -> None:
        self.lifetime = lifetime
        self.server = LoopbackServer({("POST", "/"): self._handle}, tls=tls, hostnames=hostnames)
        self.issued: list[dict[str, str]] = []
        self.failures = Failures()
        #: Roles whose trust policy requires ``sts:ExternalId``: role ARN -> the external ID it admits.
        self.external_ids: dict[str, str] = {}
        self._role_failures: dict[str, Failures] = {}
        self._keys: dict[str, _Key] = {}
        self._lock = threading.Lock()

    def replica(self, *, tls: LocalCA | bool | None = None, hostnames: Iterable[str] = ()) -> FakeSts:
        """Another regional endpoint of the same STS (not started): its own server, failure knobs, ``calls`` and
        ``issued``, but credentials issued by either are valid at both, and ``external_ids`` is shared -- for tests
        of failing over from one region to another."""
        other = FakeSts(lifetime=self.lifetime, tls=tls, hostnames=hostnames)
        other.external_ids = self.external_ids
        other._keys = self._keys
        other._lock = self._lock
        return other

    @property
    def calls(self) -> list[RecordedRequest]:
        """Every STS request received (``AssumeRoleWithWebIdentity`` and ``AssumeRole``)."""
        return self.server.calls("POST", "/")

    def calls_for(self, role_arn: str) -> list[RecordedRequest]:
        """The requests assuming ``role_arn``."""
        return [call for call in self.calls if call.form().get("RoleArn") == role_arn]

    def fail_with(
        self,
        code: str | None,
        message: str | None = None,
        status: int = 400,
        *,
        times: int | None = None,
        role_arn: str | None = None,
    ) -> None:
        """Answer exchanges (only those assuming ``role_arn``, if given) with STS error ``code`` (None: issue
        credentials again), ``times`` times or until cleared."""
        failures = self.failures if role_arn is None else self._role_failures.setdefault(role_arn, Failures())
        if code is None:
            failures.set(None)
            return
        body = sts_error_xml(code, message or f"{code} (from FakeSts)", sender=status < 500)
        failures.set(Reply.text(body, status, "text/xml"), times)

    def _handle(self, request: RecordedRequest) -> Reply:
        form = request.form()
        action = form.get("Action")
        if action not in ("AssumeRoleWithWebIdentity", "AssumeRole") or form.get("Version") != "2011-06-15":
            return _refusal("InvalidAction", "unsupported action or version", 400)
        role_arn = form.get("RoleArn", "")
        role_failures = self._role_failures.get(role_arn)
        failure = self.failures.take() or (role_failures.take() if role_failures else None)
        if failure is not None:
            return failure
        claims: dict[str, Any] = {}
        caller = ""
        if action == "AssumeRole":
            refusal, caller = self._check_signature(request)
            if refusal is None and self.external_ids.get(role_arn, form.get("ExternalId")) != form.get("ExternalId"):
                who = self._keys[caller].assumed_role_arn
                message = f"User: {who} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
                refusal = _refusal("AccessDenied", message, 403)
            if refusal is not None:
                return refusal
        else:
            claims = _claims(form["WebIdentityToken"])
        keys = {
            "access_key_id": "ASIA" + "".join(secrets.choice(_UPPER) for _ in range(16)),
            "secret_access_key": secrets.token_urlsafe(30),
            "session_token": "FwoG" + secrets.token_urlsafe(120),
        }
        expires_at = time.time() + int(form.get("DurationSeconds") or self.lifetime)
        body = sts_success_xml(
            **keys,
            expires_at=expires_at,
            role_arn=role_arn,
            session_name=form["RoleSessionName"],
            subject=claims.get("sub"),
            audience=claims.get("aud"),
            provider=claims["iss"].partition("://")[2] if claims else None,
            action=action,
        )
        assumed = assumed_role_arn(role_arn, form["RoleSessionName"])
        with self._lock:
            self.issued.append({**keys, "role_arn": role_arn, "caller": caller})
            self._keys[keys["access_key_id"]] = _Key(
                keys["secret_access_key"], keys["session_token"], expires_at, assumed
            )
        return Reply.text(body, 200, "text/xml")

    def _check_signature(self, request: RecordedRequest) -> tuple[Reply | None, str]:
        """The refusal STS would answer to this signed request (None: it verifies), and the access key it names."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        found = _AUTHORIZATION.fullmatch(request.headers.get("authorization", ""))
        if found is None:
            return _refusal("MissingAuthenticationToken", "Request is missing Authentication Token", 403), ""
        key_id, day, region, service, signed, signature = found.groups()
        with self._lock:
            key = self._keys.get(key_id)
        if key is None or request.headers.get("x-amz-security-token") != key.session_token:
            return _refusal("InvalidClientTokenId", "The security token included in the request is invalid.", 403), ""
        if key.expires_at <= time.time():
            return _refusal("ExpiredToken", "The security token included in the request is expired", 400), key_id
        stamp = request.headers.get("x-amz-date", "")
        try:
            signed_at = calendar.timegm(time.strptime(stamp, "%Y%m%dT%H%M%SZ"))
        except ValueError:
            signed_at = 0
        if abs(signed_at - time.time()) > SIGNATURE_SKEW or day != stamp[:8]:
            return _refusal("SignatureDoesNotMatch", "Signature expired or not yet valid", 403), key_id
        names = signed.split(";")
        headers = {name: request.headers.get(name, "") for name in names}
        url = f"{self.server.scheme}://{headers.get('host') or request.headers.get('host', '')}{request.path}"
        aws_request = AWSRequest("POST", url, data=request.body, headers=headers)
        aws_request.context["timestamp"] = stamp
        auth = SigV4Auth(Credentials(key_id, key.secret_access_key, key.session_token), service, region)
        expected = auth.signature(auth.string_to_sign(aws_request, auth.canonical_request(aws_request)), aws_request)
        if service != "sts" or "host" not in names or not hmac.compare_digest(expected, signature):
            return _refusal("SignatureDoesNotMatch", "The request signature we calculated does not match", 403), key_id
        return None, key_id


class _Counting:
    """WSGI middleware counting STS ``AssumeRoleWithWebIdentity`` and ``AssumeRole`` requests before moto sees them,
    answering them ``latency`` seconds late, and refusing them with ``503 ServiceUnavailable`` while :attr:`down`."""

    ACTIONS = (b"Action=AssumeRoleWithWebIdentity", b"Action=AssumeRole")

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.counts = dict.fromkeys(self.ACTIONS, 0)
        self.down = False
        self.latency = 0.0
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        action = next((a for a in self.ACTIONS if re.search(re.escape(a) + b"(&|$)", body)), None)
        if action is not None:
            with self._lock:
                self.counts[action] += 1
            if self.latency:
                time.sleep(self.latency)  # a slow STS, as seen from far away or under load
            if self.down:
                start_response("503 Service Unavailable", [("Content-Type", "text/xml")])
                return [sts_error_xml("ServiceUnavailable", "outage (MotoServer.outage)", sender=False).encode()]
        return self.app(environ, start_response)


class MotoServer:
    """moto's server (every AWS service it fakes) on ``127.0.0.1`` in a thread, as ``ThreadedMotoServer`` runs it,
    counting the ``AssumeRoleWithWebIdentity`` calls it served in :attr:`sts_calls` and the ``AssumeRole`` calls
    (role chaining) in :attr:`assume_role_calls`. moto accepts any token and checks no signature; its
    ``GetCallerIdentity`` answers with the assumed-role ARN of the keys that signed it, the last hop's for a chain."""

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
        """``AssumeRoleWithWebIdentity`` requests received."""
        return self._counter.counts[_Counting.ACTIONS[0]]

    @property
    def assume_role_calls(self) -> int:
        """``AssumeRole`` requests received."""
        return self._counter.counts[_Counting.ACTIONS[1]]

    @contextmanager
    def sts_latency(self, seconds: float) -> Iterator[None]:
        """While inside, ``AssumeRoleWithWebIdentity`` and ``AssumeRole`` answer ``seconds`` late."""
        self._counter.latency = seconds
        try:
            yield
        finally:
            self._counter.latency = 0.0

    @contextmanager
    def sts_outage(self) -> Iterator[None]:
        """While inside, ``AssumeRoleWithWebIdentity`` and ``AssumeRole`` answer 503 (still counted); other services
        keep working."""
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


class AwsCli:
    """The real AWS CLI (PyPI ``awscli``) with a profile whose keys come from ``credential_process``, talking to
    ``endpoint_url`` (moto's server, say) for every service, with ``directory`` as its home and nothing of the
    caller's AWS configuration. ``binary`` is None when the CLI is not installed (tests skip)."""

    def __init__(
        self, credential_process: str, directory: str | os.PathLike[str], *, endpoint_url: str, token_path: str
    ) -> None:
        here = Path(sys.executable).parent
        self.binary = shutil.which("aws", path=str(here)) or shutil.which("aws")
        home = Path(directory)
        config = home / "config"
        config.write_text(f"[default]\ncredential_process = {credential_process}\nregion = us-east-1\n")
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(home),
            "AWS_CONFIG_FILE": str(config),
            "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-credentials"),
            "AWS_ENDPOINT_URL": endpoint_url,
            "CFKE_TOKEN_FILE": token_path,  # not AWS_WEB_IDENTITY_TOKEN_FILE: botocore's own provider would win
        }

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``aws ARGS...``, its output as text (JSON output asked for)."""
        if self.binary is None:
            raise RuntimeError("the AWS CLI (PyPI awscli) is not installed")
        command = [self.binary, *args, "--output", "json"]
        return subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=120, check=False)  # noqa: S603 - the test kit runs the installed CLI
