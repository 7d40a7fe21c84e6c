"""Settings the AWS SDKs read from the environment or, failing that, from the shared config file's profile.

``region``, ``use_fips_endpoint`` and ``use_dualstack_endpoint`` are looked up as botocore does: the variable first
(``AWS_REGION``/``AWS_DEFAULT_REGION``, ``AWS_USE_FIPS_ENDPOINT``, ``AWS_USE_DUALSTACK_ENDPOINT``), then the key in
the profile ``AWS_PROFILE`` (or ``AWS_DEFAULT_PROFILE``, else ``default``) of ``AWS_CONFIG_FILE`` (else
``~/.aws/config``). A missing file is no configuration; an unreadable one is a :class:`~cfke_auth.ConfigurationError`.
"""

from __future__ import annotations

import configparser
import os

from .._errors import ConfigurationError

__all__ = ["flag", "setting"]


def _profile_section() -> str:
    name = os.environ.get("AWS_PROFILE") or os.environ.get("AWS_DEFAULT_PROFILE") or "default"
    return "default" if name == "default" else f"profile {name}"


def _from_config_file(key: str) -> str | None:
    path = os.path.expanduser(os.environ.get("AWS_CONFIG_FILE") or "~/.aws/config")
    parser = configparser.RawConfigParser()
    try:
        with open(path, encoding="utf-8") as fh:
            parser.read_file(fh)
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, configparser.Error) as exc:
        raise ConfigurationError(
            f"the AWS config file {path} cannot be read ({type(exc).__name__}): fix it or point AWS_CONFIG_FILE "
            "elsewhere"
        ) from None
    value = parser.get(_profile_section(), key, fallback=None)
    return value.strip() if value else None


def setting(key: str, *variables: str) -> str | None:
    """The first of ``variables`` that is set, else ``key`` in the current profile, else None."""
    for name in variables:
        if os.environ.get(name):
            return os.environ[name]
    return _from_config_file(key)


def flag(key: str, variable: str) -> bool:
    """A boolean setting (``true``/``false``, any case): the variable, else the profile's key; unset is False."""
    return (setting(key, variable) or "").strip().lower() == "true"
