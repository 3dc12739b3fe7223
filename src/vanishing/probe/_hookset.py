"""The attach / detach life cycle shared by the probe's hook sets (:class:`~.hooks.Hooks`,
:class:`~.timeaxis.TimeAxis`): each registers what the current step needs in ``_register`` and keeps
the handles, so detaching removes exactly what is there."""

from __future__ import annotations

from typing import Any

__all__ = ["HookSet"]


class HookSet:
    """Subclasses implement ``_register`` (calling :meth:`_remove_all` first) and may extend ``detach``."""

    attached: bool
    _handles: list[Any]

    def attach(self) -> "HookSet":
        """Register the hooks (idempotent)."""
        self.attached = True
        self._register()
        return self

    def detach(self) -> None:
        """Remove every hook."""
        self._remove_all()
        self.attached = False

    def __enter__(self) -> "HookSet":
        return self.attach()

    def __exit__(self, *exc: object) -> None:
        self.detach()

    def _remove_all(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    def _register(self) -> None:  # pragma: no cover - every subclass defines it
        raise NotImplementedError
