"""Writing output files with errors a user can act on."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from .errors import ConfigError, VanishingError

__all__ = ["check_writable", "read_text_bounded", "save_figure", "write_text"]


def _size_text(limit: int) -> str:
    return f"{limit >> 20} MiB" if limit >= 1 << 20 else f"{limit} bytes"


def read_text_bounded(path: str | Path, limit: int, field: str, what: str) -> str:
    """The UTF-8 text of ``path``, never reading more than ``limit`` bytes whatever the file (or device) holds.

    Every failure is a :class:`ConfigError` naming ``field`` and the path; ``what`` says what the file
    should be ("a YAML file", "a result file").
    """
    p = Path(path)
    try:
        if p.is_file() and p.stat().st_size > limit:  # refused by its size, not read
            raise ConfigError(field, str(path), f"a readable {what} of at most {_size_text(limit)} "
                                                f"(it has {p.stat().st_size} bytes)")
        with open(p, "rb") as f:
            raw = f.read(limit + 1)
    except OSError as exc:
        raise ConfigError(field, str(path), f"a readable {what} ({exc.strerror or exc})") from None
    if len(raw) > limit:
        raise ConfigError(field, str(path), f"a readable {what} of at most {_size_text(limit)}")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(field, str(path), f"a UTF-8 {what} (not readable as text: byte "
                                            f"0x{raw[exc.start]:02x} at offset {exc.start})") from None


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
