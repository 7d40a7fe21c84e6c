"""Demo step: AWS. The pod's token becomes a boto3 session on moto's STS and S3, and an STS refusal becomes an
error that says which IAM setting to fix."""

from __future__ import annotations

import textwrap
import time

from .._errors import ExchangeError
from ..aws.refresh import exchange_once
from ..aws.settings import resolve
from ..testing.aws import FakeSts, MotoServer
from . import Context, say

ROLE = "arn:aws:iam::123456789012:role/checkout"


def run(ctx: Context) -> None:
    import cfke_auth

    with MotoServer() as moto:
        session = cfke_auth.get_boto3_session(
            ROLE, region_name="eu-central-1", token_path=ctx.token_file.path, sts_endpoint_url=moto.url
        )
        s3 = session.client("s3", endpoint_url=moto.url)
        bucket = f"checkout-receipts-{int(time.time())}"
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
        names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
        identity = session.client("sts", endpoint_url=moto.url).get_caller_identity()
        again = cfke_auth.get_boto3_session(
            ROLE, region_name="eu-central-1", token_path=ctx.token_file.path, sts_endpoint_url=moto.url
        )
        again.client("s3", endpoint_url=moto.url).list_buckets()
        say(
            "AWS: get_boto3_session() on a local moto server",
            f"role:          {ROLE}",
            f"caller:        {identity['Arn']}",
            f"buckets:       {', '.join(names)}",
            f"STS exchanges: {moto.sts_calls} (a second session with the same parameters reused the credentials)",
        )
    with FakeSts() as sts:
        sts.fail_with("AccessDenied", status=403, message="Not authorized to perform sts:AssumeRoleWithWebIdentity")
        setup = resolve(
            "arn:aws:iam::123456789012:role/not-trusting", token_path=ctx.token_file.path, sts_endpoint_url=sts.url
        )
        try:
            exchange_once(setup)  # what `cfke-auth aws whoami` does: one exchange, no retry schedule
        except ExchangeError as exc:
            lines = [
                part
                for line in str(exc).splitlines()
                for part in textwrap.wrap(line, 110, break_on_hyphens=False, break_long_words=False)
            ]
            say("AWS: a role whose trust policy does not admit the pod", *lines)
