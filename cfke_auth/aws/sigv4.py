"""AWS Signature Version 4 for the one request shape cfke-auth signs: an STS form POST without a query string.

A role chain's ``sts:AssumeRole`` calls are signed with the previous hop's temporary keys. Signing needs only
``hashlib`` and ``hmac``, so it lives here instead of pulling botocore (and some 70 ms of imports) into
``cfke-auth aws credential-process``; the tests check every signature against botocore's own verifier. Pure: the
caller passes the instant to sign for.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import quote

__all__ = ["ALGORITHM", "sign_form_post"]

ALGORITHM = "AWS4-HMAC-SHA256"
_NAMES = {
    "content-type": "Content-Type",
    "host": "Host",
    "x-amz-date": "X-Amz-Date",
    "x-amz-security-token": "X-Amz-Security-Token",
}


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def sign_form_post(
    *,
    host: str,
    path: str,
    body: bytes,
    content_type: str,
    access_key_id: str,
    secret_access_key: str,
    session_token: str | None,
    region: str,
    service: str,
    now: float,
) -> dict[str, str]:
    """The headers that sign a POST of ``body`` to ``path`` at ``host`` (``name[:port]``, as the Host header carries
    it): ``Host``, ``Content-Type``, ``X-Amz-Date``, ``X-Amz-Security-Token`` (with a session token) and
    ``Authorization``, every one but the last covered by the signature."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    scope = f"{stamp[:8]}/{region}/{service}/aws4_request"
    headers = {"content-type": content_type, "host": host, "x-amz-date": stamp}
    if session_token:
        headers["x-amz-security-token"] = session_token
    signed = ";".join(sorted(headers))
    canonical = "\n".join(
        [
            "POST",
            quote(path or "/", safe="/~"),
            "",  # no query string
            *(f"{name}:{' '.join(headers[name].split())}" for name in sorted(headers)),
            "",
            signed,
            hashlib.sha256(body).hexdigest(),
        ]
    )
    to_sign = f"{ALGORITHM}\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = _hmac(f"AWS4{secret_access_key}".encode(), stamp[:8])
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    authorization = f"{ALGORITHM} Credential={access_key_id}/{scope}, SignedHeaders={signed}, Signature={signature}"
    return {_NAMES[name]: value for name, value in headers.items()} | {"Authorization": authorization}
