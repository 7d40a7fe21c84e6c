"""Google Cloud: the provider's names, a projected token with its audience living at most 48 h, and the pool side it
needs; one exchange on demand.

No variable of the library names a Google provider (``get_gcp_credentials`` takes it as arguments), so Google counts
as configured when either

* ``GOOGLE_APPLICATION_CREDENTIALS`` names a file (what google-auth and every Google client library read; ``cfke-auth
  gcp cred-config`` and ``cfke-auth inject`` write an ``external_account`` one whose audience names the provider and
  whose ``credential_source.file`` is the token), or
* the doctor is given the provider as :class:`GcpFlags` (``--gcp-pool``, ``--gcp-provider``, ...), for code that calls
  ``get_gcp_credentials`` with those arguments; the token is then the one ``get_gcp_credentials`` reads.
"""

from __future__ import annotations

import functools
import json
import os
import re
from dataclasses import dataclass
from typing import Any

from .._claims import TokenClaims
from .._errors import ConfigurationError, ExchangeError
from .._http import check_endpoint
from .._source import resolve_token_path
from ..azure.settings import AZURE_AUDIENCE
from ..gcp.errors import IAM
from ..gcp.names import WorkloadProvider, parse_provider, service_account_email
from ..gcp.settings import DEFAULT_IAM_URL, DEFAULT_STS_URL
from .findings import CloudSide, Finding, GcpFlags, duration, exchange_failure, lifetime, read_claims

__all__ = ["CHECK", "MAX_LIFETIME", "GcpFlags", "GcpSetup", "cloud_side", "configured", "findings"]

CHECK = "gcp"
#: Google STS documents a 48-hour limit on the subject token's lifetime.
MAX_LIFETIME = 48 * 3600
_IMPERSONATION = re.compile(r"(https?://[^/]+)/v1/projects/-/serviceAccounts/([^/:]+):generateAccessToken")
_TOKEN_PATH = "/v1/token"


@dataclass(frozen=True)
class GcpSetup:
    """One Google setup to check: where it was read from, the provider, the token, whom to impersonate, endpoints."""

    origin: str
    provider: WorkloadProvider
    token_path: str
    service_account: str | None = None
    sts_url: str = DEFAULT_STS_URL
    iam_url: str = DEFAULT_IAM_URL


def configured(flags: GcpFlags) -> bool:
    """Whether Google is set up, in the environment or on the command line."""
    return flags.given or bool(os.environ.get("GOOGLE_APPLICATION_CREDENTIALS"))


def cloud_side(setup: GcpSetup, claims: TokenClaims) -> CloudSide:
    """The pool's provider (and the impersonated service account's binding) that admit this token."""
    member = setup.provider.principal(claims.subject)
    side: CloudSide = (
        ("workload identity provider", setup.provider.name),
        ("provider issuer-uri", claims.issuer),
        ("provider allowed audiences include", setup.provider.audience),
        ("provider attribute mapping", "google.subject=assertion.sub"),
        ("IAM member of this pod", member),
    )
    if setup.service_account:
        side += ((f"roles/iam.workloadIdentityUser on {setup.service_account} granted to", member),)
    return side


def _from_flags(flags: GcpFlags, token_path: str | None) -> GcpSetup | Finding:
    try:
        if not (flags.pool and flags.provider):
            raise ConfigurationError("--gcp-pool and --gcp-provider are both needed to name the provider")
        provider = parse_provider(flags.pool, flags.provider, flags.project_number)
        account = service_account_email(flags.service_account)
    except ConfigurationError as exc:
        return Finding(
            "fail",
            CHECK,
            f"--gcp-* flags: {exc}",
            fix="name the provider as `gcloud iam "
            "workload-identity-pools providers list` shows it, with the project number",
        )
    return GcpSetup("the --gcp-* flags", provider, resolve_token_path(token_path), account)


def _load(path: str) -> dict[str, Any] | Finding:
    where = f"GOOGLE_APPLICATION_CREDENTIALS={path}"
    fix = "write it with `cfke-auth gcp cred-config --output FILE` (or let `cfke-auth inject` mount it)"
    try:
        with open(path, encoding="utf-8") as file:
            config = json.load(file)
    except OSError as exc:
        return Finding("fail", CHECK, f"{where} cannot be read: {exc.strerror}", fix=fix)
    except ValueError:
        return Finding("fail", CHECK, f"{where} is not JSON", fix=fix)
    if not isinstance(config, dict):
        return Finding("fail", CHECK, f"{where} is not a JSON object", fix=fix)
    if config.get("type") != "external_account":
        return Finding(
            "warn",
            CHECK,
            f"{where} is a {config.get('type')!r} credential, not an external_account configuration: a stored key "
            "or user login, not the pod's identity",
            fix=fix,
        )
    return config


def _from_file(path: str) -> GcpSetup | Finding:
    config = _load(path)
    if isinstance(config, Finding):
        return config
    where = f"GOOGLE_APPLICATION_CREDENTIALS={path}"
    source = config.get("credential_source")
    file = source.get("file") if isinstance(source, dict) else None
    if not isinstance(file, str):
        return Finding(
            "warn", CHECK, f"{where} does not read its token from a file; only file-sourced configurations are checked"
        )
    try:
        audience = str(config.get("audience", ""))
        provider = parse_provider(audience, audience)
        token_url = str(config.get("token_url", DEFAULT_STS_URL + _TOKEN_PATH))
        if not token_url.endswith(_TOKEN_PATH):
            raise ConfigurationError(f"token_url {token_url!r} is not Google STS's /v1/token")
        sts = check_endpoint(token_url.removesuffix(_TOKEN_PATH), what="token_url")
        impersonation = config.get("service_account_impersonation_url")
        iam, account = DEFAULT_IAM_URL, None
        if impersonation is not None:
            found = _IMPERSONATION.fullmatch(str(impersonation))
            if found is None:
                raise ConfigurationError(
                    f"service_account_impersonation_url {impersonation!r} is not generateAccessToken"
                )
            iam, account = check_endpoint(found.group(1), what="service_account_impersonation_url"), found.group(2)
            service_account_email(account)
    except ConfigurationError as exc:
        return Finding("fail", CHECK, f"{where}: {exc}", fix="write it again with `cfke-auth gcp cred-config`")
    return GcpSetup(where, provider, file, account, sts, iam)


def _token_findings(setup: GcpSetup, claims: TokenClaims) -> list[Finding]:
    side = cloud_side(setup, claims)
    token, audiences = setup.token_path, claims.audiences
    fix = (
        f"mount a projected serviceAccountToken with audience {setup.provider.audience} and expirationSeconds 3600 "
        "(`cfke-auth inject --gcp-pool ... --gcp-provider ... --gcp-project-number ...` does)"
    )
    if claims.is_extended or lifetime(claims) > MAX_LIFETIME:
        return [
            Finding(
                "fail",
                CHECK,
                f"token {token} lives {duration(lifetime(claims))}, longer than the 48 h Google STS accepts",
                fix=fix,
                cloud_side=side,
            )
        ]
    if setup.provider.audience in audiences or "https:" + setup.provider.audience in audiences:
        return [Finding("ok", CHECK, f"{setup.origin}: token {token} has the provider's audience", cloud_side=side)]
    foreign = [a for a in audiences if a in (AZURE_AUDIENCE, "sts.amazonaws.com") or "/providers/" in a]
    return [
        Finding(
            "fail" if foreign or not audiences else "warn",
            CHECK,
            f"{setup.origin}: token {token} has audience {', '.join(audiences) or '(none)'}, not the provider's "
            f"{setup.provider.audience}; Google STS refuses it unless the provider lists it in its allowed audiences",
            fix=fix,
            cloud_side=side,
        )
    ]


def _refusal(exc: ExchangeError, setup: GcpSetup, claims: TokenClaims) -> Finding:
    """The misconfiguration a Google refusal means, with the values the pool side must hold."""
    what = f"the exchange for {setup.service_account or setup.provider.name}"
    refused = f"Google refused {what}: {exc.provider}: {exc.code}: {exc.message}"
    side = cloud_side(setup, claims)
    check = f"{CHECK} exchange"
    if exc.provider == IAM and exc.code == "PERMISSION_DENIED":
        return Finding(
            "fail",
            check,
            f"{refused}. The pod's principal may not impersonate {setup.service_account}: the "
            "roles/iam.workloadIdentityUser binding is missing",
            fix=exc.hint,
            cloud_side=side[-2:],
        )
    if exc.code == "invalid_grant":
        return Finding(
            "fail",
            check,
            f"{refused}. The provider does not accept this token: its issuer-uri or allowed audiences differ",
            fix=f"set the provider's issuer-uri to {claims.issuer} and its allowed audiences to include "
            f"{', '.join(claims.audiences)}",
            cloud_side=side[:4],
        )
    if exc.code in ("invalid_target", "invalid_request"):
        return Finding(
            "fail",
            check,
            f"{refused}. The pool or provider does not exist in project {setup.provider.project_number}, is "
            "disabled, or the project number is wrong",
            fix=exc.hint,
            cloud_side=side[:1],
        )
    return exchange_failure(check, exc, what)


def _check(setup: GcpSetup, *, exchange: bool) -> list[Finding]:
    why = f"{setup.origin} reads the token {setup.token_path}"
    claims = read_claims(CHECK, setup.token_path, why)
    if isinstance(claims, Finding):
        return [claims]
    report = _token_findings(setup, claims)
    if exchange and all(f.status != "fail" for f in report):
        from .._flow import run
        from .._http import Http
        from ..gcp.protocol import exchange_flow
        from ..gcp.refresh import PROVIDER
        from ..gcp.settings import resolve

        settings = resolve(
            setup.provider.pool_name,
            setup.provider.name,
            service_account=setup.service_account,
            token_path=setup.token_path,
            sts_endpoint_url=setup.sts_url,
            iam_endpoint_url=setup.iam_url,
        )
        try:
            run(functools.partial(exchange_flow, settings), settings.source, Http(settings.http), PROVIDER)
        except ExchangeError as exc:
            report.append(_refusal(exc, setup, claims))
        else:
            who = setup.service_account or setup.provider.principal(claims.subject)
            report.append(Finding("ok", f"{CHECK} exchange", f"Google issued an access token for {who}"))
    return report


def findings(flags: GcpFlags, token_path: str | None, *, exchange: bool) -> list[Finding]:
    """The Google checks for every configured setup; with ``exchange``, each setup's exchange once."""
    setups: list[GcpSetup | Finding] = []
    if flags.given:
        setups.append(_from_flags(flags, token_path))
    if os.environ.get("GOOGLE_APPLICATION_CREDENTIALS"):
        setups.append(_from_file(os.environ["GOOGLE_APPLICATION_CREDENTIALS"]))
    report: list[Finding] = []
    for setup in setups:
        report += [setup] if isinstance(setup, Finding) else _check(setup, exchange=exchange)
    return report
