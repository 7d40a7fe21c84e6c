"""A real ``azure-storage-blob`` client, sync and async, against Azurite with ``--oauth basic`` over HTTPS.

Azurite (``npm install -g azurite``) checks the bearer token's issuer, audience and lifetime the way Azure Storage
does. The tests are skipped when ``azurite-blob`` is not on ``PATH`` (or named by ``$AZURITE_BLOB``).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import cfke_auth
from cfke_auth.testing.entra import FakeEntra

AZURITE = os.environ.get("AZURITE_BLOB") or shutil.which("azurite-blob")
pytestmark = pytest.mark.skipif(AZURITE is None, reason="azurite-blob (npm package azurite) is not installed")
blob = pytest.importorskip("azure.storage.blob")


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(account URL, CA file) of a running Azurite blob service with OAuth over HTTPS."""
    assert AZURITE is not None
    work = tmp_path_factory.mktemp("azurite")
    cert, key = _self_signed(work)
    port = _free_port()
    args = [AZURITE, "--blobHost", "127.0.0.1", "--blobPort", str(port), "--oauth", "basic",
            "--cert", str(cert), "--key", str(key), "--location", str(work),
            "--silent", "--skipApiVersionCheck", "--disableTelemetry"]  # fmt: skip
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"Azurite did not start: {process.stderr.read().decode() if process.stderr else ''}")
                time.sleep(0.1)
        yield f"https://127.0.0.1:{port}/devstoreaccount1", str(cert)
    finally:
        process.terminate()
        process.wait(10)


def test_blob_client_round_trip(cfke_entra: FakeEntra, azurite: tuple[str, str]):
    url, ca = azurite
    client = blob.BlobServiceClient(url, credential=cfke_auth.get_azure_credential(), connection_verify=ca)
    container = client.create_container("sync-round-trip")
    container.upload_blob("hello.txt", b"hello from a CFKE pod")
    assert container.download_blob("hello.txt").readall() == b"hello from a CFKE pod"
    assert [b.name for b in container.list_blobs()] == ["hello.txt"]
    assert len(cfke_entra.token_requests()) == 1


async def test_async_blob_client_round_trip(cfke_entra: FakeEntra, azurite: tuple[str, str]):
    from azure.storage.blob.aio import BlobServiceClient

    url, ca = azurite
    credential = cfke_auth.get_azure_credential_async()
    async with BlobServiceClient(url, credential=credential, connection_verify=ca) as client:
        container = await client.create_container("async-round-trip")
        await container.upload_blob("hello.txt", b"hello from asyncio")
        download = await container.download_blob("hello.txt")
        assert await download.readall() == b"hello from asyncio"
    assert len(cfke_entra.token_requests()) == 1


def test_azurite_refuses_a_token_for_another_audience(cfke_entra: FakeEntra, azurite: tuple[str, str]):
    from azure.core.exceptions import ClientAuthenticationError

    url, ca = azurite

    class _WrongAudience:
        def get_token(self, *scopes: str, **kwargs: object) -> object:
            return cfke_auth.get_azure_credential().get_token("https://vault.azure.net/.default")

    client = blob.BlobServiceClient(url, credential=_WrongAudience(), connection_verify=ca)
    with pytest.raises(ClientAuthenticationError):
        client.create_container("refused")
