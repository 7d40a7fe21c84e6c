"""Demo step: read the pod token, then watch a kubelet-style rotation get picked up."""

from __future__ import annotations

import time

from .._source import STAT_INTERVAL, TokenSource
from . import Context, say


def run(ctx: Context) -> None:
    source = TokenSource(ctx.token_file.path)
    claims = source.claims()
    say(
        "the pod's service-account token",
        f"file:       {source.path} (a ..data symlink, as the kubelet lays it out)",
        f"issuer:     {claims.issuer}",
        f"cluster id: {claims.cluster_id}",
        f"subject:    {claims.subject}",
        f"fresh until {claims.lifetime_end.isoformat()} (warnafter); valid until {claims.expires_at.isoformat()}",
    )
    time.sleep(1)  # so the new token's iat differs
    ctx.token_file.rotate()
    say(
        "rotation",
        f"the kubelet swapped ..data; waiting {STAT_INTERVAL:.0f} s for TokenSource's next stat check",
    )
    time.sleep(STAT_INTERVAL)
    say("rotation picked up", f"iat {claims.issued_at} -> {source.claims().issued_at}")
