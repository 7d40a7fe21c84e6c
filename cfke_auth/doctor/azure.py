"""Azure: tenant and client ids, the token at ``AZURE_FEDERATED_TOKEN_FILE`` (audience and lifetime Entra ID accept),
the federated identity credential it needs; one exchange on demand.

Azure counts as configured when any of ``AZURE_CLIENT_ID``, ``AZURE_TENANT_ID`` or ``AZURE_FEDERATED_TOKEN_FILE`` is
set (what AKS workload identity and ``cfke-auth inject`` write, and what azure-identity reads).
"""

from __future__ import annotations

import os
import re

from .._claims import TokenClaims
from .._errors import ConfigurationError, ExchangeError
from .._source import resolve_token_path
from ..azure.errors import NO_MATCH_CODES
from ..azure.settings import AZURE_AUDIENCE, EntraSettings, resolve
from .findings import CloudSide, Finding, duration, exchange_failure, lifetime, read_claims

__all__ = ["CHECK", "EXCHANGE_SCOPE", "cloud_side", "configured", "findings", "token_path"]

CHECK = "azure"
TOKEN_VARIABLE = "AZURE_FEDERATED_TOKEN_FILE"
#: Entra ID refuses assertions living longer than about a day (AADSTS70023).
MAX_LIFETIME = 24 * 3600
#: The scope the doctor's one exchange asks for: Azure Resource Manager, which any identity may get a token for.
EXCHANGE_SCOPE = "https://management.azure.com/.default"
_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
_DOMAIN = re.compile(r"(?=.{4,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}", re.IGNORECASE)
_VARIABLES = ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", TOKEN_VARIABLE)


def configured() -> bool:
    """Whether the environment sets up Azure at all."""
    return any(os.environ.get(name) for name in _VARIABLES)


def token_path() -> str:
    """The assertion Entra ID gets: ``AZURE_FEDERATED_TOKEN_FILE``, ``CFKE_TOKEN_FILE``, the default path."""
    return resolve_token_path(None, TOKEN_VARIABLE)


def cloud_side(claims: TokenClaims) -> CloudSide:
    """The federated identity credential (on the managed identity or app registration) that admits this token."""
    return (
        ("federated credential issuer", claims.issuer),
        ("federated credential subject", claims.subject),
        ("federated credential audiences", AZURE_AUDIENCE),
    )


def _id_findings(tenant: str | None, client: str | None) -> list[Finding]:
    """Both ids present, the client a GUID, the tenant a GUID (or a verified domain name, which Entra accepts)."""
    report = []
    fix = "set AZURE_CLIENT_ID and AZURE_TENANT_ID (`cfke-auth inject --azure-client-id ... --azure-tenant-id ...`)"
    for name, value, other in (
        ("AZURE_CLIENT_ID", client, "AZURE_TENANT_ID"),
        ("AZURE_TENANT_ID", tenant, "AZURE_CLIENT_ID"),
    ):
        if not value:
            report.append(
                Finding(
                    "fail",
                    CHECK,
                    f"{other if os.environ.get(other) else TOKEN_VARIABLE} is set but {name} is not",
                    fix=fix,
                )
            )
    if client and not _GUID.fullmatch(client):
        report.append(
            Finding(
                "fail",
                CHECK,
                f"AZURE_CLIENT_ID {client!r} is not a GUID",
                fix="use the managed identity's clientId (not its principalId) or the app registration's appId",
            )
        )
    if tenant and not (_GUID.fullmatch(tenant) or _DOMAIN.fullmatch(tenant)):
        report.append(
            Finding(
                "fail",
                CHECK,
                f"AZURE_TENANT_ID {tenant!r} is neither a GUID nor a domain name",
                fix="use the tenant id GUID",
            )
        )
    return report


def _token_findings(path: str, claims: TokenClaims) -> list[Finding]:
    problems = []
    if AZURE_AUDIENCE not in claims.audiences:
        problems.append(f"its audience is {', '.join(claims.audiences) or '(none)'}, not {AZURE_AUDIENCE}")
    if claims.is_extended or lifetime(claims) > MAX_LIFETIME:
        problems.append(f"it lives {duration(lifetime(claims))}, longer than the day Entra ID accepts (AADSTS70023)")
    if problems:
        return [
            Finding(
                "fail",
                CHECK,
                f"token {path}: {'; '.join(problems)}",
                fix=f"mount a projected serviceAccountToken with audience {AZURE_AUDIENCE} and expirationSeconds 3600, "
                f"and point {TOKEN_VARIABLE} at it (`cfke-auth azure token-volume` prints the snippet)",
                cloud_side=cloud_side(claims),
            )
        ]
    return [
        Finding(
            "ok",
            CHECK,
            f"token {path} is a projected token for {AZURE_AUDIENCE}, living {duration(lifetime(claims))}",
            cloud_side=cloud_side(claims),
        )
    ]


def _refusal(exc: ExchangeError, claims: TokenClaims, settings: EntraSettings) -> Finding:
    """The misconfiguration an Entra ID refusal means, with the values the cloud side must hold."""
    what = f"the token request for client {settings.client_id} in tenant {settings.tenant_id}"
    refused = f"Entra ID refused {what}: {exc.code}: {exc.message}"
    code = int(exc.code.removeprefix("AADSTS")) if exc.code.startswith("AADSTS") and exc.code[6:].isdigit() else None
    if code in NO_MATCH_CODES:
        return Finding(
            "fail",
            f"{CHECK} exchange",
            f"{refused}. No federated identity credential matches the presented token's issuer, subject and audience",
            fix="create one with exactly these values (`cfke-auth azure federated-credential` prints the az command)",
            cloud_side=cloud_side(claims),
        )
    if code == 700016:
        return Finding(
            "fail",
            f"{CHECK} exchange",
            f"{refused}. No application with client id {settings.client_id} exists in tenant {settings.tenant_id}",
            fix="AZURE_CLIENT_ID is the managed identity's clientId or the app's appId, AZURE_TENANT_ID its tenant",
            cloud_side=(("application (client) id", settings.client_id), ("in tenant", settings.tenant_id)),
        )
    return exchange_failure(f"{CHECK} exchange", exc, what)


def findings(*, exchange: bool) -> list[Finding]:
    """The Azure checks; with ``exchange``, one token request as the library would send it."""
    tenant, client = os.environ.get("AZURE_TENANT_ID"), os.environ.get("AZURE_CLIENT_ID")
    path = token_path()
    report = _id_findings(tenant, client)
    why = f"{TOKEN_VARIABLE} names {path}" if os.environ.get(TOKEN_VARIABLE) else f"the Azure token is {path}"
    claims = read_claims(CHECK, path, why)
    if isinstance(claims, Finding):
        return [*report, claims]
    report += _token_findings(path, claims)
    if any(f.status == "fail" for f in report):
        return report
    try:
        settings = resolve(tenant, client, token_path=path)
    except ConfigurationError as exc:
        return [*report, Finding("fail", CHECK, str(exc), fix="correct the AZURE_* variable it names")]
    if exchange:
        from ..azure.refresh import entra_request, exchange_once

        try:
            exchange_once(entra_request(settings, (EXCHANGE_SCOPE,)))
        except ExchangeError as exc:
            report.append(_refusal(exc, claims, settings))
        else:
            report.append(Finding("ok", f"{CHECK} exchange", f"Entra ID issued a token for {EXCHANGE_SCOPE}"))
    return report
