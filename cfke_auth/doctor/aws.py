"""AWS: the role ARN, the token at ``AWS_WEB_IDENTITY_TOKEN_FILE`` and the IAM side it needs; one exchange on demand.

AWS counts as configured when ``AWS_ROLE_ARN`` or ``AWS_WEB_IDENTITY_TOKEN_FILE`` is set (the pair the AWS SDKs'
web-identity provider reads, and what ``cfke-auth inject`` writes).
"""

from __future__ import annotations

import os

from .._claims import TokenClaims
from .._errors import ConfigurationError, ExchangeError
from .._source import resolve_token_path
from ..aws.policy import issuer_host_path, oidc_provider_arn
from ..aws.settings import AwsSettings, account_id, check_role_arn, resolve
from ..azure.settings import AZURE_AUDIENCE
from ..gcp.names import IAM_HOST
from .findings import CloudSide, Finding, exchange_failure, read_claims

__all__ = ["CHECK", "cloud_side", "configured", "findings", "token_path"]

CHECK = "aws"
TOKEN_VARIABLE = "AWS_WEB_IDENTITY_TOKEN_FILE"
STS_AUDIENCE = "sts.amazonaws.com"


def configured() -> bool:
    """Whether the environment sets up AWS at all."""
    return bool(os.environ.get("AWS_ROLE_ARN") or os.environ.get(TOKEN_VARIABLE))


def token_path() -> str:
    """The token the AWS exchange presents: ``AWS_WEB_IDENTITY_TOKEN_FILE``, ``CFKE_TOKEN_FILE``, the default."""
    return resolve_token_path(None, TOKEN_VARIABLE)


def cloud_side(account: str, claims: TokenClaims) -> CloudSide:
    """The IAM OIDC provider and role trust policy that admit this token."""
    key = issuer_host_path(claims.issuer)
    audience = claims.audiences[0] if claims.audiences else "(the token has none)"
    return (
        ("IAM OIDC provider URL", claims.issuer),
        ("IAM OIDC provider client-id list includes", audience),
        ("role trust policy Principal.Federated", oidc_provider_arn(account, claims.issuer)),
        ("role trust policy condition (aud)", f'StringEquals "{key}:aud": "{audience}"'),
        ("role trust policy condition (sub)", f'StringEquals "{key}:sub": "{claims.subject}"'),
    )


def _audience_findings(path: str, claims: TokenClaims, side: CloudSide) -> list[Finding]:
    audiences = claims.audiences
    foreign = [a for a in audiences if a == AZURE_AUDIENCE or a.startswith((IAM_HOST, "https:" + IAM_HOST))]
    if foreign or not audiences:
        return [
            Finding(
                "fail",
                CHECK,
                f"token {path} has audience {', '.join(audiences) or '(none)'}, meant for another cloud, not AWS",
                fix=f"point {TOKEN_VARIABLE} at a projected token with audience {STS_AUDIENCE} "
                "(`cfke-auth inject --aws-role-arn` mounts one)",
            )
        ]
    if claims.is_extended:
        return [
            Finding(
                "warn",
                CHECK,
                f"token {path} is the extended default token (audience {', '.join(audiences)}): STS accepts it only "
                "if the OIDC provider's client-id list holds that audience",
                fix=f"the convention is a projected token with audience {STS_AUDIENCE} (`cfke-auth inject`)",
                cloud_side=side,
            )
        ]
    return [
        Finding(
            "ok", CHECK, f"token {path}: audience {', '.join(audiences)}, subject {claims.subject}", cloud_side=side
        )
    ]


def _refusal(exc: ExchangeError, claims: TokenClaims, settings: AwsSettings, side: CloudSide) -> Finding:
    """The misconfiguration an STS refusal means, with the values IAM must hold."""
    what = f"AssumeRoleWithWebIdentity for {settings.role_arn}"
    refused = f"STS refused {what}: {exc.code}: {exc.message}"
    if exc.code == "AccessDenied":
        return Finding(
            "fail",
            f"{CHECK} exchange",
            f"{refused}. The role's trust policy does not admit this token (its federated principal, aud or sub "
            "condition differs), or the role does not exist",
            fix="replace the trust policy with what `cfke-auth aws trust-policy --account-id ACCOUNT_ID` prints "
            "(`aws iam update-assume-role-policy --role-name NAME --policy-document file://trust.json`)",
            cloud_side=side,
        )
    if exc.code in ("InvalidIdentityToken", "IDPRejectedClaim"):
        return Finding(
            "fail",
            f"{CHECK} exchange",
            f"{refused}. The account has no IAM OIDC provider for {claims.issuer}, or its client-id list lacks the "
            "token's audience",
            fix="`cfke-auth aws trust-policy` prints the command creating the provider; for an existing one, `aws "
            "iam add-client-id-to-open-id-connect-provider --open-id-connect-provider-arn ARN --client-id AUDIENCE`",
            cloud_side=side[:3],
        )
    return exchange_failure(f"{CHECK} exchange", exc, what)


def findings(*, exchange: bool) -> list[Finding]:
    """The AWS checks; with ``exchange``, one ``AssumeRoleWithWebIdentity`` as the library would send it."""
    role = os.environ.get("AWS_ROLE_ARN")
    path = token_path()
    report: list[Finding] = []
    if not role:
        report.append(
            Finding(
                "fail",
                CHECK,
                f"{TOKEN_VARIABLE} is set but AWS_ROLE_ARN is not: the AWS SDKs and cfke-auth need both to assume a "
                "role",
                fix="set AWS_ROLE_ARN=arn:aws:iam::ACCOUNT_ID:role/NAME (`cfke-auth inject --aws-role-arn` sets both)",
            )
        )
    else:
        try:
            check_role_arn(role, "AWS_ROLE_ARN")
        except ConfigurationError as exc:
            report.append(Finding("fail", CHECK, str(exc), fix="set AWS_ROLE_ARN to the ARN of the role to assume"))
            role = None
    why = f"{TOKEN_VARIABLE} names {path}" if os.environ.get(TOKEN_VARIABLE) else f"the AWS token is {path}"
    claims = read_claims(CHECK, path, why)
    if isinstance(claims, Finding):
        return [*report, claims]
    side = cloud_side(account_id(role) if role else "ACCOUNT_ID", claims)
    report += _audience_findings(path, claims, side)
    if role is None:
        return report
    try:
        settings = resolve(role, token_path=path)
    except ConfigurationError as exc:
        return [*report, Finding("fail", CHECK, str(exc), fix="correct the AWS_* variable it names")]
    report.append(Finding("ok", CHECK, f"role {settings.role_arn} via {settings.endpoint}"))
    if exchange:
        from ..aws.refresh import exchange_once

        try:
            issued = exchange_once(settings)
        except ExchangeError as exc:
            report.append(_refusal(exc, claims, settings, side))
        else:
            report.append(
                Finding("ok", f"{CHECK} exchange", f"STS granted {issued.assumed_role_arn or settings.role_arn}")
            )
    return report
