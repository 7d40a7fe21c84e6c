"""``cfke-auth doctor``: check what a pod needs for keyless credentials and say what to fix.

It runs the library's own checks (``cfke_auth.doctor``): the token file, its issuer's discovery document and keys,
and for each cloud the environment sets up, the settings, the token that cloud gets, and what the cloud's side of
the trust must hold. ``--exchange`` also performs each configured exchange once and says what a refusal means.

Exit status: 0 when nothing failed (warnings allowed), 1 when a check failed, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..doctor import Finding, GcpFlags, diagnose
from ._common import add_token_path
from ._format import print_json

_WIDTH = 14


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "doctor", help="check the pod's token and cloud settings, and say what to fix", description=__doc__
    )
    add_token_path(parser, "$CFKE_TOKEN_FILE, then the projected path; each cloud reads its own variable")
    network = parser.add_mutually_exclusive_group()
    network.add_argument(
        "--offline", action="store_true", help="skip fetching the issuer's discovery document and keys"
    )
    network.add_argument("--exchange", action="store_true", help="also perform each configured cloud's exchange once")
    parser.add_argument("--json", action="store_true", help="print the findings as a JSON list")
    google = parser.add_argument_group(
        "Google Cloud", "for code that passes the provider to get_gcp_credentials (no variable names it)"
    )
    google.add_argument("--gcp-pool", metavar="POOL", help="workload identity pool ID or resource name")
    google.add_argument("--gcp-provider", metavar="PROVIDER", help="provider ID, resource name or audience")
    google.add_argument("--gcp-project-number", metavar="NUMBER", help="the project NUMBER, unless the names carry it")
    google.add_argument("--gcp-service-account", metavar="EMAIL", help="the Google service account impersonated")
    parser.set_defaults(func=run)


def _lines(finding: Finding) -> list[str]:
    head = f"[{finding.status:>4}] {finding.check:<{_WIDTH}} {finding.detail}"
    indent = " " * (_WIDTH + 8)
    lines = [head]
    if finding.fix:
        lines.append(f"{indent}fix: {finding.fix}")
    if finding.cloud_side:
        lines.append(f"{indent}the cloud side must hold:")
        width = max(len(name) for name, _ in finding.cloud_side)
        lines += [f"{indent}  {name:<{width}}  {value}" for name, value in finding.cloud_side]
    return lines


def run(args: argparse.Namespace) -> int:
    flags = GcpFlags(args.gcp_pool, args.gcp_provider, args.gcp_project_number, args.gcp_service_account)
    report = diagnose(args.token_path, offline=args.offline, exchange=args.exchange, gcp_flags=flags)
    if args.json:
        print_json([finding.as_dict() for finding in report])
    else:
        for finding in report:
            print("\n".join(_lines(finding)))
    return 1 if any(finding.status == "fail" for finding in report) else 0
