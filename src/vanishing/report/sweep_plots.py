r"""Figures of a sweep: heatmaps of a metric over two config fields, and the trainability phase diagram.

Both take the rows of a sweep store (one dict per run: config fields, summary metrics, ``diverged``)
and return a :class:`matplotlib.figure.Figure` built without pyplot. A cell is the mean (or ``agg``)
of every run sharing its coordinates — seeds and any field not on an axis are averaged, and the
count is written in the figure. Runs whose value is missing or not finite are left out of the
mean; a cell with none left is hatched and says ``diverged`` (or ``no value``).

Example:
    >>> from vanishing.report import sweep_plots                                    # doctest: +SKIP
    >>> rows = Store("results.db").rows()                                           # doctest: +SKIP
    >>> fig = sweep_plots.heatmap(rows, x="init", y="depth", value="vanishing_orders", facet="activation")
    >>> sweep_plots.save(fig, "grid.png")                                           # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._io import save_figure
from ..errors import ConfigError, VanishingError
from ..results.run_result import SUMMARY_LABELS
from ..theory import chi1, chi_c, critical_sigma_w2, depth_scale, sigma_b2_of_init, sigma_w2_of_init

if TYPE_CHECKING:  # matplotlib is imported where a figure is drawn: the CLI starts without it
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

__all__ = ["AGGREGATES", "SIGMA_W2", "Grid", "grid", "heatmap", "phase_diagram", "sigma_w2_of_row", "theory_lines", "save"]

Row = Mapping[str, Any]

AGGREGATES: dict[str, Callable[[np.ndarray], float]] = {
    "mean": np.mean, "median": np.median, "min": np.min, "max": np.max,
}

SIGMA_W2 = "sigma_w2"
"""Pseudo-field of :func:`grid`/:func:`heatmap`: σ_w² read back from each row's init spec."""

_MISSING_COLOUR = "#d9d9d9"


@dataclass(frozen=True)
class Grid:
    """A metric aggregated onto (facet, y, x) cells."""

    x: list[Any]
    y: list[Any]
    facets: list[Any]
    """``[None]`` when there is no facet."""
    values: np.ndarray
    """(F, Y, X) aggregate of the finite values; NaN where a cell has none."""
    counts: np.ndarray
    """(F, Y, X) runs in each cell."""
    finite: np.ndarray
    """(F, Y, X) runs with a finite value (those aggregated)."""
    diverged: np.ndarray
    """(F, Y, X) runs marked ``diverged``."""
    failed: np.ndarray
    """(F, Y, X) runs whose ``status`` is ``failed`` (an error, no metrics)."""
    baseline: float | None
    """Mean majority-class accuracy of the rows, when they carry one."""


# --- reading rows ------------------------------------------------------------------------------

def sigma_w2_of_row(row: Row) -> float:
    """σ_w² of a run: its ``sigma_w2`` key, else read back from its ``init`` spec (hidden layer, fan-in = width)."""
    if row.get(SIGMA_W2) is not None:
        return float(row[SIGMA_W2])
    if row.get("init") is None or row.get("width") is None:
        raise VanishingError("reading σ_w² needs each run's 'init' and 'width'")
    return float(sigma_w2_of_init(str(row["init"]), int(row["width"]), activation=row.get("activation")))


def _get(row: Row, field: str) -> Any:
    return sigma_w2_of_row(row) if field == SIGMA_W2 and "sigma_w2" not in row else row.get(field)


def _check_fields(rows: Sequence[Row], fields: dict[str, str | None]) -> None:
    if not rows:
        raise VanishingError("no runs to plot (the store or the --where/--sweep selection is empty)")
    known = sorted({k for r in rows for k in r} | {SIGMA_W2})
    for role, field in fields.items():
        if field is not None and field not in known:
            raise ConfigError(role, field, known)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _axis_values(values: list[Any], preferred: Sequence[Any] | None = None) -> list[Any]:
    """Distinct values: numbers sorted; others in ``preferred`` order (a sweep's grid), then as they appear."""
    seen: dict[Hashable, Any] = {}
    for v in values:
        seen.setdefault(_key(v), v)
    out = list(seen.values())
    if out and all(_is_number(v) for v in out):
        out.sort()
    elif preferred:
        rank = {_key(v): i for i, v in enumerate(preferred)}
        out.sort(key=lambda v: rank.get(_key(v), len(rank)))  # stable: unlisted keep their order
    return out


def _key(v: Any) -> Hashable:
    if _is_number(v):
        return float(v)
    return v if isinstance(v, Hashable) else repr(v)


def _number(v: Any) -> float:
    if v is None or isinstance(v, bool) or isinstance(v, str):
        return math.nan
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def grid(rows: Sequence[Row], x: str, y: str, value: str, facet: str | None = None,
         agg: str = "mean", order: Mapping[str, Sequence[Any]] | None = None) -> Grid:
    """Aggregate ``value`` of ``rows`` onto cells of (``facet``, ``y``, ``x``).

    ``x``/``y``/``facet`` name config fields (or ``"sigma_w2"``: σ_w² read from the init spec).
    ``order``: field → values in the order to show them (a sweep spec's grid); numbers are sorted.
    """
    order = order or {}
    if agg not in AGGREGATES:
        raise ConfigError("agg", agg, list(AGGREGATES))
    _check_fields(rows, {"x": x, "y": y, "value": value, "facet": facet})
    coords = [(_get(r, facet) if facet else None, _get(r, y), _get(r, x)) for r in rows]
    facets = _axis_values([c[0] for c in coords], order.get(facet)) if facet else [None]
    ys, xs = _axis_values([c[1] for c in coords], order.get(y)), _axis_values([c[2] for c in coords], order.get(x))
    index = [{_key(v): i for i, v in enumerate(vals)} for vals in (facets, ys, xs)]
    shape = (len(facets), len(ys), len(xs))
    cells: dict[tuple[int, int, int], list[float]] = {}
    counts, diverged, failed = np.zeros(shape, int), np.zeros(shape, int), np.zeros(shape, int)
    for row, c in zip(rows, coords):
        ijk = tuple(idx[_key(v)] for idx, v in zip(index, c))
        counts[ijk] += 1
        diverged[ijk] += bool(row.get("diverged"))
        failed[ijk] += row.get("status") == "failed"
        v = _number(row.get(value))
        if math.isfinite(v):
            cells.setdefault(ijk, []).append(v)
    values, finite = np.full(shape, np.nan), np.zeros(shape, int)
    for ijk, vs in cells.items():
        values[ijk], finite[ijk] = float(AGGREGATES[agg](np.asarray(vs))), len(vs)
    baselines = [b for b in (_number(r.get("majority_baseline")) for r in rows) if math.isfinite(b)]
    return Grid(xs, ys, facets, values, counts, finite, diverged, failed,
                float(np.mean(baselines)) if baselines else None)


# --- colours -----------------------------------------------------------------------------------

def _is_orders(value: str) -> bool:
    return value.endswith("orders") or "_orders_" in value


def _is_accuracy(value: str) -> bool:
    return "accuracy" in value


def _colour_scale(value: str, values: np.ndarray, baseline: float | None, cmap: str | None) -> tuple[str, Normalize]:
    from matplotlib.colors import Normalize, SymLogNorm

    finite = values[np.isfinite(values)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if _is_orders(value):  # diverging, centred at 0: red = vanishing, blue = exploding
        m = max(abs(lo), abs(hi), 0.5)
        # beyond ±3 orders: linear within ±1, logarithmic outside, so 0.2 and 30 orders both read
        norm = SymLogNorm(1.0, vmin=-m, vmax=m, base=10) if m > 3 else Normalize(-m, m)
        return cmap or "RdBu_r", norm
    if _is_accuracy(value):  # fixed 0..1 so that panels and figures compare
        return cmap or "viridis", Normalize(0.0, 1.0)
    if hi == lo:
        lo, hi = lo - 0.5, hi + 0.5
    return cmap or "viridis", Normalize(lo, hi)


def _text_colour(rgba: Sequence[float]) -> str:
    from matplotlib.colors import to_rgb

    r, g, b = to_rgb(rgba)
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"


def _label(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{float(v):g}"
    return str(v)


def _fmt(value: str, v: float) -> str:
    if _is_orders(value):
        return f"{v:+.2f}" if abs(v) < 0.995 else f"{v:+.1f}"
    return f"{v:.2f}"


def _cell_note(g: Grid, ijk: tuple[int, int, int], uniform_n: bool) -> str:
    n, k, d = g.counts[ijk], g.finite[ijk], g.diverged[ijk]
    notes = []
    if not uniform_n and n:
        notes.append(f"n={k}" if k == n else f"n={k}/{n}")
    elif k < n:
        notes.append(f"{k}/{n} runs")
    if d and k:
        notes.append(f"{d} div.")
    return "\n".join(notes)


def _metric_title(value: str, agg: str) -> str:
    name = SUMMARY_LABELS.get(value, value)
    return name if agg == "mean" else f"{agg} of {name}"


# --- drawing -----------------------------------------------------------------------------------

def _draw_cells(ax: Any, g: Grid, f: int, value: str, im: Any, x_edges: np.ndarray, y_edges: np.ndarray,
                centres_x: np.ndarray, centres_y: np.ndarray, uniform_n: bool, fontsize: float) -> None:
    """Annotate each cell; hatch the cells without a finite value."""
    from matplotlib.patches import Rectangle

    for i in range(len(g.y)):
        for j in range(len(g.x)):
            ijk = (f, i, j)
            cx, cy = centres_x[j], centres_y[i]
            v = g.values[ijk]
            box = None
            if math.isfinite(v):
                fill = im.cmap(im.norm(v))
                colour = _text_colour(fill)
                # the cell's own colour behind the number keeps it legible over theory lines
                box = {"boxstyle": "round,pad=0.15", "facecolor": fill, "edgecolor": "none", "alpha": 0.85}
                note = _cell_note(g, ijk, uniform_n)
                text = _fmt(value, v) + ("\n" + note if note else "")
            else:
                ax.add_patch(Rectangle((x_edges[j], y_edges[i]), x_edges[j + 1] - x_edges[j],
                                       y_edges[i + 1] - y_edges[i], facecolor=_MISSING_COLOUR,
                                       edgecolor="#808080", hatch="///", lw=0))
                colour = "black"
                text = ("diverged" if g.diverged[ijk] else "failed" if g.failed[ijk] else "no value") \
                    if g.counts[ijk] else "no run"
            ax.text(cx, cy, text, ha="center", va="center", fontsize=fontsize, color=colour,
                    linespacing=0.95, bbox=box, zorder=4)


def _colourbar(fig: Figure, im: Any, axes: list[Any], value: str, agg: str, baseline: float | None) -> None:
    from matplotlib.colors import SymLogNorm

    cb = fig.colorbar(im, ax=axes, shrink=0.9, pad=0.02)
    label = _metric_title(value, agg) if agg != "mean" or not _is_orders(value) else ""
    if _is_orders(value):
        g = "z" if value.startswith(("signal_", "predicted_")) else "W"  # theory predicts ‖∂L/∂z‖
        label = f"log10 ‖∂L/∂{g}_last‖ / ‖∂L/∂{g}_first‖" + (f"  ({agg})" if agg != "mean" else "")
    elif _is_accuracy(value) and baseline is not None:
        label += f"  (red: majority baseline {baseline:.2f})"
    cb.set_label(label, fontsize=8)
    if isinstance(im.norm, SymLogNorm):  # plain numbers of orders, not 10^k labels
        top = im.norm.vmax
        ticks = [t for t in (-100, -30, -10, -3, -1, 0, 1, 3, 10, 30, 100) if abs(t) <= top]
        cb.set_ticks(ticks, labels=[f"{t:+g}" if t else "0" for t in ticks])
    if _is_orders(value):
        cb.ax.text(0.5, 1.01, "vanishing", transform=cb.ax.transAxes, ha="center", va="bottom", fontsize=8)
        cb.ax.text(0.5, -0.01, "exploding", transform=cb.ax.transAxes, ha="center", va="top", fontsize=8)
    if _is_accuracy(value) and baseline is not None:
        cb.ax.axhline(baseline, color="red", lw=2.5)


def _count_line(g: Grid, agg: str) -> str:
    present = g.counts[g.counts > 0]
    if present.size == 0:
        return ""
    runs = int(g.counts.sum())
    if present.min() == present.max():
        n = int(present[0])
        return f"{runs} runs; each cell: {agg} of {n} run{'s' if n > 1 else ''}" if n > 1 else f"{runs} runs, one per cell"
    return f"{runs} runs; each cell: {agg} of n runs (noted)"


def heatmap(rows: Sequence[Row], x: str, y: str, value: str | Sequence[str], facet: str | None = None, *,
            agg: str = "mean", title: str | None = None, cmap: str | None = None,
            order: Mapping[str, Sequence[Any]] | None = None) -> Figure:
    """``value`` over ``x`` × ``y``, one panel per value of ``facet``, on one shared colour scale.

    Each cell is annotated with its value. ``*_orders`` metrics use a diverging map centred at 0
    (red: early layers get less gradient); accuracies a sequential map with the majority-class
    baseline marked on the colour bar. Cells without a finite value are hatched.

    Args:
        rows: one mapping per run (``Store.rows()``).
        x, y, facet: config fields; ``"sigma_w2"`` reads σ_w² from each run's init spec.
        value: a summary metric, e.g. ``vanishing_orders`` or ``final_test_accuracy``; several
            give one band of panels each, stacked, each with its own colour scale.
        agg: ``mean``, ``median``, ``min`` or ``max`` over the runs of a cell (seeds, other fields).
        order: field → values in the order to show them, e.g. the sweep spec's ``grid``; by default
            numbers are sorted and other values keep the order they first appear in ``rows``.
    """
    from matplotlib.figure import Figure

    values = [value] if isinstance(value, str) else list(value)
    if not values:
        raise ConfigError("value", value, "at least one metric")
    grids = [grid(rows, x, y, v, facet, agg, order) for v in values]
    nf, ny, nx = grids[0].values.shape
    cols = min(nf, 4)
    nrows = math.ceil(nf / cols)
    cell_w = max(0.75, max(len(_label(v)) for v in grids[0].x) * 0.09)
    band_w, band_h = 1.6 + cols * (0.9 + nx * cell_w), 1.1 + nrows * (0.9 + ny * 0.62)
    side = nf == 1 and len(values) > 1  # single panels sit side by side, facet rows stack
    nb = len(values)
    size = (band_w * nb, 0.6 + band_h) if side else (band_w, 0.5 + band_h * nb)
    fig = Figure(figsize=(min(size[0], 22), min(size[1], 24)), layout="constrained")
    if nb == 1:
        bands = [fig]
    else:
        bands = fig.subfigures(1 if side else nb, nb if side else 1, squeeze=False).ravel()
    # bands of orders share one colour scale, so equal colours mean equal orders across metrics
    orders = [g.values for v, g in zip(values, grids) if _is_orders(v)]
    shared = np.concatenate([o.ravel() for o in orders]) if orders else None
    for band, v, g in zip(bands, values, grids):
        _band(band, g, x, y, v, facet, agg, cmap, cols, nrows, cell_w,
              shared if _is_orders(v) else g.values)
        if len(values) > 1:
            band.suptitle(_metric_title(v, agg), fontsize=10.5, fontweight="bold")
    names = _metric_title(values[0], agg) if nb == 1 else f"{nb} metrics"
    head = title or f"{names} over {_axis_name(x)} × {_axis_name(y)}"
    fig.suptitle(head + "\n" + _count_line(grids[0], agg), fontsize=11)
    return fig


def _band(fig: Any, g: Grid, x: str, y: str, value: str, facet: str | None, agg: str, cmap: str | None,
          cols: int, nrows: int, cell_w: float, scale_values: np.ndarray) -> None:
    """One metric: a panel per facet value on one colour scale (spanning ``scale_values``), and its colour bar."""
    cmap_name, norm = _colour_scale(value, scale_values, g.baseline, cmap)
    nf, ny, nx = g.values.shape
    axes = fig.subplots(nrows, cols, squeeze=False).ravel()
    present = g.counts[g.counts > 0]
    uniform_n = present.size == 0 or present.min() == present.max()
    fontsize = 8 if nx * ny <= 40 else 6.5
    im = None
    for f, ax in enumerate(axes):
        if f >= nf:
            ax.set_visible(False)
            continue
        im = ax.imshow(g.values[f], origin="lower", aspect="auto", cmap=cmap_name, norm=norm,
                       interpolation="nearest")
        _draw_cells(ax, g, f, value, im, np.arange(nx + 1) - 0.5, np.arange(ny + 1) - 0.5,
                    np.arange(nx, dtype=float), np.arange(ny, dtype=float), uniform_n, fontsize)
        ax.set_xticks(range(nx), [_label(v) for v in g.x], rotation=30 if cell_w > 0.8 else 0,
                      ha="right" if cell_w > 0.8 else "center")
        ax.set_yticks(range(ny), [_label(v) for v in g.y])
        ax.set_xlabel(_axis_name(x))
        if f % cols == 0:
            ax.set_ylabel(_axis_name(y))
        if facet:
            ax.set_title(f"{facet} = {_label(g.facets[f])}", fontsize=10)
    assert im is not None
    _colourbar(fig, im, [a for a in axes if a.get_visible()], value, agg, g.baseline)


def _axis_name(field: str) -> str:
    return "σ_w²  (weight variance × fan-in)" if field == SIGMA_W2 else field


# --- phase diagram -----------------------------------------------------------------------------

def _log_axis(centres: np.ndarray) -> bool:
    """Spread-out positive values (σ_w² 0.5…6, depth 5…90) read better on a log axis."""
    return bool(len(centres) > 2 and centres.min() > 0 and centres.max() / centres.min() >= 4)


def _edges(centres: np.ndarray, log: bool = False) -> np.ndarray:
    """Cell edges halfway between sorted centres (geometrically on a log axis; the outer ones mirrored)."""
    c = np.log(centres) if log else np.asarray(centres, dtype=float)
    if len(c) == 1:
        e = np.array([c[0] - 0.5, c[0] + 0.5]) if not log else np.array([c[0] - 0.2, c[0] + 0.2])
    else:
        mid = (c[1:] + c[:-1]) / 2
        e = np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])
    return np.exp(e) if log else e


def _unique(rows: Sequence[Row], what: str, read: Callable[[Row], Any]) -> Any:
    found = _axis_values([read(r) for r in rows])
    if len(found) != 1:
        raise VanishingError(f"a phase diagram needs one {what}; these runs have "
                             f"{', '.join(_label(v) for v in found)} — select one with --where")
    return found[0]


def theory_lines(activation: str, sigma_b2: float, sigma_w2: np.ndarray) -> dict[str, np.ndarray]:
    """Depth scales along ``sigma_w2`` (Schoenholz et al. 2017): ``6xi_c`` = 6·ξ_c, the depth up to which
    a network is trainable, and ``xi_grad`` = |ξ_∇| = 1/|ln χ₁|, the layers over which gradients change e-fold."""
    sw = np.asarray(sigma_w2, dtype=float)
    x1 = np.asarray(chi1(activation, sw, sigma_b2), dtype=float).reshape(sw.shape)
    # ordered side: c* = 1 and χ_c = χ₁; only the chaotic side needs the correlation fixed point
    xc = np.array([x if x <= 1 else chi_c(activation, float(s), sigma_b2) for s, x in zip(sw, x1)])
    return {"6xi_c": 6 * np.asarray(depth_scale(xc), dtype=float),
            "xi_grad": np.abs(np.asarray(depth_scale(x1), dtype=float))}


def phase_diagram(rows: Sequence[Row], value: str = "final_test_accuracy", *, depth: str = "depth",
                  sigma_w2: str = SIGMA_W2, sigma_b2: float | None = None, activation: str | None = None,
                  agg: str = "mean", title: str | None = None, cmap: str | None = None,
                  resolution: int = 80) -> Figure:
    r"""Trainability phase diagram: ``value`` (test accuracy by default) over σ_w² × depth, with theory.

    Overlays the mean-field depth scales of Schoenholz, Gilmer, Ganguli & Sohl-Dickstein (2017),
    "Deep Information Propagation" (ICLR): a random network is trainable up to about
    :math:`6\,\xi_c` layers, :math:`\xi_c = -1/\ln\chi_c`, which diverges at the critical
    :math:`\sigma_w^2` (:math:`\chi_1 = 1`, marked); and :math:`|\xi_\nabla| = 1/|\ln\chi_1|`, the
    depth over which gradients shrink (ordered side) or grow (chaotic side) e-fold.

    Args:
        rows: runs of one activation and one bias init (σ_b²), several σ_w² and depths.
        sigma_w2: a field holding σ_w²; by default read from each run's init spec
            (``variance_scaling:scale=s`` has σ_w² = s).
        sigma_b2, activation: default to the single value found in ``rows`` (``bias_init`` read as σ_b²).
    """
    from matplotlib import patheffects
    from matplotlib.figure import Figure

    _check_fields(rows, {"x": sigma_w2, "y": depth, "value": value})
    activation = activation or _unique(rows, "activation", lambda r: r.get("activation"))
    if sigma_b2 is None:
        sigma_b2 = float(_unique(rows, "bias variance σ_b²", lambda r: sigma_b2_of_init(str(r.get("bias_init", "zeros")))))
    g = grid(rows, sigma_w2, depth, value, None, agg)
    if not all(_is_number(v) for v in [*g.x, *g.y]):
        raise VanishingError(f"a phase diagram needs numeric σ_w² and {depth!r} values")
    sw, dp = np.asarray(g.x, dtype=float), np.asarray(g.y, dtype=float)
    xlog, ylog = _log_axis(sw), _log_axis(dp)
    xe, ye = _edges(sw, xlog), _edges(dp, ylog)
    cmap_name, norm = _colour_scale(value, g.values, g.baseline, cmap)

    fig = Figure(figsize=(9.6, 5.8), layout="constrained")
    ax = fig.add_subplot()
    mesh = ax.pcolormesh(xe, ye, g.values[0], cmap=cmap_name, norm=norm)
    present = g.counts[g.counts > 0]
    uniform_n = present.size == 0 or present.min() == present.max()
    if xlog:
        ax.set_xscale("log")
    if ylog:
        ax.set_yscale("log")
    _draw_cells(ax, g, 0, value, mesh, xe, ye, sw, dp, uniform_n,
                fontsize=7 if len(sw) * len(dp) <= 80 else 5.5)

    fine = np.geomspace(xe[0], xe[-1], resolution) if xlog else np.linspace(max(xe[0], 1e-3), xe[-1], resolution)
    lines = theory_lines(activation, sigma_b2, fine)
    outline = [patheffects.Stroke(linewidth=4, foreground="black"), patheffects.Normal()]
    ax.plot(fine, lines["6xi_c"], color="white", lw=2.5, path_effects=outline,
            label="6·ξ_c  (trainable up to here, Schoenholz et al.)")
    ax.plot(fine, lines["xi_grad"], color="cyan", lw=1.8, ls="--", path_effects=outline,
            label="|ξ_∇|  (depth of one e-fold gradient change)")
    try:
        crit = critical_sigma_w2(activation, sigma_b2)
        ax.axvline(crit, color="magenta", lw=1.5, ls=":", label=f"critical σ_w² = {crit:.2f}  (χ₁ = 1)")
    except VanishingError:  # no critical point at this σ_b²
        pass
    ax.set_xlim(xe[0], xe[-1])
    ax.set_ylim(ye[0], ye[-1])
    ax.set_xticks(sw, [_label(v) for v in g.x])
    ax.set_yticks(dp, [_label(v) for v in g.y])
    ax.minorticks_off()
    ax.set_xlabel(_axis_name(SIGMA_W2) + ("  (log scale)" if xlog else ""))
    ax.set_ylabel(depth + ("  (log scale)" if ylog else ""))
    fig.legend(loc="outside lower center", ncol=2, fontsize=8, frameon=False)
    _colourbar(fig, mesh, [ax], value, agg, g.baseline)
    head = title or f"{activation}, σ_b² = {sigma_b2:g}: {_metric_title(value, agg)} vs mean-field depth scales"
    fig.suptitle(head + "\n" + _count_line(g, agg) + "  ·  theory: Schoenholz et al. 2017", fontsize=11)
    return fig


def save(fig: Figure, path: str | Path, dpi: int = 120) -> Path:
    """Write a figure (PNG, SVG or PDF by suffix); an unwritable path is a one-line error."""
    return save_figure(fig, path, dpi, what="sweep plot")
