"""Writing output files with errors a user can act on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import VanishingError

__all__ = ["save_figure", "write_text"]


def write_text(path: str | Path, text: str, what: str) -> Path:
    """Write ``text`` to ``path`` (creating folders); a failure is a one-line :class:`VanishingError`."""
    p = Path(path)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise VanishingError(f"cannot write {what} {p}: {exc.strerror or exc}") from None
    return p


def save_figure(fig: Any, path: str | Path, dpi: int, what: str = "figure") -> Path:
    """``fig.savefig(path)`` (creating folders); a failure is a one-line :class:`VanishingError`."""
    p = Path(path)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(p, dpi=dpi)
    except OSError as exc:
        raise VanishingError(f"cannot write {what} {p}: {exc.strerror or exc}") from None
    return p
