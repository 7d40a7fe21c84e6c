"""What callers pass to ``get_token_exchange_auth``, checked before any request."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TypedDict

from .._errors import ConfigurationError
from .._http import HttpOptions, check_endpoint
from .._source import SubjectTokenSource, subject_token_source
from .protocol import ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE, ExchangeRequest

__all__ = ["ExchangeOptions", "ExchangeSettings", "resolve"]


class ExchangeOptions(TypedDict, total=False):
    """The keyword parameters of ``get_token_exchange_auth`` (all optional): ``audience``, ``scopes`` (a string is
    one scope), ``resource`` and ``requested_token_type`` as RFC 8693 names them; ``client_id`` and
    ``client_secret`` when the endpoint authenticates its clients (HTTP Basic); ``token_path`` or ``token_source``;
    ``http``."""

    audience: str | None
    scopes: str | tuple[str, ...] | list[str]
    resource: str | None
    requested_token_type: str
    client_id: str | None
    client_secret: str | None
    token_path: str | os.PathLike[str] | None
    token_source: SubjectTokenSource | None
    http: HttpOptions | None


@dataclass(frozen=True)
class ExchangeSettings:
    """One token exchange: what to ask the endpoint, where the subject token comes from, how to reach the network."""

    exchange: ExchangeRequest
    source: SubjectTokenSource
    http: HttpOptions | None = None


def _optional_str(value: str | None, name: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ConfigurationError(f"{name} must be a string, not {type(value).__name__}")
    return value or None


def resolve(
    token_url: str,
    *,
    audience: str | None = None,
    scopes: str | tuple[str, ...] | list[str] = (),
    resource: str | None = None,
    requested_token_type: str = ACCESS_TOKEN_TYPE,
    client_id: str | None = None,
    client_secret: str | None = None,
    token_path: str | os.PathLike[str] | None = None,
    token_source: SubjectTokenSource | None = None,
    http: HttpOptions | None = None,
) -> ExchangeSettings:
    """The checked settings; ``token_url`` must be https (http only to loopback), a scope string is one scope."""
    scope_list = (scopes,) if isinstance(scopes, str) else tuple(scopes)
    if not all(isinstance(s, str) and s and " " not in s for s in scope_list):
        raise ConfigurationError("scopes must be scope strings without spaces (a string is one scope)")
    if client_secret and not client_id:
        raise ConfigurationError("client_secret needs client_id")
    exchange = ExchangeRequest(
        check_endpoint(token_url, what="token_url"),
        _optional_str(audience, "audience"),
        scope_list,
        _optional_str(resource, "resource"),
        requested_token_type,
        JWT_TOKEN_TYPE,
        _optional_str(client_id, "client_id"),
        _optional_str(client_secret, "client_secret"),
    )
    return ExchangeSettings(exchange, subject_token_source(token_path, token_source), http)
