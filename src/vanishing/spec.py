"""The spec grammar shared by initialisers, activations and data sets.

A spec is ``"name"`` or ``"name:key=value,key=value"``; values are parsed as
int, float, bool or left as strings.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from .errors import ConfigError

__all__ = ["Spec", "parse_spec", "format_spec"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


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


def parse_spec(text: str, field: str = "spec") -> Spec:
    """Parse ``"name:key=value,..."`` into a :class:`Spec`.

    >>> parse_spec("normal:std=0.01")
    Spec(name='normal', params={'std': 0.01})
    """
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(field, text, "a spec 'name' or 'name:key=value,...'")
    name, _, rest = text.strip().partition(":")
    name = name.strip()
    if not _NAME.match(name):
        raise ConfigError(field, text, "a spec 'name' or 'name:key=value,...'")
    params: dict[str, Any] = {}
    if rest.strip():
        for part in rest.split(","):
            key, eq, val = part.partition("=")
            key, val = key.strip(), val.strip()
            if not eq or not _NAME.match(key) or not val:
                raise ConfigError(field, text, "a spec 'name' or 'name:key=value,...' (bad part "
                                  f"{part.strip()!r})")
            if key in params:
                raise ConfigError(field, text, f"each key once (repeated {key!r})")
            params[key] = _value(val)
    return Spec(name, params)


def format_spec(spec: Spec) -> str:
    """Inverse of :func:`parse_spec`."""
    if not spec.params:
        return spec.name
    return spec.name + ":" + ",".join(f"{k}={v}" for k, v in spec.params.items())
