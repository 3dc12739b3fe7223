"""The spec grammar shared by initialisers, activations and data sets.

A spec is ``"name"`` or ``"name:key=value,key=value"``; values are parsed as
int, float, bool or left as strings. Each key appears once, and parts are separated
by commas only (``normal:std=1:std=2`` is refused, naming the repeated key).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, NamedTuple

from .errors import ConfigError, safe_repr

__all__ = ["Range", "SEEDS", "Spec", "parse_spec", "format_spec"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_GRAMMAR = "a spec 'name' or 'name:key=value,...'"
# a ':' that starts another "key=" inside a value: a second separator the grammar does not have
_COLON_PART = re.compile(r":(?=\s*[A-Za-z_][A-Za-z0-9_]*\s*=)")


class Spec(NamedTuple):
    name: str
    params: dict[str, Any]


def _value(text: str) -> Any:
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_spec(text: str, field: str = "spec", typed: bool = True) -> Spec:
    """Parse ``"name:key=value,..."`` into a :class:`Spec`.

    ``typed=False`` keeps every value as written (a path stays ``"007"``, not 7).

    >>> parse_spec("normal:std=0.01")
    Spec(name='normal', params={'std': 0.01})
    """
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(field, text, _GRAMMAR)
    if not text.strip().isprintable():  # a newline, NUL or terminal escape is never part of a setting
        raise ConfigError(field, text, f"{_GRAMMAR} of printable characters")
    name, _, rest = text.strip().partition(":")
    name = name.strip()
    if not _NAME.match(name):
        raise ConfigError(field, text, _GRAMMAR)
    params: dict[str, Any] = {}
    if not rest.strip():
        return Spec(name, params)
    colon_part = None
    for comma_part in rest.split(","):
        pieces = _COLON_PART.split(comma_part)
        if len(pieces) > 1 and colon_part is None:
            colon_part = pieces[1]
        for part in pieces:
            key, eq, val = part.partition("=")
            key, val = key.strip(), val.strip()
            if not eq or not _NAME.match(key) or not val:
                raise ConfigError(field, text, f"{_GRAMMAR} (bad part {safe_repr(part.strip(), 40)})")
            if key in params:
                raise ConfigError(field, text, f"each key once (repeated {key!r})")
            params[key] = _value(val) if typed else val
    if colon_part is not None:
        raise ConfigError(field, text, f"{_GRAMMAR}, parts separated by ',' (found ':' before "
                          f"{safe_repr(colon_part.strip(), 40)})")
    return Spec(name, params)


def format_spec(spec: Spec) -> str:
    """Inverse of :func:`parse_spec`."""
    if not spec.params:
        return spec.name
    return spec.name + ":" + ",".join(f"{k}={v}" for k, v in spec.params.items())


def _number(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)  # an int bound is written out in full


@dataclass(frozen=True)
class Range:
    """Allowed values of a numeric spec parameter: ``lo <= value <= hi`` (``lo < value`` with ``lo_open``)."""

    lo: float | None = None
    hi: float | None = None
    multiple_of: int | None = None
    lo_open: bool = False

    def contains(self, value: float) -> bool:
        # plain comparisons: NaN fails them all, and a 400-digit integer is compared exactly (no overflow)
        return ((self.lo is None or (value > self.lo if self.lo_open else value >= self.lo))
                and (self.hi is None or value <= self.hi)
                and (self.multiple_of is None or value % self.multiple_of == 0))

    def describe(self) -> str:
        """E.g. ``"> 0 and <= 100"``, ``">= 1, a multiple of 10"``."""
        bounds = []
        if self.lo is not None:
            bounds.append(f"{'>' if self.lo_open else '>='} {_number(self.lo)}")
        if self.hi is not None:
            bounds.append(f"<= {_number(self.hi)}")
        parts = [" and ".join(bounds)] if bounds else []
        if self.multiple_of is not None:
            parts.append(f"a multiple of {self.multiple_of}")
        return ", ".join(parts)

    def check(self, field: str, value: Any) -> float:
        """``value`` as a float if it is a number in range; a :class:`ConfigError` stating the range
        otherwise (NaN, ±inf, text and bools included).

        >>> Range(0, 100, lo_open=True).check("activation elu parameter alpha", 1e300)
        Traceback (most recent call last):
        ...
        vanishing.errors.ConfigError: invalid activation elu parameter alpha 1e+300; a finite number > 0 and <= 100
        """
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not self.contains(value):
            raise ConfigError(field, value, f"a finite number {self.describe()}")
        return float(value)


SEEDS = Range(0, 2**63 - 1)
"""Every seed of the package: torch's ``Generator.manual_seed`` takes ``[-2**63, 2**64)`` (a negative one
wraps around to the same generator as its 2**64 complement), and SQLite stores a signed 64-bit integer."""
