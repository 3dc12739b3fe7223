"""Figures of a stored run: gradient flow, heatmap, attribution, update ratio, saturation, curves, comparison.

Every function takes a :class:`RunResult` (or a :class:`Trace`) and returns a
:class:`matplotlib.figure.Figure` built without pyplot (no global state). Gradient magnitudes are
drawn on absolute log10 axes, never rescaled per frame, so shrinkage stays visible. A plot raises
:class:`VanishingError` naming the quantity it needs when that quantity was not recorded.

Example:
    >>> from vanishing.report import plots                          # doctest: +SKIP
    >>> plots.save(plots.gradient_flow(result), "gradient_flow.png")  # doctest: +SKIP
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

import numpy as np
from matplotlib.figure import Figure

from .._io import save_figure
from ..errors import ConfigError, VanishingError
from ..diagnose.findings import span
from ..results import RunResult, Trace
from .describe import model_title
from ..theory import FIGURE_SUFFIXES, predict

__all__ = [
    "PLOTS", "FIGURE_SUFFIXES", "UPDATE_RATIO_BAND", "log10_range", "log_image",
    "gradient_flow", "heatmap", "attribution", "update_ratio", "saturation", "curves", "compare",
    "save", "all_plots",
]

# ‖ΔW‖/‖W‖ near 1e-3 per step is the usual healthy rate (Karpathy, "A Recipe for Training Neural Networks")
UPDATE_RATIO_BAND = (10 ** -3.5, 10 ** -2.5)

Source = RunResult | Trace


def _trace(source: Source) -> Trace:
    return source.trace if isinstance(source, RunResult) else source


def _config(source: Source) -> dict[str, Any] | None:
    cfg = _trace(source).meta.get("config")
    if cfg:
        return dict(cfg)
    if isinstance(source, RunResult):
        d = dict(source.config)
        d.update({k: source.dataset[k] for k in ("in_features", "out_features") if k in source.dataset})
        return d
    return None


def _title(source: Source) -> str:
    cfg = _config(source)
    if not cfg:
        return "run"
    return model_title(cfg)


def _need(trace: Trace, name: str, plot: str) -> tuple[np.ndarray, np.ndarray]:
    """``(steps, values)`` of ``name`` where recorded, or a VanishingError saying which plot needs it."""
    if name not in trace.data and name not in trace.scalars:
        raise VanishingError(f"the {plot} plot needs {name!r}, which this run did not record; "
                             f"recorded: {', '.join([*trace.data, *trace.scalars]) or 'nothing'}")
    steps, values = trace.recorded(name)
    if len(steps) == 0:
        raise VanishingError(f"the {plot} plot needs {name!r}, but it has no values in this run")
    return steps, values


def _layer_x(n: int) -> np.ndarray:
    return np.arange(1, n + 1)


def _layer_ticks(n: int) -> np.ndarray:
    """Integer layer ticks: every layer up to 25, else about 20 of them."""
    x = _layer_x(n)
    return x if n <= 25 else x[:: math.ceil(n / 20)]


def _positive(a: np.ndarray) -> np.ndarray:
    """Values ≤ 0 or non-finite become NaN (a log axis cannot show them)."""
    a = np.asarray(a, dtype=float)
    return np.where(np.isfinite(a) & (a > 0), a, np.nan)


def _pick_steps(steps: np.ndarray) -> list[int]:
    """Indices of the first, middle and last recorded step (deduplicated)."""
    idx = [0, len(steps) // 2, len(steps) - 1]
    return sorted(set(idx))


def _prediction(source: Source, n_layers: int) -> np.ndarray | None:
    """Predicted log10 ‖∂L/∂z_l‖ relative to the read-out, or None when the config is unknown or unsupported."""
    cfg = _config(source)
    if not cfg or cfg.get("norm", "none") != "none" or cfg.get("residual"):
        return None  # mean-field theory here covers plain MLPs only
    try:
        p = predict(cfg)
    except (VanishingError, ValueError, KeyError, TypeError):
        return None
    pred = np.asarray(p.log10_grad_norm, dtype=float)
    return pred if len(pred) == n_layers else None


def gradient_flow(source: Source, theory: bool = True, ax: Any = None) -> Figure:
    """‖∂L/∂W‖ per layer at the first, middle and last recorded step, on a log axis.

    With ``theory`` and a known config, the mean-field prediction is overlaid, shifted so its
    last layer meets the measured last layer at step 0 (theory predicts ratios, not the scale).
    """
    trace = _trace(source)
    steps, g = _need(trace, "grad_norm", "gradient flow")
    fig = Figure(figsize=(7, 4.2), layout="constrained") if ax is None else ax.figure
    ax = ax or fig.add_subplot()
    x = _layer_x(g.shape[1])
    colours = ["#1f77b4", "#9467bd", "#d62728"]
    off_axis = []  # (colour, layers at 0, layers NaN/inf) that a log axis cannot place
    for c, i in zip(colours, _pick_steps(steps)):
        row = g[i]
        zero, bad = x[row == 0], x[np.isinf(row)]
        note = (" (all 0)" if zero.size == row.size else f" ({_n_layers(zero.size)} at 0)" if zero.size else "") + \
               (f" ({_n_layers(bad.size)} ±inf)" if bad.size else "")
        ax.plot(x, _positive(row), "o-", color=c, ms=3.5, label=f"step {int(steps[i])}{note}")
        off_axis.append((c, zero, bad))
    pred = _prediction(source, g.shape[1]) if theory else None
    if pred is not None and np.isfinite(g[0, -1]) and g[0, -1] > 0:
        ax.plot(x, 10 ** (pred + math.log10(g[0, -1])), "--", color="black", lw=1.2,
                label="theory at init (mean field)")
    ax.set_yscale("log")
    if not np.any(np.isfinite(g) & (g > 0)):
        ax.set_ylim(1e-8, 1)  # nothing to place on the axis: a fixed range, so the markers have somewhere to sit
    _mark_off_axis(ax, off_axis)
    ax.set_xlabel("layer (1 = input side)")
    ax.set_ylabel("‖∂L/∂W‖ (log scale)")
    ax.set_title(f"gradient flow per layer\n{_title(source)}", fontsize=10)
    ax.set_xticks(_layer_ticks(len(x)))
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def _n_layers(n: int) -> str:
    return f"{n} layer" + ("s" if n != 1 else "")


def _mark_off_axis(ax: Any, marks: list[tuple[str, np.ndarray, np.ndarray]]) -> None:
    """Exact zeros as ▼ on the bottom edge, ±inf as ✕ on the top edge (x in data, y in axes units)."""
    words = [w for w, on in (("▼ on the bottom edge: exactly 0", any(z.size for _, z, _ in marks)),
                             ("✕ on the top edge: ±inf", any(b.size for _, _, b in marks))) if on]
    if words:
        ax.text(0.99, 0.07, "; ".join(words), transform=ax.transAxes, ha="right", fontsize=8, color="#d62728")
    for j, (c, zero, bad) in enumerate(marks):
        dx = 0.15 * (j - (len(marks) - 1) / 2)  # side by side where several steps are 0 on one layer
        zero, bad = zero + dx, bad + dx
        if zero.size:
            ax.plot(zero, np.full(zero.size, 0.02), "v", color=c, ms=7, transform=ax.get_xaxis_transform(),
                    clip_on=False)
        if bad.size:
            ax.plot(bad, np.full(bad.size, 0.98), "x", color=c, ms=7, mew=2, transform=ax.get_xaxis_transform(),
                    clip_on=False)


def log10_range(*sources: Source, name: str = "grad_norm") -> tuple[int, int] | None:
    """Whole decades covering every positive finite ``name`` value of ``sources`` (None if there is none)."""
    vals = [v[np.isfinite(v) & (v > 0)] for s in sources if name in _trace(s).data for v in [_trace(s).data[name]]]
    vals = [v for v in vals if v.size]
    if not vals:
        return None
    allv = np.concatenate(vals)
    lo, hi = math.floor(np.log10(allv.min())), math.ceil(np.log10(allv.max()))
    return lo, max(hi, lo + 1)


def log_image(img: np.ndarray, values: np.ndarray, steps: np.ndarray, vrange: tuple[float, float],
              label: str) -> tuple[Figure, Any]:
    """``img`` (rows, S') = log10 of ``values`` (S', rows) as an image over the recorded ``steps``, rows
    numbered from 1 upwards, on the colour scale ``vrange``; exactly 0 (▼) and ±inf (✕), which a log
    scale cannot colour, are drawn on top. Returns the figure and its axes."""
    fig = Figure(figsize=(7, 4.2), layout="constrained")
    ax = fig.add_subplot()
    vmin, vmax = vrange
    im = ax.imshow(img, aspect="auto", origin="lower", cmap="viridis", vmin=vmin, vmax=vmax,
                   interpolation="nearest", extent=(-0.5, len(steps) - 0.5, 0.5, values.shape[1] + 0.5))
    fig.colorbar(im, ax=ax, label=label)
    words = []
    for marker, mask, word in (("v", values == 0, "▼ exactly 0"), ("x", np.isinf(values), "✕ ±inf")):
        col, row = np.nonzero(mask)  # (recorded step index, row index)
        if col.size:
            ax.plot(col, row + 1, marker, color="#d62728", ms=4, ls="none")
            words.append(word)
    if words:
        ax.text(0.99, 1.01, "; ".join(words), transform=ax.transAxes, ha="right", va="bottom", fontsize=8,
                color="#d62728")
    ticks = np.unique(np.linspace(0, len(steps) - 1, min(len(steps), 8)).round().astype(int))
    ax.set_xticks(ticks, [str(int(steps[t])) for t in ticks])
    return fig, ax


def heatmap(source: Source, vrange: tuple[float, float] | None = None) -> Figure:
    """log10 ‖∂L/∂W‖ as an image: layers up, recorded steps across, on an absolute colour scale.

    ``vrange``: the colour scale's (min, max) in log10; pass :func:`log10_range` of several runs to
    compare them. Defaults to the whole decades of this run.
    """
    trace = _trace(source)
    steps, g = _need(trace, "grad_norm", "heatmap")
    with np.errstate(divide="ignore", invalid="ignore"):
        img = np.log10(_positive(g)).T  # (L, S')
    fig, ax = log_image(img, g, steps, vrange or log10_range(source) or (-1, 0), "log10 ‖∂L/∂W‖")
    ax.set_yticks(_layer_ticks(g.shape[1]))
    ax.set_xlabel("step")
    ax.set_ylabel("layer (1 = input side)")
    ax.set_title(f"log10 ‖∂L/∂W‖ per layer over training\n{_title(source)}", fontsize=10)
    return fig


def attribution(source: Source, step_index: int = 0) -> Figure:
    """Orders of magnitude lost at each layer to the activation derivative vs the weights, and in total.

    Bars: per-layer loss (−attribution, > 0 means the gradient shrank there). Line: cumulative loss
    from the read-out back to each layer — the gap a layer's gradient has to the last layer's.
    """
    trace = _trace(source)
    steps, act = _need(trace, "attribution_activation", "attribution")
    steps_w, w = _need(trace, "attribution_weights", "attribution")
    i = step_index if step_index >= 0 else len(steps) + step_index
    lost_a, lost_w = -np.nan_to_num(act[i]), -np.nan_to_num(w[i])
    x = _layer_x(len(lost_a))
    fig = Figure(figsize=(7, 4.2), layout="constrained")
    ax = fig.add_subplot()
    # side by side, not stacked: the two parts can have opposite signs (ReLU loses to φ′, He init gains it back)
    ax.bar(x - 0.2, lost_a, width=0.4, color="#ff7f0e", label="lost to activation φ′")
    ax.bar(x + 0.2, lost_w, width=0.4, color="#1f77b4", label="lost to weights W")
    total = lost_a + lost_w
    # total[l] = log10(‖∂L/∂z_l‖ / ‖∂L/∂z_{l-1}‖): lost passing back through layer l; the gap between
    # layer l and the read-out is everything lost above l
    cumulative = np.cumsum(total[::-1])[::-1] - total
    ax2 = ax.twinx()
    ax2.plot(x, cumulative, "k.-", label="cumulative: layer vs read-out (right axis)")
    ax2.set_ylabel("cumulative orders lost, layer vs read-out")
    ax.axhline(0, color="grey", lw=0.8)
    _align_zero(ax, ax2, cumulative)
    ax.set_xticks(_layer_ticks(len(x)))
    ax.set_xlabel("layer (1 = input side)")
    ax.set_ylabel("orders lost passing back through the layer")
    ax.set_title(f"where the gradient is lost (step {int(steps[i])})\n{_title(source)}", fontsize=10)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    fig.legend(h1 + h2, l1 + l2, fontsize=8, loc="outside lower center", ncols=3)  # clear of the bars
    return fig


def _align_zero(ax: Any, ax2: Any, right: np.ndarray) -> None:
    """Scale the twin axis so that its 0 sits on the left axis's 0 and ``right`` fits."""
    a0, a1 = ax.get_ylim()
    a0, a1 = min(a0, 0.0), max(a1, 0.0)
    vals = right[np.isfinite(right)]
    c0, c1 = (min(vals.min(), 0.0), max(vals.max(), 0.0)) if vals.size else (0.0, 1.0)
    k = max(c1 / a1 if a1 > 0 else 0.0, c0 / a0 if a0 < 0 else 0.0)
    if k <= 0:
        return
    k *= 1.05
    ax.set_ylim(a0, a1)
    ax2.set_ylim(a0 * k, a1 * k)


def _layer_colours(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return [cmap(k / max(n - 1, 1)) for k in range(n)]


def update_ratio(source: Source) -> Figure:
    """‖ΔW‖/‖W‖ per layer over training on a log axis, with the healthy band around 1e-3."""
    trace = _trace(source)
    steps, r = _need(trace, "update_ratio", "update ratio")
    fig = Figure(figsize=(7, 4.2), layout="constrained")
    ax = fig.add_subplot()
    ax.axhspan(*UPDATE_RATIO_BAND, color="#2ca02c", alpha=0.15, label="≈1e-3: healthy")
    ax.axhline(1e-3, color="#2ca02c", lw=0.8)
    n = r.shape[1]
    for l, c in enumerate(_layer_colours(n)):
        label = f"layer {l + 1}" if l in (0, n - 1) else None
        ax.plot(steps, _positive(r[:, l]), color=c, lw=1.2, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("‖ΔW‖ / ‖W‖ per step (log scale)")
    zero = [l + 1 for l in range(n) if np.all(np.nan_to_num(r[:, l]) == 0)]
    if zero:
        ax.text(0.01, 0.01, f"{span(zero)}: ‖ΔW‖ = 0 at every recorded step (update below float resolution)",
                transform=ax.transAxes, fontsize=8, color="#d62728")
    ax.set_title(f"update-to-weight ratio per layer (dark = input side)\n{_title(source)}", fontsize=10)
    ax.legend(fontsize=8, loc="upper right")
    ax.grid(True, alpha=0.3)
    return fig


def saturation(source: Source) -> Figure:
    """Fraction of saturated units and dead units per layer at the first and last recorded step."""
    trace = _trace(source)
    found = [n for n in ("saturation", "dead_fraction") if n in trace.data and len(trace.recorded(n)[0])]
    if not found:
        _need(trace, "saturation", "saturation / dead fraction")  # raises with the list of what exists
    fig = Figure(figsize=(7, 4.2), layout="constrained")
    ax = fig.add_subplot()
    styles = {"saturation": ("saturated (φ′ < 10 % of max)", "#d62728"),
              "dead_fraction": ("dead (φ′ < 10 % on the whole batch)", "#7f7f7f")}
    for name in found:
        steps, v = trace.recorded(name)
        label, colour = styles[name]
        x = _layer_x(v.shape[1])
        for i, ls in ((0, ":"), (len(steps) - 1, "-")):
            ax.plot(x, v[i], ls, marker="o", ms=3, color=colour, label=f"{label}, step {int(steps[i])}")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xticks(_layer_ticks(len(trace.layers)))
    ax.set_xlabel("layer (1 = input side)")
    ax.set_ylabel("fraction of units")
    ax.set_title(f"saturated / dead units per layer\n{_title(source)}", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    return fig


def curves(source: Source) -> Figure:
    """Training loss (log axis) and train/test accuracy over steps."""
    trace = _trace(source)
    steps, loss = _need(trace, "loss", "loss curve")
    fig = Figure(figsize=(7, 3.6), layout="constrained")
    ax, ax2 = fig.subplots(1, 2)
    ax.plot(steps, _positive(loss), color="#1f77b4")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (log scale)")
    ax.set_title("loss")
    ax.grid(True, alpha=0.3)
    for name, colour in (("train_accuracy", "#1f77b4"), ("test_accuracy", "#d62728")):
        if name in trace.scalars:
            s, a = trace.recorded(name)
            if len(s):
                ax2.plot(s, a, "o-" if len(s) < 3 else "-", ms=4, color=colour, label=name.replace("_", " "))
    if isinstance(source, RunResult) and source.dataset.get("majority_baseline") is not None:
        ax2.axhline(source.dataset["majority_baseline"], color="grey", ls="--", lw=1, label="commonest class")
    ax2.set_ylim(0, 1.02)
    ax2.set_xlabel("step")
    ax2.set_title("accuracy")
    ax2.grid(True, alpha=0.3)
    if ax2.get_legend_handles_labels()[0]:
        ax2.legend(fontsize=8)
    fig.suptitle(_title(source))
    return fig


def compare(a: Source, b: Source, labels: tuple[str, str] | None = None) -> Figure:
    """Two runs side by side on shared axes: gradient flow at init/middle/end, and loss."""
    labels = labels or (_title(a), _title(b))
    fig = Figure(figsize=(11, 7.5), layout="constrained")
    axes = fig.subplots(2, 2, sharey="row")
    for col, (src, label) in enumerate(zip((a, b), labels)):
        gradient_flow(src, ax=axes[0, col])
        axes[0, col].set_title(label)
        steps, loss = _need(_trace(src), "loss", "comparison")
        axes[1, col].plot(steps, _positive(loss), color="#1f77b4")
        axes[1, col].set_yscale("log")
        axes[1, col].set_xlabel("step")
        axes[1, col].set_ylabel("loss (log scale)")
        axes[1, col].grid(True, alpha=0.3)
    fig.suptitle("two runs on shared scales")
    return fig


PLOTS: dict[str, tuple[str, Callable[[Source], Figure]]] = {
    "gradient_flow": ("Gradient flow per layer", gradient_flow),
    "heatmap": ("Gradient norm over layers and steps", heatmap),
    "attribution": ("Where the gradient is lost: activation vs weights", attribution),
    "update_ratio": ("Update-to-weight ratio", update_ratio),
    "saturation": ("Saturated and dead units", saturation),
    "curves": ("Loss and accuracy", curves),
}
"""name → (caption, plot function) of every single-run plot, in report order."""


def all_plots(source: Source, plots: dict[str, tuple[str, Callable[[Source], Figure]]] | None = None
              ) -> list[tuple[str, str, Figure | VanishingError]]:
    """``(name, caption, figure or the error saying what is missing)`` for every plot in ``plots``
    (default :data:`PLOTS`)."""
    out: list[tuple[str, str, Figure | VanishingError]] = []
    for name, (caption, fn) in (PLOTS if plots is None else plots).items():
        try:
            out.append((name, caption, fn(source)))
        except VanishingError as exc:
            out.append((name, caption, exc))
    return out


def save(fig: Figure, path: str | Path, dpi: int = 110) -> Path:
    """Write ``fig`` as PNG, SVG or PDF by the file's suffix; returns the path."""
    path = Path(path)
    if path.suffix.lower() not in FIGURE_SUFFIXES:
        raise ConfigError("figure file", str(path), "a name ending in " + ", ".join(FIGURE_SUFFIXES))
    return save_figure(fig, path, dpi)
