"""Signing bytes as a service account, through IAM Credentials ``signBlob``: what V4 signed URLs and signed JWTs need.

Google holds the service account's private key; ``signBlob`` signs with it (RSA PKCS#1 v1.5 over SHA-256) for a
caller that holds ``iam.serviceAccounts.signBlob`` on the account (``roles/iam.serviceAccountTokenCreator``). The
caller here is the pod's federated principal, as google-auth's impersonated credentials sign with their source
credentials: each signing is one call, authorized by the current token of the shared refreshing federated
credential (STS with the IAM scope), so signing adds no refresh loop of its own.
"""

from __future__ import annotations

import base64
import binascii
import functools
import time
from typing import NamedTuple

import httpx

from .._engine import Issued
from .._errors import ExchangeError
from .._flow import Flow, run, send, subject_token
from .._http import Http
from .._protocol import Context, json_object, malformed
from .errors import IAM, iam_error
from .protocol import iam_call
from .refresh import federated_credential
from .settings import GcpSettings

__all__ = ["SignedBlob", "build_sign_request", "parse_sign_response", "sign_blob", "sign_flow"]


class SignedBlob(NamedTuple):
    """A signature and the ID of the service account key that made it (which Google keeps valid 12 h or more)."""

    key_id: str
    signature: bytes


def build_sign_request(settings: GcpSettings, token: str, payload: bytes) -> httpx.Request:
    """``signBlob`` of ``payload`` as the settings' service account, authorized by ``token``."""
    return iam_call(settings, "signBlob", {"payload": base64.b64encode(payload).decode("ascii")}, token)


def parse_sign_response(response: httpx.Response, context: Context[GcpSettings], *, now: float) -> Issued[SignedBlob]:
    """The signature from a ``signBlob`` answer, or the error it amounts to. (A signature does not expire; it comes
    back as the :class:`~cfke_auth.Issued` every flow returns, stamped ``now``.)"""
    if response.status_code != 200:
        raise iam_error(response, context, now=now)
    body = json_object(response) or {}
    key_id, signed = body.get("keyId"), body.get("signedBlob")
    try:
        signature = base64.b64decode(signed, validate=True) if isinstance(signed, str) else b""
    except binascii.Error:
        signature = b""
    if not isinstance(key_id, str) or not signature:
        raise malformed(IAM, "no keyId and base64 signedBlob in a JSON body")
    return Issued(SignedBlob(key_id, signature), now)


def sign_flow(settings: GcpSettings, token: str, payload: bytes) -> Flow[SignedBlob]:
    """One ``signBlob`` call; the pod's token is asked for only so that a refusal can name its principal."""
    subject = yield from subject_token()
    request = build_sign_request(settings, token, payload)
    response = yield from send(request)
    context = Context.of(settings, str(request.url), subject, token)
    return parse_sign_response(response, context, now=time.time())


def sign_blob(settings: GcpSettings, payload: bytes) -> SignedBlob:
    """``payload`` signed as the settings' service account, now, in one ``signBlob`` call (no retry: a signature is
    asked for by a caller waiting for it). Raises :class:`~cfke_auth.ExchangeError` with a hint when refused; after a
    401 the federated token is dropped, so the next signing exchanges afresh."""
    federated = federated_credential(settings)
    held = federated.get()
    factory = functools.partial(sign_flow, settings, held.token, payload)
    try:
        return run(factory, settings.source, Http(settings.http), IAM).value
    except ExchangeError as exc:
        if exc.status == 401:
            federated.invalidate(held)
        raise
