"""One exception family for the package.

Every error a user can cause is a :class:`VanishingError`; bad settings are a
:class:`ConfigError` whose message names the field, the value and what is allowed,
so the CLI can print it on one line and exit with status 2.
"""

from __future__ import annotations

from typing import Any, Iterable

__all__ = ["VanishingError", "ConfigError", "DataError", "StoreError"]


class VanishingError(Exception):
    """Base class of every error raised on purpose by ``vanishing``."""


class ConfigError(VanishingError, ValueError):
    """A setting is invalid: names the field, the value and what is allowed."""

    def __init__(self, field: str, value: Any, allowed: str | Iterable[str]):
        if not isinstance(allowed, str):
            allowed = "one of: " + ", ".join(str(a) for a in allowed)
        self.field, self.value, self.allowed = field, value, allowed
        super().__init__(f"invalid {field} {value!r}; {allowed}")


class DataError(VanishingError):
    """A data set could not be loaded (missing path, malformed file, ...)."""


class StoreError(VanishingError):
    """A results store cannot be opened, read or written: names the path and what is wrong."""

    def __init__(self, path: Any, problem: str):
        self.path, self.problem = str(path), problem
        super().__init__(f"results store {self.path!r}: {problem}")
