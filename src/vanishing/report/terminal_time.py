"""The terminal's view through time: a time × training-step heatmap of log10 ‖∂L/∂h_t‖ in coloured cells,
the gradient against t as log-scale bars at the first and last recorded step, and the fitted numbers."""

from __future__ import annotations

import math

import numpy as np
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ..results import RunResult, Trace
from ..results.timeaxis import fit_decay
from .terminal import _range, gradient_flow_table

__all__ = ["time_heatmap_text", "time_curve_table", "time_summary", "HEATMAP_COLOURS"]

HEATMAP_COLOURS = (17, 18, 19, 25, 31, 37, 36, 35, 71, 107, 143, 179, 220, 226)
"""xterm-256 colours from dark blue (smallest) to yellow (largest), roughly viridis."""

_MAX_ROWS, _MAX_COLS = 16, 32
_SHADES = " ░▒▓█"


def _spread(n: int, most: int) -> np.ndarray:
    """Up to ``most`` indices evenly over 0 … n-1, first and last included."""
    return np.unique(np.linspace(0, n - 1, min(n, most)).round().astype(int))


def time_heatmap_text(steps: np.ndarray, values: np.ndarray, symbol: str = "‖∂L/∂h_t‖",
                      lo_hi: tuple[float, float] | None = None) -> RenderableType:
    """log10 ``values`` (S, T) as cells shaded ░▒▓█ and coloured: time steps up (the last, where the loss is
    read, on top), recorded training steps across; at most 16 × 32 cells (evenly chosen rows and columns).
    ``lo_hi``: the log10 range of the scale (share it to compare runs); default this array's decades."""
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(np.isfinite(values) & (values > 0), np.log10(np.where(values > 0, values, 1.0)), np.nan)
    lo, hi = lo_hi or _range([values])
    cols, rows = _spread(values.shape[0], _MAX_COLS), _spread(values.shape[1], _MAX_ROWS)[::-1]
    n = len(HEATMAP_COLOURS)
    out = Text()
    out.append(f"log10 {symbol} over time steps (up) and training steps (across)\n", style="bold")
    width = len(str(values.shape[1]))
    for t in rows:
        out.append(f"t={t + 1:>{width}} ")
        for s in cols:
            v, raw = logs[s, t], values[s, t]
            if np.isnan(v):
                out.append("0 " if raw == 0 else "✗ ", style="red")
            else:
                frac = min(1.0, max(0.0, (v - lo) / (hi - lo))) if hi > lo else 1.0
                k = min(n - 1, int(frac * n))
                shade = _SHADES[min(len(_SHADES) - 1, int(frac * len(_SHADES)))]  # readable without colour too
                out.append(shade * 2, style=f"color({HEATMAP_COLOURS[k]})")
        out.append("\n")
    out.append(" " * (width + 3) + f"steps {int(steps[cols[0]])} … {int(steps[cols[-1]])}; from 1e{lo:+.0f} (blank, "
               f"dark) to 1e{hi:+.0f} (█, yellow); 0 = exactly zero, ✗ = NaN/inf", style="dim")
    return out


def time_curve_table(steps: np.ndarray, values: np.ndarray, symbol: str = "‖∂L/∂h_t‖") -> Table:
    """The gradient against t as log-scale bars at the first and last recorded step (at most 16 time steps)."""
    picks = [0] + ([len(steps) - 1] if len(steps) > 1 else [])
    rows = _spread(values.shape[1], _MAX_ROWS)
    cols = [(f"step {int(steps[i])}", values[i][rows]) for i in picks]
    labels = [f"t={t + 1}" + (" (first)" if t == 0 else " (last)" if t == values.shape[1] - 1 else "") for t in rows]
    return gradient_flow_table(cols, labels, title=f"gradient vs time step: {symbol} (log scale)",
                               row_heading="time step")


def _xi(v: float) -> str:
    return "∞" if math.isinf(v) else "n/a" if math.isnan(v) else f"{v:.3g}"


def time_summary(source: RunResult | Trace, name: str | None = None) -> RenderableType | None:
    """Heatmap, gradient-vs-t bars and, per recorded end, ξ̂, reach and orders through time; None for a run
    without a time axis."""
    trace = source.trace if isinstance(source, RunResult) else source
    time = getattr(trace, "time", None) or {}
    name = name or next((n for n in ("hidden_grad_norm", "input_grad_norm_t") if n in time), None)
    if name is None:
        return None
    steps, values = trace.recorded_time(name)
    if not len(steps) or values.shape[1] < 2:
        return None
    symbol = {"hidden_grad_norm": "‖∂L/∂h_t‖", "input_grad_norm_t": "‖∂L/∂x_t‖"}.get(name, name)
    numbers = Table(box=None, show_header=False, pad_edge=False)
    numbers.add_column(style="bold")
    numbers.add_column()
    for i in sorted({len(steps) - 1}):  # step 0's numbers are in the run summary's "through time" row
        d = fit_decay(values[i])
        numbers.add_row(f"through time, step {int(steps[i])}",
                        f"orders lost {d.orders_through_time:+.1f} (log10 {symbol} last / first time step); "
                        f"ξ̂ = {_xi(d.xi)} steps per e-fold (Theil–Sen); reach {d.reach} of {d.length - 1} steps "
                        f"back at {d.threshold:g}")
    return Group(time_heatmap_text(steps, values, symbol), Text(""), time_curve_table(steps, values, symbol), numbers)
