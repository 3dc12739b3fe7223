"""Figures through time: ‖∂L/∂h_t‖ over time steps × training steps, and the gradient against t.

Both take a :class:`RunResult` (or a :class:`Trace`) whose ``time`` holds ``hidden_grad_norm`` (or, from
``watch(time_axis=...)``, ``input_grad_norm_t``) and return a :class:`matplotlib.figure.Figure` built
without pyplot. Magnitudes are on absolute log10 scales, so a decay stays visible as it is; a plot raises
:class:`VanishingError` naming what it needs when the run did not record it.

Example:
    >>> from vanishing.report import time_plots                                      # doctest: +SKIP
    >>> time_plots.save(time_plots.time_heatmap(result), "time_heatmap.png")          # doctest: +SKIP
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np
from matplotlib.figure import Figure

from ..errors import VanishingError
from ..results import RunResult, Trace
from ..results.timeaxis import fit_decay
from .describe import model_title
from .plots import all_plots, log_image, save

__all__ = ["TIME_QUANTITIES", "TIME_PLOTS", "time_quantity", "shared_range", "time_heatmap", "time_curves", "all_time_plots",
           "save"]

TIME_QUANTITIES: dict[str, str] = {
    "hidden_grad_norm": "‖∂L/∂h_t‖",
    "input_grad_norm_t": "‖∂L/∂x_t‖",
    "cell_grad_norm": "‖∂L/∂c_t‖",
}
"""Time-axis quantities a plot can draw, in the order one is chosen, with their symbol."""

Source = RunResult | Trace


def _trace(source: Source) -> Trace:
    return source.trace if isinstance(source, RunResult) else source


def time_quantity(source: Source, name: str | None = None) -> tuple[str, np.ndarray, np.ndarray]:
    """``(name, steps, values (S', T))`` of ``name`` (default: the first of :data:`TIME_QUANTITIES`
    recorded), or a VanishingError saying what the time plots need."""
    trace = _trace(source)
    time = getattr(trace, "time", None) or {}
    names = [name] if name is not None else [n for n in TIME_QUANTITIES if n in time]
    for n in names:
        if n in time:
            steps, values = trace.recorded_time(n)
            if len(steps) and values.shape[1]:
                return n, steps, values
    wanted = name or " or ".join(TIME_QUANTITIES)
    raise VanishingError(f"the time plots need {wanted!r} on the time axis, which this run did not record "
                         f"(a recurrent model, or watch(model, time_axis=...)); recorded on the time axis: "
                         f"{', '.join(time) or 'nothing'}")


def _title(source: Source) -> str:
    cfg = _trace(source).meta.get("config") or (dict(source.config) if isinstance(source, RunResult) else {})
    if not cfg or not cfg.get("model") or cfg.get("model") == "mlp":
        return "run"
    return model_title(cfg)


def _log10(values: np.ndarray) -> np.ndarray:
    a = np.asarray(values, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.isfinite(a) & (a > 0), np.log10(np.where(a > 0, a, 1.0)), np.nan)


def _decades(values: np.ndarray) -> tuple[int, int]:
    logs = _log10(values)
    logs = logs[np.isfinite(logs)]
    if not logs.size:
        return -1, 0
    lo, hi = math.floor(logs.min()), math.ceil(logs.max())
    return lo, max(hi, lo + 1)


def shared_range(*sources: Source) -> tuple[int, int] | None:
    """Whole decades covering the per-time-step gradients of every source (one colour scale for all)."""
    rows = []
    for s in sources:
        try:
            rows.append(time_quantity(s)[2].ravel())
        except VanishingError:
            pass
    return _decades(np.concatenate(rows)) if rows else None


def time_heatmap(source: Source, name: str | None = None, vrange: tuple[float, float] | None = None) -> Figure:
    """log10 of the per-time-step gradient as an image: time step t up (1 = first input), recorded
    training steps across, on an absolute colour scale (``vrange`` in log10; default this run's decades)."""
    name, steps, g = time_quantity(source, name)
    img = _log10(g).T  # (T, S')
    symbol = TIME_QUANTITIES.get(name, name)
    fig, ax = log_image(img, g, steps, vrange or _decades(g), f"log10 {symbol}")
    ax.set_xlabel("training step")
    ax.set_ylabel("time step t (1 = first input)")
    ax.set_title(f"log10 {symbol} per time step over training\n{_title(source)}", fontsize=10)
    return fig


def _pick(steps: np.ndarray, at: Sequence[int] | None) -> list[int]:
    """Indices of the recorded steps to draw: those nearest each of ``at``, else first, middle and last."""
    if at:
        return sorted({int(np.argmin(np.abs(steps - s))) for s in at})
    return sorted({0, len(steps) // 2, len(steps) - 1})


def _theory_profile(source: Source, length: int) -> np.ndarray | None:
    """Predicted log10 ‖∂L/∂h_t‖ / ‖∂L/∂h_{T-1}‖ at init for a vanilla RNN, or None where theory is silent."""
    trace = _trace(source)
    meta = trace.meta or {}
    cfg = dict(meta.get("config") or (source.config if isinstance(source, RunResult) else {}) or {})
    ds = source.dataset if isinstance(source, RunResult) else {}
    input_q = meta.get("input_q", ds.get("input_q"))
    n_in = cfg.get("in_features") or meta.get("in_features") or ds.get("in_features")
    if not cfg.get("model") or cfg.get("model") == "mlp" or input_q is None or n_in is None:
        return None
    from ..theory.recurrent import predict_rnn_config

    try:
        return np.asarray(predict_rnn_config(cfg, float(input_q), int(n_in), length=length).log10_grad_norm)
    except (VanishingError, ValueError, TypeError):
        return None


def time_curves(source: Source, at: Sequence[int] | None = None, name: str | None = None,
                theory: bool = True, ax: Any = None) -> Figure:
    """The per-time-step gradient against t on a log axis at chosen recorded steps (``at``; default the
    first, middle and last), each labelled with its fitted ξ̂; with ``theory``, the mean-field profile at
    init of a vanilla RNN, shifted to meet the measured last time step at the first drawn step."""
    name, steps, g = time_quantity(source, name)
    fig = Figure(figsize=(7, 4.2), layout="constrained") if ax is None else ax.figure
    ax = ax or fig.add_subplot()
    t = np.arange(1, g.shape[1] + 1)
    picked = _pick(steps, at)
    colours = ["#1f77b4", "#9467bd", "#d62728", "#2ca02c", "#ff7f0e", "#8c564b"]
    for k, i in enumerate(picked):
        row = g[i]
        d = fit_decay(row)
        xi = "∞" if math.isinf(d.xi) else "n/a" if math.isnan(d.xi) else f"{d.xi:.3g}"
        with np.errstate(invalid="ignore"):
            shown = np.where(np.isfinite(row) & (row > 0), row, np.nan)
        ax.plot(t, shown, "-", color=colours[k % len(colours)], lw=1.4,
                label=f"step {int(steps[i])}: ξ̂ = {xi} steps, {d.orders_through_time:+.1f} orders")
    pred = _theory_profile(source, g.shape[1]) if theory and name == "hidden_grad_norm" else None
    first = g[picked[0]]
    if pred is not None and np.isfinite(first[-1]) and first[-1] > 0:
        ax.plot(t, 10 ** (pred + math.log10(first[-1])), "--", color="black", lw=1.1,
                label="mean-field theory at init")
    ax.set_yscale("log")
    if not np.any(np.isfinite(g) & (g > 0)):
        ax.set_ylim(1e-8, 1)
    symbol = TIME_QUANTITIES.get(name, name)
    ax.set_xlabel("time step t (1 = first input)")
    ax.set_ylabel(f"{symbol} (log scale)")
    ax.set_title(f"gradient vs time step\n{_title(source)}", fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


TIME_PLOTS: dict[str, tuple[str, Callable[[Source], Figure]]] = {
    "time_heatmap": ("Gradient norm over time steps and training steps", time_heatmap),
    "time_curves": ("Gradient vs time step at the first, middle and last recorded step", time_curves),
}
"""name → (caption, plot function) of the plots through time, in report order."""


def all_time_plots(source: Source) -> list[tuple[str, str, Figure | VanishingError]]:
    """``(name, caption, figure or the error)`` for every plot of :data:`TIME_PLOTS`; empty for a run
    without a time axis (an MLP), so reports of MLPs do not change."""
    if not (getattr(_trace(source), "time", None) or {}):
        return []
    return all_plots(source, TIME_PLOTS)
