"""Rich terminal rendering of run results: log-scale gradient-flow bars that fit 80 columns."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from rich.console import Group, RenderableType
from rich.table import Table
from rich.markup import escape
from rich.text import Text

from ..diagnose.findings import signed_orders
from ..results import RunResult
from .describe import model_line
from ..results.run_result import SIGNAL_ORDERS, WEIGHT_GRAD_ORDERS

__all__ = ["log_bar", "gradient_flow_table", "run_summary", "fmt_sci", "fmt_pct"]

_BLOCKS = " ▏▎▍▌▋▊▉█"


def fmt_sci(v: float | None) -> str:
    if v is None or not np.isfinite(v):
        return "nan" if v is None or np.isnan(v) else ("inf" if v > 0 else "-inf")
    return f"{v:.1e}"


def fmt_pct(v: float | None) -> str:
    return "—" if v is None or not np.isfinite(v) else f"{100 * v:.1f}%"


def log_bar(value: float, lo: float, hi: float, width: int = 18) -> str:
    """A bar whose length is proportional to log10(value) between 10^lo and 10^hi; ``0`` for exactly 0
    (below any log axis), ``✗`` for NaN or ±inf."""
    if not np.isfinite(value):
        return "✗"
    if value <= 0:
        return "0" if value == 0 else "✗"
    frac = (math.log10(value) - lo) / (hi - lo) if hi > lo else 1.0
    cells = max(0.0, min(1.0, frac)) * width
    full = int(cells)
    part = _BLOCKS[int((cells - full) * 8)] if full < width else ""
    return ("█" * full + part).rstrip() or "▏"


def _range(arrays: Sequence[np.ndarray]) -> tuple[float, float]:
    vals = np.concatenate([a[np.isfinite(a) & (a > 0)] for a in arrays]) if arrays else np.array([])
    if vals.size == 0:
        return 0.0, 1.0
    lo, hi = math.floor(np.log10(vals.min())), math.ceil(np.log10(vals.max()))
    return float(lo), float(hi if hi > lo else lo + 1)


def gradient_flow_table(columns: Sequence[tuple[str, np.ndarray]], layer_labels: Sequence[str],
                        title: str = "gradient flow: ‖∂L/∂W‖ per layer (log scale)",
                        bar_width: int = 16, lo_hi: tuple[float, float] | None = None,
                        row_heading: str = "layer") -> Table:
    """One row per layer (input side first), one bar column per (heading, values) pair.

    All columns share one log axis, so a shorter bar always means a smaller gradient. ``row_heading``
    names the rows (``"time step"`` for the gradient through time).
    """
    lo, hi = lo_hi or _range([c[1] for c in columns])
    caption = f"bars: log10 scale from 1e{lo:+.0f} to 1e{hi:+.0f}; 0 = exactly zero; ✗ = NaN or ±inf"
    for heading, values in columns:
        v = np.asarray(values, dtype=float)
        if v.size and np.all(v == 0):
            caption += f"\n{heading}: every layer's gradient is exactly 0"
        elif v.size and not np.isfinite(v).any():
            caption += f"\n{heading}: no layer's gradient is finite"
    table = Table(title=title, title_justify="left", box=None, pad_edge=False, caption=caption,
                  caption_justify="left")
    table.add_column(row_heading, style="bold", no_wrap=True)
    for heading, _ in columns:
        table.add_column(heading, justify="right", no_wrap=True)
        table.add_column("", no_wrap=True, min_width=bar_width)
    for i, label in enumerate(layer_labels):
        row: list[RenderableType] = [label]
        for _, values in columns:
            v = float(values[i])
            low = v == 0 or (np.isfinite(v) and v > 0 and (math.log10(v) - lo) < 0.25 * (hi - lo))
            colour = "red" if low or not np.isfinite(v) else "cyan"
            row += [fmt_sci(v), Text(log_bar(v, lo, hi, bar_width), style=colour)]
        table.add_row(*row)
    return table


def layer_labels(n: int) -> list[str]:
    """``1 (in)``, ``2``, …, ``n (out)`` — layer numbers for display."""
    if n == 1:
        return ["1"]
    return ["1 in"] + [str(i) for i in range(2, n)] + [f"{n} out"]


def _orders(v: float | None) -> str:
    return "n/a (not finite, or both layers exactly 0)" if v is None or np.isnan(v) else signed_orders(v)


def run_summary(result: RunResult) -> RenderableType:
    """Gradient flow at step 0 and at the end, plus loss/accuracy and the first-vs-last gap."""
    steps, grads = result.trace.recorded("grad_norm")
    parts: list[RenderableType] = []
    c = result.config
    parts.append(Text.from_markup(
        f"{escape(model_line(c))}\n"
        f"{result.dataset.get('description', c.get('task') or c['dataset'])}; {c['optimizer']} lr {c['lr']:g}, "
        f"batch {c['batch_size']}, {result.outcome.steps_done} steps, seed {c['seed']}"))
    if len(steps):
        cols = [(f"step {int(steps[0])}", grads[0])]
        if len(steps) > 1:
            cols.append((f"step {int(steps[-1])}", grads[-1]))
        parts.append(gradient_flow_table(cols, layer_labels(grads.shape[1])))
    s = result.summary
    metrics = Table(box=None, show_header=False, pad_edge=False)
    metrics.add_column(style="bold")
    metrics.add_column()
    if len(steps):
        w = f"{_orders(s['vanishing_orders'])} at step {int(steps[0])}"
        if len(steps) > 1:
            w += f", {_orders(s['vanishing_orders_final'])} at step {int(steps[-1])}"
        metrics.add_row(WEIGHT_GRAD_ORDERS, w + " (orders of magnitude: log10 of the last layer's ‖∂L/∂W‖ over the "
                        "first's; > 0: the first layer gets less)")
    sig_steps, _ = result.trace.recorded("signal_grad_norm") if "signal_grad_norm" in result.trace else ([], None)
    if len(sig_steps):
        text = f"{_orders(s['signal_vanishing_orders'])} at step {int(sig_steps[0])} (the same for ‖∂L/∂z‖)"
        pred = s.get("predicted_vanishing_orders")
        if pred is not None and np.isfinite(pred):
            th = result.trace.meta.get("theory") or {}
            text += (f"; mean-field theory predicts {pred:+.2f} ({th.get('phase')} phase, "
                     f"σ_w² = {th.get('sigma_w2', float('nan')):.3g})")
        metrics.add_row(SIGNAL_ORDERS, text)
    metrics.add_row("final loss", f"{s['final_loss']:.4g}")
    if s.get("baseline") is not None:
        metrics.add_row("vs baseline", _vs_baseline(s, result.dataset))
    if s.get("xi_steps") is not None:
        metrics.add_row("through time", _through_time(s))
    if s.get("clipped_steps"):
        metrics.add_row("clipped", f"{s['clipped_steps']} of {s['steps_done']} steps (gradient norm > {c.get('clip')})")
    acc = f"test {fmt_pct(s['final_test_accuracy'])}, train {fmt_pct(s['final_train_accuracy'])}"
    if s.get("majority_baseline") is not None:
        acc += f" (always guessing the commonest class: {fmt_pct(s['majority_baseline'])})"
    if s["final_test_accuracy"] is not None or s["final_train_accuracy"] is not None:
        metrics.add_row("accuracy", acc)
    if s["diverged"]:
        metrics.add_row("diverged", Text(f"yes: loss became non-finite at step {s['diverged_step']}", style="red"))
    if s.get("interrupted"):
        metrics.add_row("interrupted", f"stopped by Ctrl-C after {s['steps_done']} steps")
    metrics.add_row("time", f"{s['duration_s']:.1f} s")
    from .terminal_time import time_summary  # reads this module's bars

    through_time = time_summary(result)
    if through_time is not None:
        parts.append(through_time)
    parts.append(metrics)
    return Group(*parts)


def _vs_baseline(s: dict, dataset: dict) -> str:
    score, solved = s.get("score_vs_baseline"), s.get("solved")
    text = (f"test loss {s['final_test_loss']:.4g} = {fmt_pct(score)} of the baseline {s['baseline']:.4g} "
            f"({dataset.get('baseline_text', 'memoryless answer')})") if score is not None else "not measured"
    if solved is not None:
        text += f"; solved (below {dataset.get('solved_below'):.3g}): {'yes' if solved else 'no'}"
    return text


def _through_time(s: dict) -> str:
    xi, reach, orders = s.get("xi_steps"), s.get("reach_steps"), s.get("time_orders")
    xi_text = "no decay" if xi is not None and np.isinf(xi) else f"ξ̂ = {xi:.3g} time steps per e-fold"
    return (f"{xi_text}; ‖∂L/∂h_t‖ last / first step: {_orders(orders)} orders; reaches {reach} steps back "
            "at 1e-6 of the last step's (step 0)")
