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
    """``rows``: (label, RunResult, Diagnosis); the first is the original run. Runs on a sequence task
    are compared through time (orders and ξ̂ at the first and last recorded step, loss vs baseline)."""
    if any(r.summary.get("baseline") is not None or r.summary.get("xi_steps") is not None for _, r, _ in rows):
        return _through_time_table(rows)
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


def _through_time_table(rows: Sequence[tuple[str, Any, Diagnosis]]) -> Table:
    from ..results.timeaxis import fit_decay

    t = Table(title="fixes, verified by re-running (through time: log10 ‖∂L/∂h_t‖ last / first time step)")
    for col in ("run", "verdict", "orders, step 0", "orders, last step", "ξ̂ last step", "test loss / baseline",
                "solved"):
        t.add_column(col, justify="left" if col in ("run", "verdict") else "right", no_wrap=col == "verdict")
    for label, result, d in rows:
        s = result.summary
        last = (math.nan, math.nan)
        if "hidden_grad_norm" in result.trace.time:
            steps, g = result.trace.recorded_time("hidden_grad_norm")
            if len(steps):
                dec = fit_decay(g[-1])
                last = (dec.orders_through_time, dec.xi)
        solved = s.get("solved")
        t.add_row(label, d.verdict, _f(s.get("time_orders"), "+.1f"), _f(last[0], "+.1f"),
                  "∞" if last[1] == math.inf else _f(last[1], ".3g"),
                  "—" if s.get("score_vs_baseline") is None else _f(100 * s["score_vs_baseline"], ".1f") + " %",
                  "—" if solved is None else ("yes" if solved else "no"))
    return t
