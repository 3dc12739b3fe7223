"""Success against sequence length: one line per cell kind (or any field), the task's T across.

Reads the rows of a sweep store (one dict per run: config fields including ``task``, summary metrics
including ``solved`` and ``score_vs_baseline``) and returns a :class:`matplotlib.figure.Figure` built
without pyplot. A point is the mean (or ``agg``) over the runs that share its group and T: seeds and
every other field are pooled, and the count is written beside it. With ``solved`` the point is the
fraction of runs that solved the task (a run without a value, failed or diverged, did not); each run's
own value is drawn as a faint dot for a numeric metric.

Example:
    >>> rows = Store("rnn_adding.db").rows()                                           # doctest: +SKIP
    >>> fig = length_plots.success_vs_length(rows, value="solved", by="model")          # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError, VanishingError
from ..spec import parse_spec
from .sweep_plots import AGGREGATES

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["sequence_length", "success_vs_length", "LENGTH"]

Row = Mapping[str, Any]

LENGTH = "T"
"""The task parameter drawn across: the sequence length (adding) or the delay (copy)."""

_COLOURS = {"rnn": "#d62728", "irnn": "#ff7f0e", "lstm": "#1f77b4", "gru": "#2ca02c"}


def sequence_length(task: Any) -> int | None:
    """The ``T`` of a task spec (``adding:T=100`` → 100); the fixed length of a task without one
    (``digits_seq`` → 8); None where the row has no task (an MLP)."""
    if not task:
        return None
    params = dict(parse_spec(str(task), "task").params)
    if LENGTH in params:
        return int(params[LENGTH])
    from ..data.sequence import task_length

    return task_length(str(task))


def _value(row: Row, value: str) -> float:
    v = row.get(value)
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    return math.nan


def success_vs_length(rows: Sequence[Row], value: str = "solved", by: str = "model", agg: str = "mean",
                      title: str | None = None, log_y: bool | None = None) -> "Figure":
    """``value`` against the task's T, one line per value of ``by``.

    Args:
        value: a summary metric; ``solved`` (the fraction of runs below the task's solved line) by default,
            or e.g. ``score_vs_baseline`` (test loss / baseline; log axis) or ``xi_steps``.
        by: the field that makes the lines (``model``, ``rnn_activation``, ``recurrent_init`` …).
        agg: how the runs at one point are pooled (:data:`~vanishing.report.sweep_plots.AGGREGATES`).
    """
    from matplotlib.figure import Figure

    if agg not in AGGREGATES:
        raise ConfigError("agg", agg, list(AGGREGATES))
    if not rows:
        raise VanishingError("no runs to plot: the store (or the selection) is empty")
    for field in ("task", by):
        if not any(field in r for r in rows):
            raise ConfigError("--by" if field == by else "field", field,
                              "a field of the stored runs: " + ", ".join(sorted(rows[0])))
    if not any(value in r for r in rows):
        raise ConfigError("--value", value, "a metric of the stored runs")
    groups: dict[Any, dict[int, list[float]]] = {}
    for r in rows:
        t = sequence_length(r.get("task"))
        if t is None:
            continue
        groups.setdefault(r.get(by), {}).setdefault(t, []).append(_value(r, value))
    if not groups:
        raise VanishingError("no run has a sequence task (field 'task'); success vs length needs recurrent runs")
    fig = Figure(figsize=(7, 4.4), layout="constrained")
    ax = fig.add_subplot()
    fn = AGGREGATES[agg]
    solved = value == "solved"
    all_t = sorted({t for g in groups.values() for t in g})
    log_y = (value == "score_vs_baseline") if log_y is None else log_y
    n_groups = len(groups)
    sizes = {len(v) for g in groups.values() for v in g.values()}
    uniform = len(sizes) == 1  # every point pools as many runs: said once in the title, not at each point
    log_x = len(all_t) > 1 and all_t[-1] / max(all_t[0], 1) >= 8
    for k, (name, by_t) in enumerate(sorted(groups.items(), key=lambda kv: str(kv[0]))):
        colour = _COLOURS.get(str(name), f"C{k}")
        ts = sorted(by_t)
        # lines side by side around each T, so that equal values (all solved, none solved) stay visible
        dodge = 0.035 * (k - (n_groups - 1) / 2)
        xs = [t * (1 + dodge) if log_x else t + dodge * (all_t[-1] - all_t[0] or 1) / 4 for t in ts]
        ys, notes = [], []
        for t in ts:
            vals = np.asarray(by_t[t], dtype=float)
            ok = vals[np.isfinite(vals)]
            if solved:  # a run with no answer (failed, diverged before the test) did not solve the task
                ys.append(float(ok.sum()) / len(vals))
            else:
                ys.append(float(fn(ok)) if ok.size else math.nan)
            notes.append(f"{int(ok.sum())}/{len(vals)}" if solved else f"n={len(vals)}")
            if not solved and ok.size > 1:
                ax.plot([xs[ts.index(t)]] * ok.size, ok, ".", color=colour, alpha=0.35, ms=5)
        ax.plot(xs, ys, "o-", color=colour, lw=1.8, ms=6, label=str(name))
        if solved and not uniform:
            for x, y, note in zip(xs, ys, notes):
                if math.isfinite(y):
                    ax.annotate(note, (x, y), textcoords="offset points", xytext=(-6, 7 if y < 0.5 else -13),
                                fontsize=7, color=colour)
    if log_x:
        ax.set_xscale("log")
    ax.set_xticks(all_t, [str(t) for t in all_t])
    ax.minorticks_off()
    if solved:
        ax.set_ylim(-0.05, 1.08)
        ax.set_ylabel("fraction of runs that solved the task")
    else:
        if log_y:
            ax.set_yscale("log")
        if value == "score_vs_baseline":
            ax.axhline(1.0, color="grey", ls="--", lw=1, label="baseline (memoryless answer)")
        label = "test loss / baseline" if value == "score_vs_baseline" else value
        ax.set_ylabel(f"{label} ({agg} over runs)")
    tasks = sorted({str(parse_spec(str(r['task']), 'task').name) for r in rows if r.get("task")})
    ax.set_xlabel(f"sequence length {LENGTH} ({', '.join(tasks)})")
    ax.grid(True, alpha=0.3)
    ax.legend(title=by, fontsize=8)
    n = sum(len(v) for g in groups.values() for v in g.values())
    per_point = f", {sizes.pop()} per point" if uniform else ""
    ax.set_title(title or f"{'success' if solved else value} vs sequence length ({n} runs{per_point})", fontsize=10)
    return fig
