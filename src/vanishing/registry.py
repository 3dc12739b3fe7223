"""A small name → object registry that helps on a miss."""

from __future__ import annotations

from typing import Callable, Generic, Iterator, TypeVar

from .errors import ConfigError

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to objects; an unknown name lists the valid ones.

    >>> r = Registry[int]("colour")
    >>> r.add("red", 1)
    >>> r.get("red")
    1
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def add(self, name: str, item: T) -> None:
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._items[name] = item

    def remove(self, name: str) -> None:
        """Take ``name`` out again (e.g. a quantity registered by a test)."""
        self.get(name)
        del self._items[name]

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""

        def deco(item: T) -> T:
            self.add(name, item)
            return item

        return deco

    def get(self, name: str, field: str | None = None) -> T:
        """The item called ``name``; a miss raises :class:`ConfigError` listing the valid names."""
        try:
            return self._items[name]
        except KeyError:
            raise ConfigError(field or self.kind, name, self.names()) from None

    def names(self) -> list[str]:
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)
