"""``cfke-auth aws``: the pod's AWS identity for the AWS CLI and other SDKs, and the IAM setup it needs.

* ``credential-process`` prints credentials in the ``credential_process`` format, so ``aws`` and the SDKs of other
  languages in the pod use the pod's identity (it imports no AWS SDK, to start fast);
* ``trust-policy`` prints the role trust policy admitting this pod's service account;
* ``whoami`` exchanges once and shows the role session STS granted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from .._claims import TokenClaims
from .._errors import ConfigurationError, TokenError
from .._protocol import claims_of
from .._source import TokenSource, resolve_token_path
from ..aws.cache import CredentialCache, cache_key
from ..aws.policy import create_provider_command, trust_policy
from ..aws.protocol import StsCredentials, format_expiration
from ..aws.refresh import exchange_once
from ..aws.settings import AwsSettings, resolve
from ._common import add_identity_arguments, add_issuer_arguments, add_token_path, workload
from ._format import print_json, relative

DEFAULT_AUDIENCE = "sts.amazonaws.com"
TOKEN_VARIABLE = "AWS_WEB_IDENTITY_TOKEN_FILE"


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "aws", help="AWS credentials from the pod's identity", description=__doc__
    )
    sub = parser.add_subparsers(title="subcommands", metavar="SUBCOMMAND", required=True)

    process = sub.add_parser(
        "credential-process",
        help="print credentials for the AWS CLI/SDK `credential_process` setting",
        description="Exchange the pod's token and print the credential_process JSON (Version 1). The credentials are "
        "cached per user ($XDG_CACHE_HOME/cfke-auth, else ~/.cache/cfke-auth) and reused while 15 minutes are left.",
    )
    _role_arguments(process)
    process.add_argument("--no-cache", action="store_true", help="always exchange; neither read nor write the cache")
    process.set_defaults(func=_credential_process)

    whoami = sub.add_parser("whoami", help="assume the role once and show the session STS granted")
    _role_arguments(whoami)
    whoami.add_argument("--json", action="store_true", help="machine-readable output")
    whoami.set_defaults(func=_whoami)

    policy = sub.add_parser(
        "trust-policy",
        help="print the IAM role trust policy admitting this pod's service account",
        description="Print the role trust policy (JSON, on stdout) and the AWS CLI command registering the "
        "cluster's issuer as an IAM OIDC provider (on stderr; it works with AWS CLI v1 and v2). Issuer, namespace "
        "and service account come from the pod's token unless given; with all three given no token is read.",
    )
    policy.add_argument("--account-id", required=True, help="12-digit AWS account id owning the role")
    add_issuer_arguments(policy)
    add_identity_arguments(policy)
    policy.add_argument(
        "--audience",
        help=f"token audience to require (default: the token's first audience when there is a token, else "
        f"{DEFAULT_AUDIENCE})",
    )
    add_token_path(policy, "$AWS_WEB_IDENTITY_TOKEN_FILE, $CFKE_TOKEN_FILE, then the projected path")
    policy.set_defaults(func=_trust_policy)


class _Chain(argparse.Action):
    """``--chain ARN``: one more role, assumed with the previous one's credentials. ``args.calls`` lists the
    role assumptions, the web-identity one first, each a dict of the options given for it."""

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option: Any = None
    ) -> None:
        _calls(namespace).append({"role_arn": values})


class _CallOption(argparse.Action):
    """An option of the role assumption it follows: the last ``--chain`` hop, else the web-identity call."""

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option: Any = None
    ) -> None:
        calls = _calls(namespace)
        if self.dest == "external_id" and len(calls) == 1:
            parser.error(f"{option} belongs to a hop of the chain: give it after that hop's --chain ARN")
        if self.dest == "policy_arns":
            calls[-1].setdefault("policy_arns", []).append(values)
        elif self.dest in calls[-1]:
            parser.error(f"{option} is given twice for one role")
        else:
            calls[-1][self.dest] = values


def _calls(namespace: argparse.Namespace) -> list[dict[str, Any]]:
    if getattr(namespace, "calls", None) is None:
        namespace.calls = [{}]
    calls: list[dict[str, Any]] = namespace.calls
    return calls


def _role_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--role-arn", help="role to assume (default: $AWS_ROLE_ARN)")
    parser.add_argument("--region", help="region for the regional STS endpoint (default: $AWS_REGION)")
    parser.add_argument("--session-name", help="role session name (default: NAMESPACE.POD from the token)")
    parser.add_argument("--duration", type=int, help="credential lifetime in seconds, 900-43200 (3600 with --chain)")
    parser.add_argument("--token-path", help="token file (default: $AWS_WEB_IDENTITY_TOKEN_FILE, $CFKE_TOKEN_FILE)")
    parser.add_argument("--sts-endpoint-url", help="STS endpoint (default: $AWS_ENDPOINT_URL_STS, regional)")
    chain = parser.add_argument_group(
        "role chaining and session policies",
        "--external-id, --policy and --policy-arn describe the role they follow: the web-identity role before the "
        "first --chain, else the hop of the last --chain.",
    )
    chain.add_argument("--chain", action=_Chain, metavar="ARN", help="then assume this role (repeatable, in order)")
    chain.add_argument("--external-id", action=_CallOption, help="sts:ExternalId for the hop it follows")
    chain.add_argument(
        "--policy", action=_CallOption, metavar="JSON", help="inline session policy: JSON text or file://PATH"
    )
    chain.add_argument(
        "--policy-arn",
        action=_CallOption,
        dest="policy_arns",
        metavar="ARN",
        help="managed session policy (repeatable)",
    )
    failover = parser.add_argument_group("STS failover")
    failover.add_argument(
        "--sts-fallback-region", action="append", metavar="REGION",
        help="try this region's STS when the first is down (repeatable; default: $CFKE_AWS_STS_FALLBACK_REGIONS)",
    )  # fmt: skip
    failover.add_argument(
        "--sts-fallback-endpoint-url", action="append", metavar="URL",
        help="try this STS endpoint when the first is down (repeatable; for a custom --sts-endpoint-url)",
    )  # fmt: skip
    parser.set_defaults(calls=None)


def _policy(value: str | None) -> str | None:
    """``--policy``: JSON text, or ``file://PATH`` naming a file holding it."""
    if value is None or not value.startswith("file://"):
        return value
    path = value.removeprefix("file://")
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"--policy {value}: cannot read {path} ({type(exc).__name__})") from None


def _settings(args: argparse.Namespace) -> AwsSettings:
    """The setup the command's arguments resolve to (role ARN, chain and all defaults filled in)."""
    entry, *hops = args.calls or [{}]
    return resolve(
        args.role_arn,
        region_name=args.region,
        session_name=args.session_name,
        duration_seconds=args.duration,
        token_path=args.token_path,
        sts_endpoint_url=args.sts_endpoint_url,
        chain=[{**hop, "policy": _policy(hop.get("policy"))} for hop in hops],
        policy=_policy(entry.get("policy")),
        policy_arns=entry.get("policy_arns"),
        sts_fallback_regions=args.sts_fallback_region,
        sts_fallback_endpoint_urls=args.sts_fallback_endpoint_url,
    )


def _exchange(args: argparse.Namespace) -> tuple[AwsSettings, StsCredentials]:
    """One exchange with the command's arguments, and the setup they resolved to (role ARN and all defaults
    filled in), so a report names what was actually asked of STS."""
    setup = _settings(args)
    return setup, exchange_once(setup)


def _credential_process(args: argparse.Namespace) -> int:
    """The credential_process JSON, from the per-user cache while it has 15 minutes left, else from STS."""
    setup = _settings(args)
    cache = None if args.no_cache else CredentialCache()
    key = cache_key(setup, claims_of(setup.source.token())) if cache else ""
    output = cache.load(key, time.time()) if cache else None
    if output is None:
        creds = exchange_once(setup)
        output = {
            "Version": 1,
            "AccessKeyId": creds.access_key_id,
            "SecretAccessKey": creds.secret_access_key,
            "SessionToken": creds.session_token,
            "Expiration": format_expiration(creds.expires_at),
        }
        if cache:
            cache.store(key, output)
    sys.stdout.write(json.dumps(output) + "\n")
    return 0


def _whoami(args: argparse.Namespace) -> int:
    setup, creds = _exchange(args)
    report = {
        "role_arn": setup.role_arn,
        "assumed_role_arn": creds.assumed_role_arn,
        "assumed_role_id": creds.assumed_role_id,
        "account_id": creds.account_id,
        "subject": creds.subject,
        "audience": creds.audience,
        "provider": creds.provider,
        "access_key_id": creds.access_key_id,
        "expiration": format_expiration(creds.expires_at),
    }
    if args.json:
        print_json(report)
        return 0
    rows = [(name.replace("_", " "), value or "-") for name, value in report.items() if name != "expiration"]
    rows.append(("expires", relative(creds.expiration)))
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return 0


def _readable_claims(args: argparse.Namespace) -> TokenClaims | None:
    """The pod token's claims when there is a readable token (off-cluster there is none, and none is needed)."""
    try:
        return TokenSource(resolve_token_path(args.token_path, TOKEN_VARIABLE)).claims()
    except TokenError:
        return None


def _trust_policy(args: argparse.Namespace) -> int:
    who = workload(args, TOKEN_VARIABLE, need_issuer=True)
    assert who.issuer is not None  # need_issuer
    claims = who.claims or (None if args.audience else _readable_claims(args))
    audience = args.audience or (claims.audiences[0] if claims and claims.audiences else DEFAULT_AUDIENCE)
    print_json(trust_policy(args.account_id, who.issuer, audience, who.namespace, who.service_account))
    print(
        "# Once per account and cluster, register the cluster's issuer as an OIDC identity provider:\n"
        f"{create_provider_command(who.issuer, audience)}",
        file=sys.stderr,
    )
    return 0
