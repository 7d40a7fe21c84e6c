"""The exceptions cfke-auth raises.

Everything derives from :class:`CfkeAuthError`, so ``except cfke_auth.CfkeAuthError`` catches every failure the
library itself decides on. Messages name paths, claims, error codes and hints, and never the token, a secret key
or an access token: callers log these messages, and logs leak.
"""

from __future__ import annotations

__all__ = [
    "CfkeAuthError",
    "ConfigurationError",
    "ExchangeError",
    "TokenClaimsError",
    "TokenEmptyError",
    "TokenEncodingError",
    "TokenError",
    "TokenExpiredError",
    "TokenFileNotFoundError",
    "TokenFormatError",
    "TokenIsDirectoryError",
    "TokenPermissionError",
    "TokenTooLargeError",
    "TokenVerificationError",
]


class CfkeAuthError(Exception):
    """Base class of every error cfke-auth raises on purpose."""


class ConfigurationError(CfkeAuthError, ValueError):
    """A bad argument or setting, found before any request: the message names it and says what is expected.

    Also a ``ValueError``, which is what Python code conventionally catches for a bad argument.
    """


class TokenError(CfkeAuthError):
    """The service-account token file, or what it holds, cannot be used.

    ``path`` is the file that was read; the message says what is wrong with it.
    """

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path


class TokenFileNotFoundError(TokenError):
    """No file at the token path: the volume is not mounted, or the path is wrong."""


class TokenPermissionError(TokenError):
    """The process may not read the token file."""


class TokenIsDirectoryError(TokenError):
    """The token path names a directory, usually the mount point instead of the file in it."""


class TokenEmptyError(TokenError):
    """The token file is empty (the kubelet has not written it yet, or it was truncated)."""


class TokenTooLargeError(TokenError):
    """The token file is larger than any service-account token can be."""


class TokenEncodingError(TokenError):
    """The token file is not UTF-8 text."""


class TokenFormatError(TokenError):
    """The file's content is not a JWT (three base64url segments with a JSON header and payload)."""


class TokenClaimsError(TokenError):
    """The JWT lacks a claim every service-account token has (``iss``, ``sub``, ``exp``) or has it malformed."""


class TokenExpiredError(TokenError):
    """The token's ``exp`` has passed: the kubelet stopped rotating the file."""


class TokenVerificationError(TokenError):
    """The token does not verify against its issuer's published keys (explicit :func:`cfke_auth.verify_token`)."""


class ExchangeError(CfkeAuthError):
    """A token exchange was refused or could not be completed.

    ``provider`` names the service (``"aws-sts"``, ``"gcp-sts"``, ``"entra"``, ...), ``code`` is the provider's own
    error code (or ``"timeout"``, ``"connection"``, ``"http-503"``, ...), ``retryable`` says whether trying again
    later may succeed, and ``hint`` names the misconfiguration that usually causes this code. ``stale_token`` is
    set when the provider rejected the subject token as expired, so the caller should re-read the file and retry.
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        code: str,
        retryable: bool = False,
        hint: str | None = None,
        status: int | None = None,
        stale_token: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.code = code
        self.retryable = retryable
        self.hint = hint
        self.status = status
        self.stale_token = stale_token

    def __str__(self) -> str:
        head = f"{self.provider}: {self.code}: {self.message}"
        return f"{head}\nhint: {self.hint}" if self.hint else head

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(provider={self.provider!r}, code={self.code!r}, "
            f"status={self.status!r}, retryable={self.retryable!r})"
        )
