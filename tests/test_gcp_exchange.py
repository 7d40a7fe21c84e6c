"""The exchange flow is sans-IO: stepped by hand with canned answers, it asks for exactly the two requests."""

from __future__ import annotations

from urllib.parse import parse_qs

import httpx
import pytest
import time_machine

from cfke_auth import TokenSource
from cfke_auth._flow import SUBJECT_TOKEN
from cfke_auth._protocol import Context
from cfke_auth.gcp.names import WorkloadProvider
from cfke_auth.gcp.protocol import build_iam_request, exchange_flow, parse_iam_response
from cfke_auth.gcp.settings import IAM_SCOPE, GcpSettings

PROVIDER = WorkloadProvider("123456789012", "cfke", "cfke")
SCOPES = ("https://www.googleapis.com/auth/devstorage.read_only",)
SA = "reader@shop-prod.iam.gserviceaccount.com"


def test_direct_access_is_one_sts_request() -> None:
    flow = exchange_flow(GcpSettings(PROVIDER, SCOPES, TokenSource(), sts_url="https://sts.example"))
    assert next(flow) is SUBJECT_TOKEN
    request = flow.send("pod.jwt.token")
    assert isinstance(request, httpx.Request)
    assert (request.method, str(request.url)) == ("POST", "https://sts.example/v1/token")
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    with pytest.raises(StopIteration) as done:
        flow.send(httpx.Response(200, json={"access_token": "fed", "expires_in": 3600}))
    assert done.value.value.value.token == "fed"


def test_impersonation_chains_iam_after_sts() -> None:
    flow = exchange_flow(GcpSettings(PROVIDER, SCOPES, TokenSource(), SA, iam_url="https://iam.example"))
    next(flow)
    sts = flow.send("pod.jwt.token")
    assert isinstance(sts, httpx.Request)
    assert parse_qs(sts.content.decode())["scope"] == [IAM_SCOPE]
    iam = flow.send(httpx.Response(200, json={"access_token": "fed", "expires_in": 3600}))
    assert isinstance(iam, httpx.Request)
    assert str(iam.url) == f"https://iam.example/v1/projects/-/serviceAccounts/{SA}:generateAccessToken"
    assert iam.headers["authorization"] == "Bearer fed"
    answer = {"accessToken": "sa-token", "expireTime": "2030-01-01T00:00:00Z"}
    with time_machine.travel(1893456000.0 - 3600, tick=False), pytest.raises(StopIteration) as done:
        flow.send(httpx.Response(200, json=answer))
    issued = done.value.value
    assert (issued.value.token, issued.expires_at) == ("sa-token", 1893456000.0)
    assert "sa-token" not in repr(issued.value)


def test_iam_expiry_is_carried_over_to_the_local_clock() -> None:
    """Google's clock says the token lives 3600 s more; this machine's clock is a day ahead of Google's."""
    settings = GcpSettings(PROVIDER, SCOPES, TokenSource(), SA, iam_url="https://iam.example")
    request = build_iam_request(settings, "fed")
    answer = {"accessToken": "sa-token", "expireTime": "2030-01-01T01:00:00Z"}
    headers = {"Date": "Tue, 01 Jan 2030 00:00:00 GMT"}
    now = 1893456000.0 + 86400
    context = Context.of(settings, str(request.url), "t", "fed")
    issued = parse_iam_response(httpx.Response(200, json=answer, headers=headers), context, now=now)
    assert issued.expires_at == now + 3600
