"""The exceptions cfke-auth raises.

Everything derives from :class:`CfkeAuthError`, so ``except cfke_auth.CfkeAuthError`` catches every failure the
library itself decides on. There are three kinds: :class:`ConfigurationError` (a bad argument or setting, found
before any request), :class:`TokenError` (the pod's token file or its content; ``reason`` says what is wrong) and
:class:`ExchangeError` (a token endpoint refused or could not be reached). The SDK adapters raise subclasses that are
also the SDK's own error type, so code written for the SDK keeps catching what it catches.

Messages name paths, claims, error codes and hints, and never the token, a secret key or an access token: callers
log these messages, and logs leak. Every error pickles (``multiprocessing`` carries it across processes).
"""

from __future__ import annotations

import types
from typing import Any, Literal

__all__ = ["CfkeAuthError", "ConfigurationError", "ExchangeError", "TokenError", "TokenErrorReason", "recast"]

#: What is wrong with a token file, as :attr:`TokenError.reason`.
TokenErrorReason = Literal[
    "not-found",  # nothing at the path: the volume is not mounted, or the path is wrong
    "permission",  # the process may not read it
    "is-directory",  # the path names a directory (usually the mount point)
    "not-a-file",  # a FIFO, socket or device: never opened, it could block forever
    "empty",  # the kubelet has not written it yet
    "too-large",  # larger than any service-account token
    "encoding",  # not UTF-8 text
    "format",  # not a JWT
    "claims",  # a claim every service-account token has is missing or malformed
    "expired",  # past its exp: the kubelet stopped rotating it
    "unverified",  # the signature does not check out against the issuer's keys (explicit verify_token)
    "unreadable",  # any other I/O error
]


def _rebuild(cls: type[CfkeAuthError], args: tuple[Any, ...], state: dict[str, Any]) -> CfkeAuthError:
    """Unpickle an error without calling its ``__init__`` (whose keyword-only signature pickle cannot call)."""
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class CfkeAuthError(Exception):
    """Base class of every error cfke-auth raises on purpose."""

    def __init__(self, message: str) -> None:
        Exception.__init__(self, message)  # not super(): SDK-native subclasses initialise their SDK base themselves

    def __reduce__(self) -> tuple[Any, ...]:
        # Tracebacks, exceptions and classes some SDK bases keep in their state do not pickle; the fields do.
        state = {
            key: value
            for key, value in self.__dict__.items()
            if not isinstance(value, (types.TracebackType, BaseException, type))
        }
        return (_rebuild, (type(self), self.args, state))


class ConfigurationError(CfkeAuthError, ValueError):
    """A bad argument or setting, found before any request: the message names it and says what is expected.

    Also a ``ValueError``, which is what Python code conventionally catches for a bad argument.
    """


class TokenError(CfkeAuthError):
    """The service-account token file, or what it holds, cannot be used.

    ``path`` is the file that was read and ``reason`` (a :data:`TokenErrorReason`) what is wrong with it; the
    message says the same in words, with the fix.
    """

    def __init__(self, message: str, *, path: str, reason: TokenErrorReason = "unreadable") -> None:
        super().__init__(message)
        self.path = path
        self.reason: TokenErrorReason = reason


class ExchangeError(CfkeAuthError):
    """A token exchange was refused or could not be completed.

    ``provider`` names the service (``"aws-sts"``, ``"gcp-sts"``, ``"entra"``, ...), ``code`` is the provider's own
    error code (or ``"timeout"``, ``"connection"``, ``"tls"``, ``"proxy"``, ``"http-503"``, ...), ``retryable`` says
    whether trying again later may succeed, ``retry_after`` is the delay the provider asked for (seconds), and
    ``hint`` names the misconfiguration that usually causes this code. ``stale_token`` is set when the provider
    rejected the subject token as expired, so the caller should re-read the file and retry.
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
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.code = code
        self.retryable = retryable
        self.hint = hint
        self.status = status
        self.stale_token = stale_token
        self.retry_after = retry_after

    def __str__(self) -> str:
        head = f"{self.provider}: {self.code}: {self.message}"
        return f"{head}\nhint: {self.hint}" if self.hint else head

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(provider={self.provider!r}, code={self.code!r}, "
            f"status={self.status!r}, retryable={self.retryable!r})"
        )

    def fields(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this error: for the SDK-native subclasses' ``from_error``."""
        return {
            "provider": self.provider,
            "code": self.code,
            "retryable": self.retryable,
            "hint": self.hint,
            "status": self.status,
            "stale_token": self.stale_token,
            "retry_after": self.retry_after,
        }


def recast(
    error: CfkeAuthError,
    exchange: type[ExchangeError],
    token: type[TokenError],
    configuration: type[ConfigurationError],
) -> CfkeAuthError:
    """``error`` as the matching SDK-native subclass (same message and fields), for an adapter to raise: code written
    for the SDK catches the SDK's type, code written for cfke-auth catches ours, and both see the same error."""
    if isinstance(error, ExchangeError):
        return exchange(error.message, **error.fields())
    if isinstance(error, TokenError):
        return token(str(error), path=error.path, reason=error.reason)
    if isinstance(error, ConfigurationError):
        return configuration(str(error))
    return error
