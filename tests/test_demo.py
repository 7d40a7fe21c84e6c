"""``make demo`` stays true: the demo runs end to end against its own loopback servers."""

from __future__ import annotations

import subprocess
import sys


def test_demo_runs_end_to_end() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cfke_auth.demo"], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for heading in (
        "rotation picked up",
        "AWS: get_boto3_session()",
        "Google STS",
        "Azure: a projected token",
        "demo finished",
    ):
        assert heading in out
    assert "Traceback" not in result.stderr
