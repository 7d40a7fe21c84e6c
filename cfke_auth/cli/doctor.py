"""``cfke-auth doctor``: check what a pod needs for keyless credentials and say what to fix.

Each check yields findings (ok / warn / fail) with a one-line explanation and, when something is wrong, the fix.
The command exits 1 when any check fails, so it can gate a deployment or an init container.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Iterator
from typing import Any, NamedTuple

from .._claims import TokenClaims
from .._errors import CfkeAuthError
from .._source import TokenSource, resolve_token_path
from ..azure.settings import AZURE_AUDIENCE
from ._format import duration, print_json

#: Entra ID refuses assertions that live longer than this (AADSTS70023); Google STS documents 48 hours.
AZURE_MAX_LIFETIME = 24 * 3600


class Finding(NamedTuple):
    """One line of the report."""

    status: str  # "ok", "warn" or "fail"
    check: str
    detail: str


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "doctor", help="check the pod's token and cloud settings, and say what to fix", description=__doc__
    )
    parser.add_argument("--path", help="token file (default: $CFKE_TOKEN_FILE, then the projected path)")
    parser.add_argument("--offline", action="store_true", help="skip verifying the token against its issuer")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=run)


def _token_findings(claims: TokenClaims, path: str) -> Iterator[Finding]:
    now = time.time()
    yield Finding("ok", "token", f"{path}: {claims.subject}, issued by {claims.issuer}")
    end = claims.lifetime_end.timestamp()
    limit = "warnafter" if claims.warn_after else "exp"
    if now < end:
        yield Finding("ok", "freshness", f"fresh for {duration(end - now)} more (until its {limit})")
    else:
        yield Finding(
            "warn",
            "freshness",
            f"{duration(now - end)} past its {limit} and not rotated: check the kubelet on this node",
        )
    if claims.cluster_id is None:
        yield Finding("warn", "issuer", "the issuer is not a CFKE cluster issuer URL (…/v1/clusters/ID)")


def _verify_findings(token: str, path: str) -> Iterator[Finding]:
    from .._verify import verify_token

    try:
        verify_token(token, path=path)
    except CfkeAuthError as exc:
        yield Finding("fail", "signature", f"{exc}")
        return
    yield Finding("ok", "signature", "verifies against the issuer's published keys")


def _cloud_token(check: str, setting: str, token_variable: str) -> tuple[str, TokenClaims] | Finding | None:
    """The token file a cloud's SDK settings point at and its claims; a failing finding when it is unusable; None
    when ``setting`` is not in the environment (the pod does not use that cloud)."""
    if not os.environ.get(setting):
        return None
    path = resolve_token_path(None, token_variable)
    try:
        return path, TokenSource(path).claims()
    except CfkeAuthError as exc:
        return Finding("fail", check, f"{setting} is set but its token is unusable: {exc}")


def _azure_findings() -> Iterator[Finding]:
    found = _cloud_token("azure", "AZURE_CLIENT_ID", "AZURE_FEDERATED_TOKEN_FILE")
    if isinstance(found, Finding):
        yield found
        return
    if found is None:
        return
    path, claims = found
    issued = claims.issued_at.timestamp() if claims.issued_at else time.time()
    problems = []
    if AZURE_AUDIENCE not in claims.audiences:
        problems.append(f"its audience is {', '.join(claims.audiences)}, not {AZURE_AUDIENCE}")
    if claims.expires_at.timestamp() - issued > AZURE_MAX_LIFETIME:
        problems.append("it lives longer than a day, which Entra ID refuses (AADSTS70023)")
    if problems:
        yield Finding(
            "fail",
            "azure",
            f"token {path}: {'; '.join(problems)}. Fix: mount a projected serviceAccountToken with audience "
            f"{AZURE_AUDIENCE} and expirationSeconds 3600, and point AZURE_FEDERATED_TOKEN_FILE at it "
            "('cfke-auth azure token-volume' prints the snippet)",
        )
    else:
        yield Finding("ok", "azure", f"token {path} is a projected token for {AZURE_AUDIENCE}")


def _aws_findings() -> Iterator[Finding]:
    found = _cloud_token("aws", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE")
    if isinstance(found, Finding):
        yield found
        return
    if found is None:
        return
    _, claims = found
    yield Finding(
        "ok",
        "aws",
        f"role {os.environ['AWS_ROLE_ARN']}; the IAM OIDC provider for {claims.issuer} must list the audience "
        f"{', '.join(claims.audiences)} and the role's trust policy the subject {claims.subject}",
    )


def findings(path: str | None, *, offline: bool) -> list[Finding]:
    """Every check's findings for the token at ``path`` and the cloud settings in the environment."""
    source = TokenSource(path)
    try:
        claims = source.claims()
    except CfkeAuthError as exc:
        return [Finding("fail", "token", str(exc))]
    report = list(_token_findings(claims, source.path))
    if not offline:
        report += _verify_findings(source.token(), source.path)
    report += _aws_findings()
    report += _azure_findings()
    return report


def run(args: argparse.Namespace) -> int:
    report = findings(args.path, offline=args.offline)
    if args.json:
        print_json([f._asdict() for f in report])
    else:
        for finding in report:
            print(f"[{finding.status:>4}] {finding.check:<10} {finding.detail}")
    return 1 if any(f.status == "fail" for f in report) else 0
