"""The real servers and real clients later work drives, proven end to end on loopback.

* a real OpenBao dev server: JWT login with a token from the loopback issuer, a KV v2 read, renewal, and the exact
  refusals (wrong subject, audience, expired token, unknown role, batch token, token past its max TTL);
* fake-gcs-server driven by a real ``google.cloud.storage.Client``;
* the Node.js SDKs (tests/node, installed by ``make test`` into ``$CFKE_NODE_MODULES``) and their Python twins
  against recording fakes of the AWS container, GCE metadata and App Service managed-identity endpoints, asserting
  exactly what each sent.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cfke_auth.testing import LoopbackServer, OidcIssuer, RecordedRequest, Reply
from cfke_auth.testing.aws import MotoServer
from cfke_auth.testing.gcs import FakeGcsServer
from cfke_auth.testing.openbao import OpenBaoServer, ServerUnavailable

SUBJECT = "system:serviceaccount:shop:api"
NODE_DIR = Path(__file__).parent / "node"
_DEFAULT_MODULES = Path(__file__).parent.parent / ".venv" / "node" / "node_modules"
NODE_MODULES = os.environ.get("CFKE_NODE_MODULES") or (str(_DEFAULT_MODULES) if _DEFAULT_MODULES.is_dir() else None)


# -- OpenBao ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def issuer() -> Iterator[OidcIssuer]:
    with OidcIssuer() as running:
        yield running


@pytest.fixture(scope="module")
def bao(issuer: OidcIssuer) -> Iterator[OpenBaoServer]:
    """One dev server for the module: JWT at ``jwt/`` trusting the issuer's JWKS, role ``app`` bound to SUBJECT."""
    try:
        server = OpenBaoServer().start()
    except ServerUnavailable as exc:
        pytest.skip(f"OpenBao dev server unavailable: {exc}")
    try:
        server.trust_issuer(issuer)
        server.write_policy("app", 'path "secret/data/app/*" { capabilities = ["read"] }')
        server.jwt_role("app", bound_audiences=["vault"], bound_subject=SUBJECT, policies=["app"], ttl=60, max_ttl=120)
        server.write_secret("app/config", {"password": "kv-value"})
        yield server
    finally:
        server.stop()


def _login(bao: OpenBaoServer, jwt: str, role: str = "app", mount: str = "jwt") -> httpx.Response:
    return httpx.post(f"{bao.url}/v1/auth/{mount}/login", json={"role": role, "jwt": jwt})


def _pod_token(issuer: OidcIssuer, **knobs: Any) -> str:
    return issuer.issue(namespace="shop", service_account="api", **{"audience": "vault", **knobs})


def test_openbao_login_reads_secret_and_renews(bao: OpenBaoServer, issuer: OidcIssuer) -> None:
    login = _login(bao, _pod_token(issuer))
    assert login.status_code == 200, login.text
    auth = login.json()["auth"]
    assert auth["client_token"].startswith("s.")
    assert (auth["lease_duration"], auth["renewable"], auth["token_type"]) == (60, True, "service")
    assert auth["policies"] == ["app", "default"] and auth["metadata"] == {"role": "app"}
    headers = {"X-Vault-Token": auth["client_token"]}

    secret = httpx.get(f"{bao.url}/v1/secret/data/app/config", headers=headers)
    assert secret.json()["data"]["data"] == {"password": "kv-value"}
    assert secret.json()["data"]["metadata"]["version"] == 1

    me = httpx.get(f"{bao.url}/v1/auth/token/lookup-self", headers=headers).json()["data"]
    assert 0 < me["ttl"] <= 60 and me["creation_ttl"] == 60 and me["renewable"] is True
    assert me["path"] == "auth/jwt/login" and me["display_name"] == f"jwt-{SUBJECT}"

    renewed = httpx.post(f"{bao.url}/v1/auth/token/renew-self", headers=headers, json={}).json()
    assert renewed["auth"]["client_token"] == auth["client_token"] and renewed["auth"]["lease_duration"] == 60
    capped = httpx.post(f"{bao.url}/v1/auth/token/renew-self", headers=headers, json={"increment": "1h"}).json()
    assert capped["auth"]["lease_duration"] <= 120
    assert "exceeded the effective max_ttl" in capped["warnings"][0]

    denied = httpx.get(f"{bao.url}/v1/secret/data/other", headers=headers)
    assert denied.status_code == 403 and "permission denied" in denied.json()["errors"][0]


@pytest.mark.parametrize("via", ["discovery", "pubkeys"])
def test_openbao_trusts_the_issuer_by_discovery_or_pasted_keys(
    bao: OpenBaoServer, issuer: OidcIssuer, via: str
) -> None:
    """Plain-http discovery on loopback is accepted, as are the issuer's keys pasted as PEM."""
    bao.trust_issuer(issuer, mount=f"jwt-{via}", via=via)  # type: ignore[arg-type]
    bao.jwt_role("app", mount=f"jwt-{via}", bound_audiences=["vault"], bound_subject=SUBJECT, ttl=60)
    login = _login(bao, _pod_token(issuer), mount=f"jwt-{via}")
    assert login.status_code == 200, login.text


@pytest.mark.parametrize(
    ("knobs", "role", "error"),
    [
        ({"service_account": "other"}, "app", "error validating token: invalid subject (sub) claim"),
        (
            {"audience": "sts.amazonaws.com"},
            "app",
            "error validating token: invalid audience (aud) claim: audience claim does not match any expected audience",
        ),
        # Past exp by more than the role's clock_skew_leeway (60 s by default).
        (
            {"issued_at": time.time() - 3600 - 120},
            "app",
            "error validating token: invalid expiration time (exp) claim: token is expired",
        ),
        ({}, "nope", 'role "nope" could not be found'),
    ],
    ids=["subject", "audience", "expired", "unknown-role"],
)
def test_openbao_refusals(bao: OpenBaoServer, issuer: OidcIssuer, knobs: dict[str, Any], role: str, error: str) -> None:
    token_knobs = {"namespace": "shop", "service_account": "api", "audience": "vault", **knobs}
    refused = _login(bao, issuer.issue(**token_knobs), role=role)
    assert (refused.status_code, refused.json()) == (400, {"errors": [error]})


def test_openbao_batch_tokens_cannot_be_renewed(bao: OpenBaoServer, issuer: OidcIssuer) -> None:
    bao.jwt_role("batch", bound_audiences=["vault"], bound_subject=SUBJECT, ttl=60, token_type="batch")
    auth = _login(bao, _pod_token(issuer), role="batch").json()["auth"]
    assert (auth["renewable"], auth["token_type"], auth["accessor"]) == (False, "batch", "")
    refused = httpx.post(f"{bao.url}/v1/auth/token/renew-self", headers={"X-Vault-Token": auth["client_token"]})
    assert (refused.status_code, refused.json()) == (400, {"errors": ["batch tokens cannot be renewed"]})


def test_openbao_token_past_its_max_ttl_is_gone(bao: OpenBaoServer, issuer: OidcIssuer) -> None:
    """A token living 1 s at most: renewal cannot extend it, and once expired every call is a bare 403."""
    bao.jwt_role("short", bound_audiences=["vault"], bound_subject=SUBJECT, ttl=1, max_ttl=1)
    headers = {"X-Vault-Token": _login(bao, _pod_token(issuer), role="short").json()["auth"]["client_token"]}
    deadline = time.monotonic() + 10  # OpenBao's own clock: poll it (bounded), it cannot be patched
    while (lookup := httpx.get(f"{bao.url}/v1/auth/token/lookup-self", headers=headers)).status_code == 200:
        assert time.monotonic() < deadline, "the token outlived its max TTL"
        time.sleep(0.2)
    assert (lookup.status_code, lookup.json()) == (403, {"errors": ["permission denied"]})
    renew = httpx.post(f"{bao.url}/v1/auth/token/renew-self", headers=headers)
    assert (renew.status_code, renew.json()) == (403, {"errors": ["permission denied"]})


# -- fake-gcs-server ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gcs() -> Iterator[FakeGcsServer]:
    try:
        server = FakeGcsServer().start()
    except ServerUnavailable as exc:
        pytest.skip(f"fake-gcs-server unavailable: {exc}")
    with server:
        yield server


def test_google_cloud_storage_client_against_fake_gcs(gcs: FakeGcsServer) -> None:
    storage = pytest.importorskip("google.cloud.storage")
    from google.oauth2.credentials import Credentials

    # The emulator ignores Authorization: any bearer token (or none) is accepted.
    client = storage.Client(
        project="p", credentials=Credentials("ya29.not-checked"), client_options={"api_endpoint": gcs.url}
    )
    bucket = client.create_bucket("infra-bucket")
    bucket.blob("dir/hello.txt").upload_from_string(b"hello", content_type="text/plain")
    big = os.urandom(9 * 1024 * 1024)  # over 8 MiB: a resumable upload, following the Location the emulator hands out
    bucket.blob("big.bin").upload_from_string(big)
    assert [blob.name for blob in client.list_blobs("infra-bucket")] == ["big.bin", "dir/hello.txt"]
    assert bucket.blob("big.bin").download_as_bytes() == big


def test_storage_emulator_host_gives_an_anonymous_client(gcs: FakeGcsServer, monkeypatch: pytest.MonkeyPatch) -> None:
    storage = pytest.importorskip("google.cloud.storage")
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs.url)
    client = storage.Client()
    assert client.project is None  # anonymous, and sent as "<none>"
    client.create_bucket("anonymous-bucket").blob("x").upload_from_string(b"x")
    assert [blob.name for blob in client.list_blobs("anonymous-bucket")] == ["x"]


# -- credential endpoints: recording fakes ---------------------------------------------------------------------------

AWS_SECRET = "container-secret-0123456789"
AWS_KEYS = {"AccessKeyId": "ASIAINFRATEST0000001", "SecretAccessKey": "s" * 40, "Token": "session-token"}
GCE = "/computeMetadata/v1"
GCE_ACCOUNT = "app@my-project.iam.gserviceaccount.com"
GCE_TOKEN = "ya29.c.infra-test-token"
AZURE_HEADER = "identity-header-secret"
AZURE_TOKEN = "eyJ0eXAiOiJKV1QifQ.infra.test"


def _iso_z(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _aws_endpoint() -> LoopbackServer:
    def credentials(request: RecordedRequest) -> Reply:
        if request.headers.get("authorization") != AWS_SECRET:
            return Reply.json({"Code": "AccessDenied", "Message": "bad Authorization"}, 401)
        return Reply.json({**AWS_KEYS, "Expiration": _iso_z(time.time() + 3600), "AccountId": "123456789012"})

    return LoopbackServer({("GET", "/aws/credentials"): credentials})


def _gce_metadata(issuer: OidcIssuer) -> LoopbackServer:
    """Every path the Google auth libraries call, answered with ``Metadata-Flavor: Google`` (they require it)."""

    def text(body: str, content_type: str = "application/text") -> Any:
        reply = Reply(200, body.encode(), {"Content-Type": content_type, "Metadata-Flavor": "Google"})
        return lambda request: reply

    def identity(request: RecordedRequest) -> Reply:
        audience = request.query["audience"][0]
        token = issuer.issue(audience=audience, extra_claims={"email": GCE_ACCOUNT, "sub": "1234567890"})
        return Reply(200, token.encode(), {"Content-Type": "text/html", "Metadata-Flavor": "Google"})

    account = {
        "aliases": ["default"],
        "email": GCE_ACCOUNT,
        "scopes": ["https://www.googleapis.com/auth/cloud-platform"],
    }
    token = {"access_token": GCE_TOKEN, "expires_in": 3599, "token_type": "Bearer"}
    return LoopbackServer(
        {
            ("GET", "/"): text(""),
            ("GET", f"{GCE}/instance"): text("attributes/\nservice-accounts/\n"),
            ("GET", f"{GCE}/instance/service-accounts/default/"): text(json.dumps(account), "application/json"),
            ("GET", f"{GCE}/instance/service-accounts/default/token"): text(json.dumps(token), "application/json"),
            ("GET", f"{GCE}/instance/service-accounts/default/identity"): identity,
            ("GET", f"{GCE}/project/project-id"): text("my-project"),
            ("GET", f"{GCE}/universe/universe-domain"): text("googleapis.com"),
        }
    )


def _azure_endpoint(expires_on: int) -> LoopbackServer:
    def token(request: RecordedRequest) -> Reply:
        if request.headers.get("x-identity-header") != AZURE_HEADER:
            return Reply.json({"statusCode": 401, "message": "bad X-IDENTITY-HEADER"}, 401)
        body = {"access_token": AZURE_TOKEN, "expires_on": str(expires_on), "resource": request.query["resource"][0],
                "token_type": "Bearer", "client_id": "00000000-0000-0000-0000-0000000000c1"}  # fmt: skip
        return Reply.json(body)

    return LoopbackServer({("GET", "/msi/token"): token})


@pytest.fixture(scope="module")
def clean_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment client processes start from: PATH and an empty HOME, nothing of the developer's."""
    return {"PATH": os.environ["PATH"], "HOME": str(tmp_path_factory.mktemp("home"))}


@pytest.fixture(scope="module")
def node_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Node scripts copied beside a ``node_modules`` link to the installed SDKs (ESM resolves from the file)."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    if NODE_MODULES is None or not Path(NODE_MODULES).is_dir():
        pytest.skip("the Node.js SDKs of tests/node are not installed (make test installs them with npm)")
    directory = tmp_path_factory.mktemp("node")
    (directory / "node_modules").symlink_to(NODE_MODULES)
    for script in NODE_DIR.glob("*.mjs"):
        shutil.copy(script, directory)
    return directory


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A client in its own process, with only ``env``; the caller asserts on its exit and output."""
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=60, check=False)


def _node(node_dir: Path, env: dict[str, str], script: str, *args: str) -> dict[str, Any]:
    done = _run(["node", str(node_dir / script), *args], env)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert done.returncode == 0 and "error" not in result, (result, done.stderr)
    return result


def _only(server: LoopbackServer, path: str) -> RecordedRequest:
    calls = server.calls("GET", path)
    assert len(calls) == 1, server.requests
    return calls[0]


@pytest.fixture
def aws_env(clean_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[dict[str, str], LoopbackServer]]:
    """Container credentials from the recording endpoint, STS on moto: only the environment says so."""
    token_file = tmp_path / "aws-token"
    token_file.write_text(AWS_SECRET)  # no trailing newline: both SDKs refuse it as a header value
    with _aws_endpoint() as endpoint, MotoServer() as moto:
        yield (
            {
                **clean_env,
                "AWS_CONTAINER_CREDENTIALS_FULL_URI": f"{endpoint.url}/aws/credentials",
                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": str(token_file),
                "AWS_REGION": "us-east-1",  # the JavaScript SDK's region variable
                "AWS_DEFAULT_REGION": "us-east-1",  # botocore's
                "AWS_ENDPOINT_URL_STS": moto.url,
            },
            endpoint,
        )


def _assert_container_request(request: RecordedRequest) -> None:
    assert request.query == {} and request.body == b""
    assert request.headers["authorization"] == AWS_SECRET


def test_node_aws_sdk_default_chain_uses_the_container_endpoint(
    node_dir: Path, aws_env: tuple[dict[str, str], LoopbackServer]
) -> None:
    env, endpoint = aws_env
    result = _node(node_dir, env, "aws-caller-identity.mjs")
    assert result["Account"] == "123456789012" and result["accessKeyId"] == AWS_KEYS["AccessKeyId"]
    _assert_container_request(_only(endpoint, "/aws/credentials"))


def test_boto3_and_aws_cli_use_the_container_endpoint(aws_env: tuple[dict[str, str], LoopbackServer]) -> None:
    env, endpoint = aws_env
    code = "import boto3; print(boto3.client('sts').get_caller_identity()['Account'])"
    boto3_run = _run([sys.executable, "-c", code], env)
    assert boto3_run.stdout.strip() == "123456789012", boto3_run.stderr
    aws = shutil.which("aws", path=str(Path(sys.executable).parent)) or shutil.which("aws")
    if aws is not None:
        cli = _run([aws, "sts", "get-caller-identity"], env)
        assert json.loads(cli.stdout)["Account"] == "123456789012", cli.stderr
    for request in endpoint.requests:
        _assert_container_request(request)
        assert request.headers["accept"] == "application/json"
    assert len(endpoint.requests) == (2 if aws else 1)


@pytest.fixture
def gce_env(clean_env: dict[str, str], issuer: OidcIssuer) -> Iterator[tuple[dict[str, str], LoopbackServer]]:
    with _gce_metadata(issuer) as metadata:
        host = metadata.url.removeprefix("http://")
        # google-auth (Python) pings GCE_METADATA_IP and reads GCE_METADATA_HOST: both, or it pings 169.254.169.254.
        yield {**clean_env, "GCE_METADATA_HOST": host, "GCE_METADATA_IP": host}, metadata


def test_node_google_auth_access_token_through_gce_metadata_host(
    node_dir: Path, gce_env: tuple[dict[str, str], LoopbackServer]
) -> None:
    env, metadata = gce_env
    result = _node(node_dir, env, "google-token.mjs")
    assert (result["token"], result["client"], result["projectId"]) == (GCE_TOKEN, "Compute", "my-project")
    assert [r.path for r in metadata.requests] == [
        f"{GCE}/instance",  # the detection ping (Python pings "/")
        f"{GCE}/project/project-id",
        f"{GCE}/instance/service-accounts/default/token",
    ]
    assert all(r.headers["metadata-flavor"] == "Google" for r in metadata.requests)
    assert "x-forwarded-for" not in metadata.requests[0].headers
    token_request = metadata.requests[-1]
    assert token_request.query == {"scopes": ["https://www.googleapis.com/auth/cloud-platform"]}


def test_node_google_auth_id_token_through_gce_metadata_host(
    node_dir: Path, gce_env: tuple[dict[str, str], LoopbackServer]
) -> None:
    env, metadata = gce_env
    result = _node(node_dir, env, "google-token.mjs", "https://app.example.com")
    request = _only(metadata, f"{GCE}/instance/service-accounts/default/identity")
    assert request.query == {"audience": ["https://app.example.com"], "format": ["full"]}
    assert result["idToken"].count(".") == 2


def test_python_google_auth_default_through_gce_metadata_host(gce_env: tuple[dict[str, str], LoopbackServer]) -> None:
    env, metadata = gce_env
    code = (
        "import google.auth, google.auth.compute_engine as ce; from google.auth.transport.requests import Request\n"
        "creds, project = google.auth.default(scopes=['https://www.googleapis.com/auth/cloud-platform'])\n"
        "creds.refresh(Request())\n"
        "ident = ce.IDTokenCredentials(Request(), 'https://app.example.com', use_metadata_identity_endpoint=True)\n"
        "ident.refresh(Request())\n"
        "print(type(creds).__name__, project, creds.token, creds.service_account_email, creds.universe_domain)"
    )
    done = _run([sys.executable, "-c", code], env)
    assert done.stdout.split() == ["Credentials", "my-project", GCE_TOKEN, GCE_ACCOUNT, "googleapis.com"], done.stderr
    paths = [r.path for r in metadata.requests]
    assert paths[0] == "/" and metadata.requests[0].headers["x-goog-api-client"].endswith("auth-request-type/mds")
    recursive = metadata.calls("GET", f"{GCE}/instance/service-accounts/default/")
    assert recursive and all(r.query == {"recursive": ["true"]} for r in recursive)
    assert f"{GCE}/universe/universe-domain" in paths
    identity = _only(metadata, f"{GCE}/instance/service-accounts/default/identity")
    assert identity.query == {"audience": ["https://app.example.com"], "format": ["full"]}


@pytest.fixture
def azure_env(clean_env: dict[str, str]) -> Iterator[tuple[dict[str, str], LoopbackServer, int]]:
    expires_on = int(time.time()) + 3600
    with _azure_endpoint(expires_on) as endpoint:
        env = {**clean_env, "IDENTITY_ENDPOINT": f"{endpoint.url}/msi/token", "IDENTITY_HEADER": AZURE_HEADER}
        yield env, endpoint, expires_on


def _assert_app_service_request(request: RecordedRequest, resource: str) -> None:
    assert request.query == {"api-version": ["2019-08-01"], "resource": [resource]}
    assert request.headers["x-identity-header"] == AZURE_HEADER


@pytest.mark.parametrize("kind", ["managed", "default"])
def test_node_azure_identity_through_app_service_endpoint(
    node_dir: Path, azure_env: tuple[dict[str, str], LoopbackServer, int], kind: str
) -> None:
    env, endpoint, expires_on = azure_env
    result = _node(node_dir, env, "azure-token.mjs", "https://vault.azure.net/.default", kind)
    assert (result["token"], result["expiresOnTimestamp"]) == (AZURE_TOKEN, expires_on * 1000)
    _assert_app_service_request(_only(endpoint, "/msi/token"), "https://vault.azure.net")


def test_python_azure_identity_through_app_service_endpoint(
    azure_env: tuple[dict[str, str], LoopbackServer, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    identity = pytest.importorskip("azure.identity")
    env, endpoint, expires_on = azure_env
    for name in ("AZURE_CLIENT_ID", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT", "MSI_ENDPOINT", "MSI_SECRET"):
        monkeypatch.delenv(name, raising=False)  # each would select another identity or another protocol
    for name in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER"):
        monkeypatch.setenv(name, env[name])
    token = identity.ManagedIdentityCredential().get_token("https://storage.azure.com/.default")
    assert token.token == AZURE_TOKEN and abs(token.expires_on - expires_on) <= 2
    request = _only(endpoint, "/msi/token")
    _assert_app_service_request(request, "https://storage.azure.com")
    assert request.headers["metadata"] == "true"
