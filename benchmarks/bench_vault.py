"""Vault figures against a real OpenBao dev server (``bao server -dev``), beside hvac's own JWT login
(``client.auth.jwt.jwt_login``) on the same server in the same run: the current token on the hot path, a client per
request with its token, and logins under a 64-thread cold start. Without the ``bao`` binary the module yields no
rows and says why on stderr."""

from __future__ import annotations

import itertools
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator

import hvac
from harness import Row, at_most, count, per_call_us, ratio

import cfke_auth
from cfke_auth.testing import OidcIssuer, OpenBaoServer, ServerUnavailable, TokenFile

SUBJECT = "system:serviceaccount:bench:app"
ANCHOR = "hvac Client + jwt_login"


class Bench:
    """A dev server trusting a loopback issuer, and a token file for ``SUBJECT`` with audience ``vault``."""

    def __init__(self, bao: OpenBaoServer, token_file: TokenFile) -> None:
        self.bao = bao
        self.token_file = token_file
        self._roles = itertools.count()

    def role(self) -> str:
        """A new role, so that cfke-auth starts cold (its credential is shared per role)."""
        name = f"bench-{next(self._roles)}"
        self.bao.jwt_role(name, bound_audiences=["vault"], bound_subject=SUBJECT)
        return name

    def ours(self, role: str) -> hvac.Client:
        return cfke_auth.get_vault_client(role, url=self.bao.url, token_path=self.token_file.path)

    def theirs(self, role: str) -> hvac.Client:
        client = hvac.Client(url=self.bao.url)
        client.auth.jwt.jwt_login(role=role, jwt=self.token_file.token)
        return client

    def logins_during(self, action: Callable[[], object]) -> int:
        before = self.bao.token_count()
        action()
        return self.bao.token_count() - before


def _stampede(get_token: Callable[[], str], threads: int = 64) -> None:
    barrier = threading.Barrier(threads)

    def work() -> None:
        barrier.wait()
        get_token()

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def rows() -> Iterator[Row]:
    try:
        bao = OpenBaoServer().start()
    except ServerUnavailable as exc:
        print(f"bench_vault: no rows, {exc}", file=sys.stderr)
        return
    with bao, OidcIssuer() as issuer, tempfile.TemporaryDirectory() as tmp:
        bao.trust_issuer(issuer)
        token_file = TokenFile(tmp, issuer, namespace="bench", service_account="app", audience="vault")
        token_file.rotate()
        yield from _compare(Bench(bao, token_file))


def _compare(bench: Bench) -> Iterator[Row]:
    role = bench.role()
    ours, theirs = bench.ours(role), bench.theirs(role)
    assert ours.token != theirs.token  # both logged in
    yield Row(
        "Vault current token (client.token), hot",
        per_call_us(lambda: ours.token),
        per_call_us(lambda: theirs.token),
        "hvac client.token after jwt_login, a plain attribute never renewed",
        "us",
        at_most(1),
    )
    yield Row(
        "Vault client per request, with its token",
        per_call_us(lambda: bench.ours(role).token, calls=500),
        per_call_us(lambda: bench.theirs(role).token, calls=100),
        ANCHOR,
        "us",
        ratio(0.1),
    )
    cold = bench.role()
    yield Row(
        "Vault logins, 64 threads, cold",
        bench.logins_during(lambda: _stampede(lambda: bench.ours(cold).token)),
        bench.logins_during(lambda: _stampede(lambda: bench.theirs(cold).token)),
        ANCHOR,
        "",
        count(1),
    )
