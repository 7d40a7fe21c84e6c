"""The credential inside azure-core's own pipeline, as every Azure SDK client uses it."""

from __future__ import annotations

from azure.core.pipeline import AsyncPipeline, Pipeline
from azure.core.pipeline.policies import AsyncBearerTokenCredentialPolicy, BearerTokenCredentialPolicy
from azure.core.pipeline.transport import AioHttpTransport, RequestsTransport
from azure.core.rest import HttpRequest

import cfke_auth
from cfke_auth.testing import LoopbackServer, RecordedRequest, Reply
from cfke_auth.testing.entra import FakeEntra

STORAGE = "https://storage.azure.com/.default"


def _resource_server() -> LoopbackServer:
    def blob(request: RecordedRequest) -> Reply:
        return Reply.text("hello", 200 if request.headers.get("authorization", "").startswith("Bearer ") else 401)

    return LoopbackServer({("GET", "/container/blob.txt"): blob}).start()


def test_bearer_token_policy_sends_the_token(cfke_entra: FakeEntra):
    resource = _resource_server()
    policy = BearerTokenCredentialPolicy(cfke_auth.get_azure_credential(), STORAGE)
    try:
        with Pipeline(transport=RequestsTransport(), policies=[policy]) as pipeline:
            for _ in range(3):
                response = pipeline.run(
                    HttpRequest("GET", f"{resource.url}/container/blob.txt"), enforce_https=False
                ).http_response
                assert response.status_code == 200
    finally:
        resource.stop()
    headers = [r.headers["authorization"] for r in resource.requests]
    assert headers == [f"Bearer {cfke_entra.issued[0]}"] * 3
    assert len(cfke_entra.token_requests()) == 1


async def test_async_bearer_token_policy_sends_the_token(cfke_entra: FakeEntra):
    resource = _resource_server()
    policy = AsyncBearerTokenCredentialPolicy(cfke_auth.get_azure_credential_async(), STORAGE)
    try:
        async with AsyncPipeline(transport=AioHttpTransport(), policies=[policy]) as pipeline:
            for _ in range(3):
                result = await pipeline.run(
                    HttpRequest("GET", f"{resource.url}/container/blob.txt"), enforce_https=False
                )
                assert result.http_response.status_code == 200
    finally:
        resource.stop()
    headers = [r.headers["authorization"] for r in resource.requests]
    assert headers == [f"Bearer {cfke_entra.issued[0]}"] * 3
    assert len(cfke_entra.token_requests()) == 1
