"""pytest plugin (entry point ``pytest11``): a loopback issuer and a kubelet-style token file per test.

``cfke_token_file`` points ``CFKE_TOKEN_FILE``, ``AWS_WEB_IDENTITY_TOKEN_FILE`` and ``AZURE_FEDERATED_TOKEN_FILE``
at the file, so code under test finds it the way it would in a pod. Tune the token with the marker::

    @pytest.mark.cfke_token(namespace="shop", service_account="api", audience="sts.amazonaws.com")
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .issuer import OidcIssuer
from .token_file import TokenFile

TOKEN_FILE_VARIABLES = ("CFKE_TOKEN_FILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AZURE_FEDERATED_TOKEN_FILE")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "cfke_token(**knobs): keyword arguments for OidcIssuer.issue() used by the cfke_token_file fixture",
    )


@pytest.fixture(scope="session")
def cfke_issuer() -> Iterator[OidcIssuer]:
    """A running loopback OIDC issuer, shared by the session."""
    with OidcIssuer() as issuer:
        yield issuer


@pytest.fixture
def cfke_token_file(
    cfke_issuer: OidcIssuer,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> TokenFile:
    """A fresh token file with a token from ``cfke_issuer``; ``rotate()`` swaps in a new one."""
    marker = request.node.get_closest_marker("cfke_token")
    token_file = TokenFile(tmp_path_factory.mktemp("serviceaccount"), cfke_issuer, **(marker.kwargs if marker else {}))
    token_file.rotate()
    for name in TOKEN_FILE_VARIABLES:
        monkeypatch.setenv(name, token_file.path)
    return token_file


# -- Azure: a loopback Entra ID token endpoint ------------------------------------------------------------------------

ENTRA_TENANT_ID = "72f988bf-0000-4000-8000-00000000c0de"
ENTRA_CLIENT_ID = "0c1d2e3f-0000-4000-8000-0000000a9901"


@pytest.fixture
def cfke_entra(
    cfke_token_file: TokenFile, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    """A running :class:`~cfke_auth.testing.entra.FakeEntra` trusting ``cfke_token_file``'s token, with
    ``AZURE_TENANT_ID``, ``AZURE_CLIENT_ID`` and ``AZURE_AUTHORITY_HOST`` pointing at it.

    The token file is re-issued with audience ``api://AzureADTokenExchange`` unless the ``cfke_token`` marker sets
    an audience (to test a mismatch).
    """
    from .entra import AZURE_AUDIENCE, FakeEntra

    marker = request.node.get_closest_marker("cfke_token")
    if not (marker and "audience" in marker.kwargs):
        cfke_token_file.rotate(audience=AZURE_AUDIENCE)
    with FakeEntra(ENTRA_TENANT_ID, ENTRA_CLIENT_ID, cfke_token_file.path) as fake:
        monkeypatch.setenv("AZURE_TENANT_ID", ENTRA_TENANT_ID)
        monkeypatch.setenv("AZURE_CLIENT_ID", ENTRA_CLIENT_ID)
        monkeypatch.setenv("AZURE_AUTHORITY_HOST", fake.url)
        yield fake
