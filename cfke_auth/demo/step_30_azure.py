"""Demo step: the pod token exchanged with a loopback Entra ID, and an azure-core pipeline using the result."""

from __future__ import annotations

import tempfile
import threading

from .._errors import ExchangeError
from ..azure import get_azure_credential
from ..azure.settings import AZURE_AUDIENCE
from ..testing import LoopbackServer, RecordedRequest, Reply, TokenFile
from ..testing.entra import FakeEntra
from . import Context, say

TENANT = "72f988bf-0000-4000-8000-0000000de300"
CLIENT = "0c1d2e3f-0000-4000-8000-0000000de300"
SCOPE = "https://storage.azure.com/.default"


def _refused(ctx: Context) -> None:
    with FakeEntra(TENANT, CLIENT, ctx.token_file.path) as entra:
        credential = get_azure_credential(TENANT, CLIENT, token_path=ctx.token_file.path, authority_host=entra.url)
        try:
            credential.get_token(SCOPE)
        except ExchangeError as exc:
            say("Azure: the default (year-long) token is refused", *str(exc).splitlines())


def _blob_server() -> LoopbackServer:
    def blob(request: RecordedRequest) -> Reply:
        ok = request.headers.get("authorization", "").startswith("Bearer ")
        return Reply.text("hello from blob storage" if ok else "no token", 200 if ok else 401)

    return LoopbackServer({("GET", "/demo/hello.txt"): blob}).start()


def run(ctx: Context) -> None:
    from azure.core.pipeline import Pipeline
    from azure.core.pipeline.policies import BearerTokenCredentialPolicy
    from azure.core.pipeline.transport import RequestsTransport
    from azure.core.rest import HttpRequest

    _refused(ctx)
    with tempfile.TemporaryDirectory(prefix="cfke-demo-azure-") as tmp:
        projected = TokenFile(tmp, ctx.issuer, namespace="shop", service_account="checkout", audience=AZURE_AUDIENCE)
        projected.rotate()
        with FakeEntra(TENANT, CLIENT, projected.path) as entra:
            credential = get_azure_credential(TENANT, CLIENT, token_path=projected.path, authority_host=entra.url)
            threads = [threading.Thread(target=credential.get_token, args=(SCOPE,)) for _ in range(32)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            token = credential.get_token(SCOPE)
            blob = _blob_server()
            policy = BearerTokenCredentialPolicy(credential, SCOPE)
            with Pipeline(transport=RequestsTransport(), policies=[policy]) as pipeline:
                request = HttpRequest("GET", f"{blob.url}/demo/hello.txt")
                response = pipeline.run(request, enforce_https=False).http_response  # loopback: plain http
            blob.stop()
            say(
                "Azure: a projected token (audience api://AzureADTokenExchange, 1 h) exchanged with Entra ID",
                f"32 threads asked at once; Entra ID saw {len(entra.token_requests())} request",
                f"access token for {SCOPE}: {len(token.token)} characters, {token!r}",
                f"azure-core BearerTokenCredentialPolicy -> GET /demo/hello.txt: {response.status_code} "
                f"{response.text()!r}",
            )
