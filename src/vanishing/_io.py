"""Writing output files with errors a user can act on."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from .errors import VanishingError

__all__ = ["check_writable", "save_figure", "write_text"]


@contextmanager
def _writing(path: str | Path, what: str) -> Iterator[Path]:
    """``path`` with its folders made; an OSError while writing it is a one-line :class:`VanishingError`."""
    p = Path(path)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        yield p
    except OSError as exc:
        raise VanishingError(f"cannot write {what} {p}: {exc.strerror or exc}") from None


def check_writable(path: str | Path, what: str) -> Path:
    """Fail now, before any training, if ``path`` cannot be written later: a one-line :class:`VanishingError`.

    Makes missing folders (as the writers do) and opens the file for appending, which leaves an
    existing file as it is; a file that did not exist is removed again.
    """
    p = Path(path)
    if p.is_dir():
        raise VanishingError(f"cannot write {what} {p}: it is a folder")
    existed = p.exists()
    with _writing(p, what):
        with open(p, "a", encoding="utf-8"):
            pass
    if not existed:
        p.unlink(missing_ok=True)
    return p


def write_text(path: str | Path, text: str, what: str) -> Path:
    """Write ``text`` to ``path`` (creating folders); a failure is a one-line :class:`VanishingError`."""
    with _writing(path, what) as p:
        p.write_text(text, encoding="utf-8")
    return p


def save_figure(fig: Any, path: str | Path, dpi: int, what: str = "figure") -> Path:
    """``fig.savefig(path)`` (creating folders); a failure is a one-line :class:`VanishingError`."""
    with _writing(path, what) as p:
        fig.savefig(p, dpi=dpi)
    return p
