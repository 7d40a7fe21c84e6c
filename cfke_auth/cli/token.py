"""``cfke-auth token``: what the pod's token says and how fresh it is."""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from typing import Any

from .._claims import TokenClaims
from .._errors import ConfigurationError
from .._source import TokenSource
from ._common import add_token_path
from ._format import print_json, relative


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "token", help="decode the pod's service-account token", description=__doc__
    )
    add_token_path(parser, "$CFKE_TOKEN_FILE, then the projected path")
    parser.add_argument("--json", action="store_true", help="machine-readable output (errors too)")
    parser.add_argument(
        "--verify",
        action="store_true",
        help="also check the signature against the issuer's published keys (fetches its discovery document)",
    )
    parser.add_argument("--audience", help="with --verify: also require this audience")
    parser.set_defaults(func=run)


def _report(claims: TokenClaims, path: str, now: datetime) -> dict[str, Any]:
    report: dict[str, Any] = {
        key: value.isoformat() if isinstance(value, datetime) else value for key, value in claims._asdict().items()
    }
    report["audiences"] = list(claims.audiences)
    report["path"] = path
    report["extended"] = claims.is_extended
    report["seconds_to_expiry"] = int((claims.expires_at - now).total_seconds())
    report["seconds_to_warn_after"] = (
        int((claims.warn_after - now).total_seconds()) if claims.warn_after is not None else None
    )
    return report


def run(args: argparse.Namespace) -> int:
    if args.audience and not args.verify:
        raise ConfigurationError("--audience is checked only with --verify: pass both")
    source = TokenSource(args.token_path)
    claims = source.claims()
    now = datetime.now(timezone.utc)
    verified = None
    if args.verify:
        from .._verify import verify_token

        verify_token(source.token(), audience=args.audience, path=source.path)
        verified = f"signature verified against {claims.issuer}'s published keys"
        if args.audience:
            verified += f", audience {args.audience!r} present"
    if args.json:
        print_json({**_report(claims, source.path, now), "verified": verified is not None})
        return 0
    rows = [
        ("path", source.path),
        ("issuer", claims.issuer),
        ("cluster id", claims.cluster_id or "(not a CFKE issuer URL)"),
        ("subject", claims.subject),
        ("audiences", ", ".join(claims.audiences) or "(none)"),
        ("namespace", claims.namespace or "-"),
        ("service account", claims.service_account or "-"),
        ("pod", claims.pod_name or "-"),
        ("issued at", relative(claims.issued_at, now) if claims.issued_at else "-"),
        ("warn after", relative(claims.warn_after, now) if claims.warn_after else "- (projected token)"),
        ("expires at", relative(claims.expires_at, now)),
        (
            "kind",
            "extended default token: valid a year, fresh only until warn after; Azure rejects it, "
            "mount a projected token for Entra ID"
            if claims.is_extended
            else "projected token (custom audience and lifetime)",
        ),
    ]
    if verified:
        rows.append(("verified", verified))
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return 0
