"""Which proxy a request goes through, decided from the proxy variables as the SDKs decide it.

``HTTPS_PROXY`` / ``https_proxy`` for https URLs, ``HTTP_PROXY`` / ``http_proxy`` for http ones, ``ALL_PROXY`` /
``all_proxy`` for either (the lower-case spelling wins, as in curl and requests), and ``NO_PROXY`` / ``no_proxy``:
comma- or space-separated host names (matching the name and its subdomains, with or without a leading ``.`` or
``*.``), ``host:port`` pairs, IP addresses, CIDR blocks, or ``*`` for everything. Loopback hosts are never proxied.
The configuration is a hashable snapshot of the environment, so a changed environment yields a new one.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from typing import NamedTuple
from urllib.parse import unquote, urlsplit

import httpx

from ._errors import ConfigurationError

__all__ = ["ProxyConfig", "ProxyUrl", "is_loopback"]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (``127.0.0.0/8``, ``::1``)."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class ProxyUrl(NamedTuple):
    """A proxy, with its credentials apart from its address so that the address alone is shown in errors."""

    url: str  # scheme://host:port, no credentials
    auth: tuple[str, str] | None

    def __repr__(self) -> str:  # never the credentials
        return f"ProxyUrl({self.url!r})"


def _proxy_url(value: str, variable: str) -> ProxyUrl:
    if "://" not in value:
        value = f"http://{value}"  # curl and requests accept a bare host:port
    parts = urlsplit(value)
    try:
        port = parts.port
    except ValueError:
        port = None
        parts = parts._replace(netloc="")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"{variable} is not an http:// or https:// proxy URL (scheme {parts.scheme!r}): cfke-auth speaks HTTP "
            "CONNECT to proxies; SOCKS proxies are not supported"
        )
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    address = f"{parts.scheme}://{host}:{port or (443 if parts.scheme == 'https' else 80)}"
    auth = (unquote(parts.username or ""), unquote(parts.password or "")) if parts.username else None
    return ProxyUrl(address, auth)


class _Bypass(NamedTuple):
    everything: bool
    names: tuple[str, ...]  # lower-case, no leading dot: matches the name and its subdomains
    host_ports: tuple[tuple[str, int], ...]
    networks: tuple[IPNetwork, ...]


def _bypass(value: str) -> _Bypass:
    names: list[str] = []
    host_ports: list[tuple[str, int]] = []
    networks: list[IPNetwork] = []
    for entry in value.lower().replace(",", " ").split():
        if entry == "*":
            return _Bypass(True, (), (), ())
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            continue
        except ValueError:
            pass
        host, sep, port = entry.rpartition(":")
        if sep and port.isdigit() and not host.endswith("]") and ":" not in host:
            host_ports.append((host.removeprefix("*").lstrip("."), int(port)))
            continue
        names.append(entry.removeprefix("*").lstrip("."))
    return _Bypass(False, tuple(n for n in names if n), tuple(host_ports), tuple(networks))


def _env(environ: Mapping[str, str], name: str) -> str:
    return environ.get(name.lower()) or environ.get(name.upper()) or ""


class ProxyConfig(NamedTuple):
    """The proxy variables of one environment, parsed; :meth:`proxy_for` picks the proxy for a URL."""

    https: ProxyUrl | None
    http: ProxyUrl | None
    bypass: _Bypass

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ProxyConfig:
        """The configuration the environment (default: ``os.environ``) describes. Raises
        :class:`~cfke_auth.ConfigurationError` naming the variable when a proxy URL cannot be used."""
        env = os.environ if environ is None else environ
        every = _env(env, "all_proxy")

        def pick(name: str) -> ProxyUrl | None:
            value = _env(env, name)
            variable = name.upper() if value else "ALL_PROXY"
            value = value or every
            return _proxy_url(value, variable) if value else None

        return cls(pick("https_proxy"), pick("http_proxy"), _bypass(_env(env, "no_proxy")))

    @classmethod
    def fixed(cls, proxy: str | None) -> ProxyConfig:
        """Every non-loopback request through ``proxy`` (None or ``""``: every request direct)."""
        url = _proxy_url(proxy, "proxy") if proxy else None
        return cls(url, url, _Bypass(False, (), (), ()))

    def proxy_for(self, url: httpx.URL) -> ProxyUrl | None:
        """The proxy for ``url``, or None to connect directly."""
        proxy = self.https if url.scheme == "https" else self.http
        if proxy is None or is_loopback(url.host) or self._bypassed(url):
            return None
        return proxy

    def _bypassed(self, url: httpx.URL) -> bool:
        rules = self.bypass
        if rules.everything:
            return True
        host = url.host.lower().rstrip(".")
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            address = None
        if address is not None and any(address in network for network in rules.networks):
            return True
        if any(_matches(host, name) and port == want for name, want in rules.host_ports):
            return True
        return any(_matches(host, name) for name in rules.names)


def _matches(host: str, name: str) -> bool:
    """``host`` is ``name`` or one of its subdomains (label boundary: ``badexample.com`` is not ``example.com``)."""
    return host == name or host.endswith(f".{name}")
