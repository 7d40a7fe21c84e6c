"""pytest plugin (entry point ``pytest11``): a loopback issuer and a kubelet-style token file per test.

``cfke_token_file`` points ``CFKE_TOKEN_FILE``, ``AWS_WEB_IDENTITY_TOKEN_FILE`` and ``AZURE_FEDERATED_TOKEN_FILE``
at the file, so code under test finds it the way it would in a pod. Tune the token with the marker::

    @pytest.mark.cfke_token(namespace="shop", service_account="api", audience="sts.amazonaws.com")
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from .aws import FakeSts, MotoServer
from .issuer import OidcIssuer
from .token_file import TokenFile

if TYPE_CHECKING:  # the fakes below are loaded on use: a plugin user who needs one cloud needs no other's modules
    from .entra import FakeEntra
    from .gcp import GoogleFake

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


# -- AWS: a fake STS per test and moto's server per session (see cfke_auth.testing.aws) -------------------------


@pytest.fixture
def cfke_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No AWS setting from the developer's shell or ``~/.aws`` leaks into the test: every ``AWS_*`` variable cleared
    (but the token file ``cfke_token_file`` set), config and credentials files pointed at empty files, and the
    ``credential-process`` cache (``$XDG_CACHE_HOME``) at an empty directory of the test's own."""
    for name in [n for n in os.environ if n.startswith("AWS_") and n != "AWS_WEB_IDENTITY_TOKEN_FILE"]:
        monkeypatch.delenv(name)
    config = tmp_path_factory.mktemp("aws-config")
    empty = config / "empty"
    empty.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("XDG_CACHE_HOME", str(config / "cache"))


@pytest.fixture
def cfke_fake_sts() -> Iterator[FakeSts]:
    """A loopback STS answering ``AssumeRoleWithWebIdentity`` in real STS XML; ``fail_with(code)`` to refuse."""
    with FakeSts() as sts:
        yield sts


@pytest.fixture(scope="session")
def cfke_moto() -> Iterator[MotoServer]:
    """moto's server on loopback (STS, S3 and the rest), shared by the session; ``.url``, ``.sts_calls``."""
    with MotoServer() as server:
        yield server


# -- Google Cloud ---------------------------------------------------------------------------------------------------


@pytest.fixture
def cfke_google(
    cfke_issuer: OidcIssuer, cfke_token_file: TokenFile, request: pytest.FixtureRequest
) -> Iterator[GoogleFake]:
    """A running :class:`~cfke_auth.testing.gcp.GoogleFake` trusting ``cfke_issuer`` and reading ``cfke_token_file``,
    whose token gets the provider's audience unless the ``cfke_token`` marker sets one.
    ``get_gcp_credentials(**cfke_google.credential_kwargs())`` talks to it."""
    from .gcp import GoogleFake  # loaded on use: the other fixtures' users need none of the GCP modules

    fake = GoogleFake(cfke_issuer, cfke_token_file.path)
    marker = request.node.get_closest_marker("cfke_token")
    if not (marker and "audience" in marker.kwargs):
        cfke_token_file.rotate(audience=fake.provider.audience)
    with fake:
        yield fake


# -- Azure: a loopback Entra ID token endpoint ------------------------------------------------------------------------

ENTRA_TENANT_ID = "72f988bf-0000-4000-8000-00000000c0de"
ENTRA_CLIENT_ID = "0c1d2e3f-0000-4000-8000-0000000a9901"


@pytest.fixture
def cfke_entra(
    cfke_token_file: TokenFile, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeEntra]:
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
