"""Verify fixes by re-running: the top fixes as configs, and a before/after table of the results."""

from __future__ import annotations

import math
from typing import Any, Sequence

from rich.table import Table

from .findings import Diagnosis, Fix

__all__ = ["fix_configs", "before_after_table"]


def fix_configs(config: Any, diagnosis: Diagnosis, n: int = 2) -> list[tuple[Fix, Any]]:
    """The first ``n`` fixes that are config changes, each applied to ``config`` (a ``RunConfig``).

    A change to ``None`` puts a setting back to its default (a switch from ``rnn`` to ``lstm`` drops
    ``rnn_activation``), which :meth:`RunConfig.replace` would read as "unchanged".
    """
    out = []
    for fx in diagnosis.fixes:
        if fx.changes:
            out.append((fx, config.make({**config.model_dump(), **fx.changes})))
        if len(out) == n:
            break
    return out


def _f(v: Any, fmt: str) -> str:
    return "—" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, fmt)


def before_after_table(rows: Sequence[tuple[str, Any, Diagnosis]]) -> Table:
    """``rows``: (label, RunResult, Diagnosis); the first is the original run."""
    t = Table(title="fixes, verified by re-running")
    for col in ("run", "verdict", "signal orders, step 0", "weight-grad. orders, step 0", "final loss", "test accuracy"):
        t.add_column(col, justify="left" if col in ("run", "verdict") else "right", no_wrap=col == "verdict")
    for label, result, d in rows:
        s = result.summary
        acc = s.get("final_test_accuracy")
        t.add_row(label, d.verdict, _f(s.get("signal_vanishing_orders"), "+.2f"), _f(s.get("vanishing_orders"), "+.2f"),
                  _f(s.get("final_loss"), ".3f"),
                  "—" if acc is None else _f(100 * acc, ".1f") + " %")
    return t
