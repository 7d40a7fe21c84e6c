"""``cfke-auth serve`` driven by real clients, each in its own process, with only the environment ``--print-env``
gives them: boto3's default chain and ``aws s3 ls`` on moto, google-auth's compute-engine credentials under
google-cloud-storage on fake-gcs-server and an ID token verified against the IAM fake's keys, azure-identity's
``ManagedIdentityCredential`` under azure-storage-blob on Azurite, and the Node.js SDKs of tests/node. Then: 20
processes at once make one exchange per cloud, an outage of every token service fails no client call, and every
refusal (secrets, ``Metadata-Flavor``, ``X-Forwarded-For``, bad parameters, oversize headers) has its protocol's
shape. One broker serves the whole module.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import test_azure_azurite
import test_infra_servers
from conftest import assert_no_secrets, eventually
from google.auth.transport.requests import Request
from google.oauth2 import id_token as ga_id_token
from test_infra_servers import _node, _run

from cfke_auth.gcp.names import WorkloadProvider
from cfke_auth.testing import FakeEntra, GoogleFake, OidcIssuer, TokenFile
from cfke_auth.testing.aws import MotoServer
from cfke_auth.testing.gcp import CERTS_PATH
from cfke_auth.testing.gcs import FakeGcsServer
from cfke_auth.testing.plugin import ENTRA_CLIENT_ID, ENTRA_TENANT_ID

#: Fixtures of the modules that already start these: Azurite over HTTPS, the Node scripts beside their SDKs,
#: fake-gcs-server.
azurite = test_azure_azurite.azurite
node_dir = test_infra_servers.node_dir
gcs = test_infra_servers.gcs

ROLE = "arn:aws:iam::123456789012:role/broker"
SA = "app@my-project.iam.gserviceaccount.com"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
STORAGE = "https://storage.azure.com"
GCE = "/computeMetadata/v1"
TOKEN_PATH = f"{GCE}/instance/service-accounts/default/token"
FLAVOR = {"Metadata-Flavor": "Google"}


@dataclass
class RunningBroker:
    """A ``cfke-auth serve`` process: its URL, its secrets directory, and its log (stderr) in a file."""

    process: subprocess.Popen[bytes]
    log: Path
    secrets: Path
    url: str = ""
    argv: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, directory: Path, *flags: str, env: dict[str, str] | None = None) -> RunningBroker:
        secrets, log = directory / "secrets", directory / "broker.log"
        argv = ["--port", "0", "--secrets-dir", str(secrets), *flags]
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "cfke_auth", "serve", *argv], stderr=out, env=env or dict(os.environ)
            )
        broker = cls(process, log, secrets, argv=argv)
        eventually(lambda: broker.process.poll() is not None or "listening on" in broker.text(), timeout=30)
        found = re.search(r"listening on (http://\S+)", broker.text())
        assert found, broker.text()
        broker.url = found.group(1)
        return broker

    def text(self) -> str:
        return self.log.read_text()

    def secret(self, name: str) -> str:
        return (self.secrets / name).read_text()

    def print_env(self) -> dict[str, str]:
        """``--print-env`` for this broker's flags and port, parsed as a shell would."""
        port = self.url.rsplit(":", 1)[1]
        argv = [*self.argv[2:], "--port", port]
        done = subprocess.run(
            [sys.executable, "-m", "cfke_auth", "serve", "--print-env", *argv],
            capture_output=True,
            text=True,
            check=True,
        )
        lines = [line for line in done.stdout.splitlines() if line and not line.startswith("#")]
        return dict(tuple(shlex.split(line)[0].split("=", 1)) for line in lines)  # type: ignore[misc]

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 15) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signum)
        return self.process.wait(timeout)

    def metric(self, name: str, **labels: str) -> float:
        """One sample of ``/metrics`` (0 when absent)."""
        wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        for line in httpx.get(f"{self.url}/metrics").text.splitlines():
            head, _, value = line.rpartition(" ")
            sample, _, rest = head.partition("{")
            if sample == name and ",".join(sorted(rest.rstrip("}").split(","))) == wanted:
                return float(value)
        return 0.0


@dataclass
class Pod:
    """The module's token services, their token files, the broker, and the environment app containers get."""

    moto: MotoServer
    google: GoogleFake
    entra: FakeEntra
    broker: RunningBroker
    env: dict[str, str]
    sts_before: int


@pytest.fixture(scope="module")
def pod(tmp_path_factory: pytest.TempPathFactory, cfke_moto: MotoServer) -> Iterator[Pod]:
    work = tmp_path_factory.mktemp("pod")
    with OidcIssuer() as issuer:
        tokens = {
            cloud: TokenFile(work / cloud, issuer, namespace="shop", service_account="api")
            for cloud in ("aws", "gcp", "azure")
        }
        tokens["aws"].rotate(audience="sts.amazonaws.com")
        tokens["azure"].rotate(audience="api://AzureADTokenExchange")
        google = GoogleFake(issuer, tokens["gcp"].path)
        tokens["gcp"].rotate(audience=google.provider.audience)
        google.bind(SA, WorkloadProvider("123456789012", "cfke", "cfke").principal("system:serviceaccount:shop:api"))
        with google, FakeEntra(ENTRA_TENANT_ID, ENTRA_CLIENT_ID, tokens["azure"].path) as entra:
            sts_before = cfke_moto.sts_calls
            broker = RunningBroker.start(
                work,
                *("--aws-role-arn", ROLE, "--aws-region", "us-east-1", "--aws-token-path", tokens["aws"].path),
                *("--aws-sts-endpoint-url", cfke_moto.url, "--gcp-pool", "cfke", "--gcp-provider", "cfke"),
                *("--gcp-project-number", "123456789012", "--gcp-service-account", SA),
                *("--gcp-token-path", tokens["gcp"].path, "--gcp-sts-endpoint-url", google.url),
                *("--gcp-iam-endpoint-url", google.url, "--azure-tenant-id", ENTRA_TENANT_ID),
                *("--azure-client-id", ENTRA_CLIENT_ID, "--azure-token-path", tokens["azure"].path),
                *("--azure-authority-host", entra.url, "--azure-resource", STORAGE),
                env={"PATH": os.environ["PATH"], "HOME": str(work)},
            )
            try:
                eventually(lambda: httpx.get(f"{broker.url}/readyz").status_code == 200, timeout=30)
                env = {"PATH": os.environ["PATH"], "HOME": str(work), **broker.print_env()}
                yield Pod(cfke_moto, google, entra, broker, env, sts_before)
            finally:
                assert broker.stop() == 0, broker.text()


def _python(env: dict[str, str], code: str) -> str:
    """Run ``code`` in a fresh interpreter with only ``env``; its stdout (the test fails on a non-zero exit)."""
    done = _run([sys.executable, "-c", code], env)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _exchanges(pod: Pod) -> tuple[int, int, int]:
    """(AWS STS, Google cloud-platform token, Entra storage token) exchanges since the broker started (other tests
    ask for other scopes and audiences: those are other credentials)."""
    google = [r for r in pod.google.generate_calls() if r.json()["scope"] == [CLOUD_PLATFORM]]
    entra = [r for r in pod.entra.token_requests() if r.form()["scope"] == f"{STORAGE}/.default"]
    return pod.moto.sts_calls - pod.sts_before, len(google), len(entra)


# -- the environment ------------------------------------------------------------------------------------------


def test_print_env_gives_each_sdk_what_it_reads(pod: Pod) -> None:
    host = pod.broker.url.removeprefix("http://")
    secrets = pod.broker.secrets
    assert {k: v for k, v in pod.env.items() if k not in ("PATH", "HOME")} == {
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": f"{pod.broker.url}/aws/credentials",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": str(secrets / "aws-container-authorization-token"),
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "GCE_METADATA_HOST": host,
        "GCE_METADATA_IP": host,
        "IDENTITY_ENDPOINT": f"{pod.broker.url}/msi/token",
        "IDENTITY_HEADER": pod.broker.secret("azure-identity-header"),
    }
    for name in ("aws-container-authorization-token", "azure-identity-header"):
        path = secrets / name
        assert path.stat().st_mode & 0o777 == 0o600 and "\n" not in path.read_text()


# -- AWS ---------------------------------------------------------------------------------------------------------


def test_boto3_default_chain_lists_buckets_on_moto(pod: Pod) -> None:
    code = (
        "import boto3; s3 = boto3.client('s3'); s3.create_bucket(Bucket='broker-bucket'); "
        "print(boto3.Session().get_credentials().method, [b['Name'] for b in s3.list_buckets()['Buckets']])"
    )
    out = _python({**pod.env, "AWS_ENDPOINT_URL": pod.moto.url}, code)
    assert out.startswith("container-role ") and "'broker-bucket'" in out


def test_aws_cli_s3_ls(pod: Pod) -> None:
    aws = shutil.which("aws", path=str(Path(sys.executable).parent)) or shutil.which("aws")
    if aws is None:
        pytest.skip("the AWS CLI (PyPI awscli, in the test extra) is not installed")
    _python(
        {**pod.env, "AWS_ENDPOINT_URL": pod.moto.url},
        "import boto3; boto3.client('s3').create_bucket(Bucket='cli-bucket')",
    )
    done = _run([aws, "s3", "ls"], {**pod.env, "AWS_ENDPOINT_URL": pod.moto.url})
    assert done.returncode == 0 and "cli-bucket" in done.stdout, done.stderr


def test_node_aws_sdk_default_chain(pod: Pod, node_dir: Path) -> None:
    result = _node(node_dir, {**pod.env, "AWS_ENDPOINT_URL_STS": pod.moto.url}, "aws-caller-identity.mjs")
    assert result["Account"] == "123456789012" and result["accessKeyId"].startswith(("ASIA", "FSIA"))


# -- Google Cloud ------------------------------------------------------------------------------------------------


def test_google_cloud_storage_on_compute_engine_credentials(pod: Pod, gcs: FakeGcsServer) -> None:
    code = (
        "import google.auth; from google.cloud import storage\n"
        f"client = storage.Client(client_options={{'api_endpoint': {gcs.url!r}}})\n"
        "client.create_bucket('broker-bucket').blob('hello.txt').upload_from_string(b'hello')\n"
        "creds = client._credentials\n"
        "print(type(creds).__module__, client.project, creds.service_account_email, creds.token,\n"
        "      [b.name for b in client.list_blobs('broker-bucket')])"
    )
    module, project, email, token, names = _python(pod.env, code).split(maxsplit=4)
    assert (module, project, email, names) == ("google.auth.compute_engine.credentials", "my-project", SA,
                                               "['hello.txt']")  # fmt: skip
    assert token in pod.google.issued and pod.google.issued[token].service_account == SA  # a real IAM token


def test_id_token_through_the_metadata_path_verifies(pod: Pod) -> None:
    code = (
        "from google.auth import compute_engine; from google.auth.transport.requests import Request\n"
        "creds = compute_engine.IDTokenCredentials(Request(), 'https://app.example.com', "
        "use_metadata_identity_endpoint=True)\n"
        "creds.refresh(Request()); print(creds.token)"
    )
    token = _python(pod.env, code)
    certs = f"{pod.google.url}{CERTS_PATH}"
    claims = ga_id_token.verify_token(token, Request(), audience="https://app.example.com", certs_url=certs)
    assert claims["aud"] == "https://app.example.com" and claims["iss"] == "https://accounts.google.com"


def test_node_google_auth_library(pod: Pod, node_dir: Path) -> None:
    access = _node(node_dir, pod.env, "google-token.mjs")
    assert (access["client"], access["projectId"]) == ("Compute", "my-project")
    assert pod.google.issued[access["token"]].service_account == SA
    identity = _node(node_dir, pod.env, "google-token.mjs", "https://node.example.com")
    certs = f"{pod.google.url}{CERTS_PATH}"
    claims = ga_id_token.verify_token(identity["idToken"], Request(), audience="https://node.example.com",
                                      certs_url=certs)  # fmt: skip
    assert claims["email"] == SA  # Node asks format=full


# -- Azure -------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def azurite_blob(request: pytest.FixtureRequest) -> tuple[str, str]:
    """Azurite's (account URL, CA file), or a skip naming what is missing."""
    if test_azure_azurite.AZURITE is None:
        pytest.skip("azurite-blob (npm package azurite, installed by make test) is not installed")
    return request.getfixturevalue("azurite")  # type: ignore[no-any-return]


def test_azure_blob_on_managed_identity(pod: Pod, azurite_blob: tuple[str, str]) -> None:
    url, ca = azurite_blob
    code = (
        "from azure.identity import ManagedIdentityCredential; from azure.storage.blob import BlobServiceClient\n"
        f"client = BlobServiceClient({url!r}, credential=ManagedIdentityCredential(), connection_verify={ca!r})\n"
        "container = client.create_container('broker')\n"
        "container.upload_blob('hello.txt', b'hello from the broker')\n"
        "print(container.download_blob('hello.txt').readall().decode())"
    )
    assert _python(pod.env, code) == "hello from the broker"


@pytest.mark.parametrize("kind", ["managed", "default"])
def test_node_azure_identity(pod: Pod, node_dir: Path, kind: str) -> None:
    result = _node(node_dir, pod.env, "azure-token.mjs", f"{STORAGE}/.default", kind)
    assert result["token"] in pod.entra.issued
    assert result["expiresOnTimestamp"] / 1000 - time.time() > 3000


# -- many clients, outages ------------------------------------------------------------------------------------

#: One client per cloud, each with its SDK's own provider chain: the credential it got, on stdout.
CLIENTS = {
    "aws": "import botocore.session; print(botocore.session.get_session().get_credentials().get_frozen_credentials()"
    ".access_key)",
    "gcp": "import google.auth; from google.auth.transport.requests import Request; "
    f"creds, _ = google.auth.default(scopes=[{CLOUD_PLATFORM!r}]); creds.refresh(Request()); print(creds.token)",
    "azure": "from azure.identity import ManagedIdentityCredential; "
    f"print(ManagedIdentityCredential().get_token({STORAGE!r} + '/.default').token)",
}


def _clients(pod: Pod, count: int) -> dict[str, set[str]]:
    """``count`` client processes at once, taking turns among the clouds; what each cloud's clients got."""
    clouds = [list(CLIENTS)[i % len(CLIENTS)] for i in range(count)]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", CLIENTS[cloud]], env=pod.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for cloud in clouds
    ]
    got: dict[str, set[str]] = {cloud: set() for cloud in CLIENTS}
    for cloud, process in zip(clouds, processes, strict=True):
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err.decode()[-2000:]
        got[cloud].add(out.decode().strip())
    return got


def test_twenty_processes_one_exchange_per_cloud(pod: Pod) -> None:
    got = _clients(pod, 20)
    assert all(len(values) == 1 for values in got.values()), "clients of one cloud got different credentials"
    assert _exchanges(pod) == (1, 1, 1)


def test_an_outage_of_every_token_service_fails_no_client_call(pod: Pod) -> None:
    with pod.moto.sts_outage(), pod.google.server.outage(), pod.entra.outage():
        _clients(pod, 3)  # each asserts its process succeeded
        assert httpx.get(f"{pod.broker.url}/readyz").status_code == 200
    assert _exchanges(pod) == (1, 1, 1)


def test_metrics_and_probes(pod: Pod) -> None:
    assert httpx.get(f"{pod.broker.url}/healthz").text == "ok\n"
    assert httpx.get(f"{pod.broker.url}/readyz").text == "ready\n"
    broker = pod.broker
    for provider in ("aws", "azure"):
        assert broker.metric("cfke_broker_exchanges_total", provider=provider) == 1
    assert broker.metric("cfke_broker_exchanges_total", provider="gcp") >= 1  # the access token, ID tokens too
    left = broker.metric("cfke_broker_credential_expiry_seconds", provider="aws", credential=ROLE)
    assert 0 < left <= 3600
    httpx.get(f"{broker.url}/aws/credentials")  # refused: counted by status
    assert broker.metric("cfke_broker_requests_total", endpoint="aws", status="401") >= 1
    assert broker.metric("cfke_broker_requests_total", endpoint="aws", status="200") >= 8  # 7 + 1 AWS clients above


# -- refusals -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "headers", "status", "body"),
    [
        ("/aws/credentials", {}, 401, {"Code": "AccessDenied"}),
        ("/aws/credentials", {"Authorization": "guess"}, 401, {"Code": "AccessDenied"}),
        ("/msi/token?api-version=2019-08-01&resource=https://storage.azure.com", {}, 401, {"statusCode": 401}),
        ("/msi/token?api-version=2019-08-01&resource=https://storage.azure.com", {"X-IDENTITY-HEADER": "guess"},
         401, {"statusCode": 401}),
        ("/msi/token?api-version=2017-09-01&resource=https://storage.azure.com", "azure", 400, {"statusCode": 400}),
        ("/msi/token?api-version=2019-08-01", "azure", 400, {"statusCode": 400}),
        ("/msi/token?api-version=2019-08-01&resource=https://storage.azure.com&client_id=other", "azure", 400,
         {"statusCode": 400}),
        ("/msi/token?api-version=2019-08-01&resource=https://storage.azure.com&mi_res_id=x", "azure", 400,
         {"statusCode": 400}),
    ],
    ids=["aws-missing", "aws-wrong", "azure-missing", "azure-wrong", "azure-api-version", "azure-no-resource",
         "azure-client-id", "azure-mi-res-id"],
)  # fmt: skip
def test_secret_and_parameter_refusals(pod: Pod, path: str, headers: Any, status: int, body: dict[str, Any]) -> None:
    if headers == "azure":
        headers = {"X-IDENTITY-HEADER": pod.broker.secret("azure-identity-header")}
    answer = httpx.get(f"{pod.broker.url}{path}", headers=headers)
    assert answer.status_code == status and answer.json().items() >= body.items()
    secrets = [pod.broker.secret("azure-identity-header"), pod.broker.secret("aws-container-authorization-token")]
    assert_no_secrets(secrets, answer.text)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Metadata-Flavor": "google"}, {**FLAVOR, "X-Forwarded-For": "10.0.0.7"}],
    ids=["no-flavor", "wrong-flavor", "forwarded"],
)
@pytest.mark.parametrize("path", ["/", TOKEN_PATH, f"{GCE}/project/project-id"])
def test_metadata_ssrf_rules(pod: Pod, path: str, headers: dict[str, str]) -> None:
    answer = httpx.get(f"{pod.broker.url}{path}", headers=headers)
    assert answer.status_code == 403 and answer.headers["metadata-flavor"] == "Google"
    assert "access_token" not in answer.text


def test_metadata_answers(pod: Pod) -> None:
    base = pod.broker.url

    def get(path: str, **params: str) -> httpx.Response:
        return httpx.get(f"{base}{path}", headers=FLAVOR, params=params)

    token = get(TOKEN_PATH, scopes=CLOUD_PLATFORM)
    assert token.headers["content-type"].startswith("application/json") and token.headers["metadata-flavor"] == "Google"
    assert isinstance(token.json()["expires_in"], int) and token.json()["token_type"] == "Bearer"
    by_email = get(f"{GCE}/instance/service-accounts/{SA}/", recursive="true").json()
    assert by_email == {"aliases": ["default"], "email": SA, "scopes": [CLOUD_PLATFORM]}
    assert get(f"{GCE}/project/numeric-project-id").text == "123456789012"
    assert get(f"{GCE}/universe/universe-domain").text == "googleapis.com"
    assert get(f"{GCE}/instance/service-accounts/other@x.iam.gserviceaccount.com/token").status_code == 404
    assert get(f"{GCE}/instance/service-accounts/default/identity").status_code == 400  # no audience
    assert get(TOKEN_PATH, scopes="not a scope").status_code == 400
    unknown = get(f"{GCE}/instance/attributes/nothing")
    assert unknown.status_code == 404 and unknown.headers["metadata-flavor"] == "Google"
    assert httpx.post(f"{base}{TOKEN_PATH}", headers=FLAVOR).status_code == 405
    assert httpx.get(f"{base}/nothing").status_code == 404


def test_oversize_request_lines_and_headers_are_refused(pod: Pod) -> None:
    long_path = httpx.get(f"{pod.broker.url}/healthz?{'x' * 5000}")
    big_header = httpx.get(f"{pod.broker.url}/healthz", headers={"X-Filler": "x" * 5000})
    many = httpx.get(f"{pod.broker.url}/healthz", headers={f"X-H{i}": "1" for i in range(40)})
    assert (long_path.status_code, big_header.status_code, many.status_code) == (400, 400, 400)
    assert "Traceback" not in long_path.text + big_header.text + many.text


def test_log_has_one_line_per_exchange_and_no_secret(pod: Pod) -> None:
    text = pod.broker.text()
    issued = [line for line in text.splitlines() if "credential issued" in line]
    assert len(issued) == sum(
        pod.broker.metric("cfke_broker_exchanges_total", provider=p) for p in ("aws", "gcp", "azure")
    )
    secrets = [pod.broker.secret("azure-identity-header"), pod.broker.secret("aws-container-authorization-token")]
    secrets += list(pod.google.issued) + pod.entra.issued
    assert_no_secrets(secrets, text)
