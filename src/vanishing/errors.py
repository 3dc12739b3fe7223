"""One exception family for the package.

Every error a user can cause is a :class:`VanishingError`; bad settings are a
:class:`ConfigError` whose message names the field, the value and what is allowed,
so the CLI can print it on one line and exit with status 2.

Values come from users, files and flags: a message shows them through :func:`safe_repr`
(one line, printable, bounded), so no raw control byte, newline or megabyte of input
reaches a terminal.
"""

from __future__ import annotations

import reprlib
from typing import Any, Iterable

__all__ = ["VanishingError", "ConfigError", "DataError", "ResourceError", "StoreError", "safe_repr", "one_line"]

MAX_REPR = 120
"""About the most characters :func:`safe_repr` shows of one value."""


def one_line(text: str) -> str:
    """``text`` with every non-printable character (newline, NUL, ESC, U+2028 ...) written as an escape."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


# containers shown a few items and levels deep: a YAML file of shared aliases ("billion laughs") is tiny in
# memory but its full repr is not
_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlong = 3, 60
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = _REPR.maxfrozenset = _REPR.maxdeque = 8
_REPR.maxstring = _REPR.maxother = 2 * MAX_REPR


def safe_repr(value: Any, limit: int = MAX_REPR) -> str:
    r"""A one-line, printable ``repr`` of ``value``, cut after about ``limit`` characters.

    >>> safe_repr("a\nb\x1b[31m")
    "'a\\nb\\x1b[31m'"
    >>> safe_repr("x" * 1000, limit=10)
    "'xxxxxxxxx… (1000 characters)"
    """
    if type(value).__module__ == "numpy" and getattr(value, "shape", None) == ():
        value = value.item()  # 1280000.0, not np.float64(1280000.0)
    size = ""
    if isinstance(value, (str, bytes, bytearray)) and len(value) > limit:
        # cut before repr: a gigabyte of input is never copied whole
        size = f" ({len(value)} {'characters' if isinstance(value, str) else 'bytes'})"
        value = value[:limit]
    try:
        text = one_line(_REPR.repr(value))
    except Exception:  # a value whose own __repr__ fails still gets a message
        text = f"<{type(value).__name__}>"
    if size or len(text) > limit:
        return text[:limit] + "…" + size
    return text


class VanishingError(Exception):
    """Base class of every error raised on purpose by ``vanishing``."""


class ConfigError(VanishingError, ValueError):
    """A setting is invalid: names the field, the value and what is allowed."""

    def __init__(self, field: str, value: Any, allowed: str | Iterable[str]):
        if not isinstance(allowed, str):
            allowed = "one of: " + ", ".join(str(a) for a in allowed)
        self.field, self.value, self.allowed = field, value, allowed
        super().__init__(f"invalid {one_line(field)} {safe_repr(value)}; {one_line(allowed)}")


class DataError(VanishingError):
    """A data set could not be loaded (missing path, malformed file, ...); the message is one line."""

    def __init__(self, message: str):
        super().__init__(one_line(message))


class ResourceError(VanishingError):
    """Work that would not fit this machine (memory), refused before it starts: says what it needs,
    what is available and what to reduce."""


class StoreError(VanishingError):
    """A results store cannot be opened, read or written: names the path and what is wrong."""

    def __init__(self, path: Any, problem: str):
        self.path, self.problem = str(path), problem
        super().__init__(f"results store {safe_repr(self.path, 400)}: {one_line(problem)}")
