"""The SDK-shaped form of the latest issued value, built once per value.

Adapters hand SDKs their own types (botocore's ``ReadOnlyCredentials``, azure-core's ``AccessToken``); building one
per call would put an allocation on every request's path. :class:`Converted` keeps the form of the latest value and
swaps it in one assignment, so concurrent readers see an old or a new pair, never a mix, without a lock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["Converted"]

V = TypeVar("V")
R = TypeVar("R")


class Converted(Generic[V, R]):
    """``convert(value)``, computed once for each new ``value`` (compared by identity)."""

    __slots__ = ("_convert", "_pair")

    def __init__(self, convert: Callable[[V], R]) -> None:
        self._convert = convert
        self._pair: tuple[V, R] | None = None

    def of(self, value: V) -> R:
        """The converted form of ``value``."""
        pair = self._pair
        if pair is not None and pair[0] is value:
            return pair[1]
        converted = self._convert(value)
        self._pair = (value, converted)
        return converted
