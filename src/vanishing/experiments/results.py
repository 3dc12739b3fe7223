"""Result rows (``Store.rows()``) as a text table, CSV or Parquet."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any, Sequence

from .._io import write_text
from ..config import RunConfig
from ..errors import ConfigError, VanishingError

__all__ = ["write_rows", "FORMATS", "TABLE_COLUMNS"]

FORMATS = ("table", "csv", "parquet")
# a table shows the config fields that vary between rows, then these
TABLE_COLUMNS = ("status", "vanishing_orders", "signal_vanishing_orders", "final_test_accuracy", "verdict", "duration_s")


def write_rows(rows: list[dict[str, Any]], fmt: str, path: str | Path | None = None,
               columns: Sequence[str] | None = None) -> str | None:
    """Write result rows as ``table`` (aligned plain text), ``csv`` or ``parquet``.

    Args:
        rows: dicts with the same keys (as :meth:`Store.rows` returns).
        fmt: ``table`` | ``csv`` | ``parquet``.
        path: file to write; ``None`` returns the text instead (``table`` and ``csv`` only).
        columns: keys to write, in order. Default: every key for csv/parquet; for a table the
            config fields that differ between rows, then :data:`TABLE_COLUMNS` (and ``error``
            when a run failed).

    Returns:
        The text when ``path`` is ``None``, else ``None``.

    Example:
        >>> print(write_rows([{"depth": 3, "vanishing_orders": 1.5}], "table", columns=["depth", "vanishing_orders"]))
        depth  vanishing_orders
        3      1.5
    """
    if fmt not in FORMATS:
        raise ConfigError("format", fmt, FORMATS)
    if columns is None:
        columns = _table_columns(rows) if fmt == "table" else _all_keys(rows)
    columns = list(columns)
    if fmt == "parquet":
        if path is None:
            raise ConfigError("path", None, "a file to write parquet to")
        _write_parquet(rows, columns, Path(path))
        return None
    text = _table(rows, columns) if fmt == "table" else _csv(rows, columns)
    if path is None:
        return text
    write_text(path, text, fmt)
    return None


def _all_keys(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:  # still a header: the columns every store row has
        return [*RunConfig.model_fields, "status", "verdict", "duration_s", "error", "config_hash", "finished_at"]
    keys: dict[str, None] = {}
    for row in rows:
        keys.update(dict.fromkeys(row))
    return list(keys)


def _table_columns(rows: list[dict[str, Any]]) -> list[str]:
    keys = _all_keys(rows)
    varying = [f for f in RunConfig.model_fields if f in keys and len({repr(r.get(f)) for r in rows}) > 1]
    extra = ["error"] if any(r.get("error") for r in rows) else []
    return varying + [c for c in TABLE_COLUMNS if c in keys] + extra


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.4g}"
    return str(v)


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    cells = [columns] + [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells) + "\n"


def _csv(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """RFC 4180 CSV; ``None`` is an empty cell, non-finite floats are ``nan`` / ``inf`` / ``-inf``."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for r in rows:
        writer.writerow(["" if r.get(c) is None else r.get(c) for c in columns])
    return buf.getvalue()


def _write_parquet(rows: list[dict[str, Any]], columns: list[str], path: Path) -> None:
    try:
        import pandas as pd
        import pyarrow  # noqa: F401 — pandas' parquet engine
    except ImportError as exc:
        raise ConfigError("format", "parquet", f"pandas and pyarrow installed (missing {exc.name}): "
                                                "pip install pandas pyarrow") from None
    frame = pd.DataFrame([{c: r.get(c) for c in columns} for r in rows], columns=columns)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(path, index=False)
    except OSError as exc:
        raise VanishingError(f"cannot write parquet {path}: {exc.strerror or exc}") from None
