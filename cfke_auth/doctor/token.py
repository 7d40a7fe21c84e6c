"""The pod token itself (readable, fresh, a CFKE issuer) and its issuer (discovery and keys reachable, signature)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from .._claims import TokenClaims
from .._errors import ExchangeError, TokenError
from .findings import Finding, duration

if TYPE_CHECKING:
    from .._http import HttpOptions

__all__ = ["issuer_findings", "token_findings"]


def token_findings(path: str, claims: TokenClaims, now: datetime) -> list[Finding]:
    """Who the token says the pod is, how long it stays fresh, and whether the issuer is a CFKE cluster's."""
    kind = "extended default token" if claims.is_extended else f"projected token for {', '.join(claims.audiences)}"
    report = [Finding("ok", "token", f"{path}: {claims.subject}, issued by {claims.issuer} ({kind})")]
    end, limit = claims.lifetime_end, "warnafter" if claims.warn_after else "exp"
    left = (end - now).total_seconds()
    if left > 0:
        report.append(Finding("ok", "freshness", f"fresh for {duration(left)} more (until its {limit})"))
    else:
        report.append(
            Finding(
                "warn",
                "freshness",
                f"{duration(-left)} past its {limit} and not rotated",
                fix="check the kubelet on this node: it should rewrite the file at 80 % of the token's lifetime",
            )
        )
    if claims.cluster_id is None:
        report.append(
            Finding("warn", "issuer", f"{claims.issuer} is not a CFKE cluster issuer URL (.../v1/clusters/ID)")
        )
    return report


def issuer_findings(token: str, path: str, claims: TokenClaims, http: HttpOptions | None = None) -> list[Finding]:
    """Fetch the issuer's discovery document and keys, as every cloud does, and verify the token's signature."""
    from .._verify import verify_token

    discovery = f"{claims.issuer}/.well-known/openid-configuration"
    try:
        verify_token(token, path=path, http=http)
    except ExchangeError as exc:
        return [
            Finding(
                "fail",
                "issuer",
                f"{discovery} or its JWKS cannot be fetched from here: {exc.code}: {exc.message}",
                fix="the clouds fetch these from the internet, so they must be reachable; if this machine is "
                "offline on purpose, run `cfke-auth doctor --offline` to skip this check",
            )
        ]
    except TokenError as exc:
        return [
            Finding("ok", "issuer", f"{discovery} and its JWKS are reachable"),
            Finding(
                "fail",
                "signature",
                str(exc),
                fix="use the token the kubelet projects into this pod (a copied token, or one from another cluster, "
                "does not verify)",
            ),
        ]
    return [
        Finding("ok", "issuer", f"{discovery} and its JWKS are reachable"),
        Finding("ok", "signature", "verifies against the issuer's published keys"),
    ]
