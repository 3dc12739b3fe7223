"""The (σ_w², σ_b²) plane of one activation: gradient depth scale everywhere, and the critical line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._io import save_figure
from ..errors import ConfigError
from ._activation import mean_field_activation
from .meanfield import _m1, _q_star, critical_sigma_w2, depth_scale

__all__ = ["PhaseDiagram", "phase_diagram", "plot_phase_diagram", "FIGURE_SUFFIXES"]

FIGURE_SUFFIXES = (".png", ".svg", ".pdf")
_GRID_STEPS = 30  # bisection steps per q*: 1e-9 relative, plenty for a picture


@dataclass(frozen=True)
class PhaseDiagram:
    """χ₁ and ξ_∇ on a grid, plus points of the critical line χ₁ = 1."""

    activation: str
    sigma_w2: np.ndarray
    """(W,) grid of σ_w²."""
    sigma_b2: np.ndarray
    """(B,) grid of σ_b²."""
    chi1: np.ndarray
    """(B, W)."""
    depth_scale: np.ndarray
    """(B, W) ξ_∇ = -1/ln χ₁ (negative where gradients explode)."""
    critical: np.ndarray
    """(K, 2) points (σ_w², σ_b²) on the critical line, by increasing σ_b² (one for relu-like)."""


def _critical_line(spec: str, sigma_b2: np.ndarray) -> np.ndarray:
    points = []
    for sb in sigma_b2:
        try:
            points.append((critical_sigma_w2(spec, float(sb)), float(sb)))
        except ConfigError:  # no critical point at this σ_b²
            pass
    return np.array(points, dtype=float).reshape(-1, 2)


def phase_diagram(activation: str, sigma_w2_max: float | None = None, sigma_b2_max: float = 1.0,
                  resolution: tuple[int, int] = (72, 48)) -> PhaseDiagram:
    """χ₁ and ξ_∇ over σ_w² ∈ (0, sigma_w2_max] × σ_b² ∈ [0, sigma_b2_max].

    Args:
        sigma_w2_max: default 2.5 × the largest critical σ_w² in range (4 if there is none).
        resolution: grid points along σ_w² and σ_b².
    """
    a = mean_field_activation(activation)
    for name, value in (("sigma_w2_max", sigma_w2_max), ("sigma_b2_max", sigma_b2_max)):
        if value is not None and not (isinstance(value, (int, float)) and 0 < value < np.inf):
            raise ConfigError(name, value, "a finite number > 0")
    nw, nb = resolution
    if min(nw, nb) < 2:
        raise ConfigError("resolution", resolution, "at least 2 points each way")
    critical = _critical_line(a.spec, np.linspace(0.0, sigma_b2_max, 25))
    if sigma_w2_max is None:
        sigma_w2_max = 2.5 * float(critical[:, 0].max()) if len(critical) else 4.0
    sw = np.linspace(sigma_w2_max / nw, sigma_w2_max, nw)
    sb = np.linspace(0.0, sigma_b2_max, nb)
    SW, SB = np.meshgrid(sw, sb)  # (B, W)
    q = _q_star(a, SW, SB, 1.0, steps=_GRID_STEPS)
    chi = SW * _m1(a, q)
    return PhaseDiagram(a.spec, sw, sb, chi, np.asarray(depth_scale(chi)), critical)


def plot_phase_diagram(diagram: PhaseDiagram, path: str | Path,
                       mark: tuple[float, float] | None = None) -> Path:
    """Draw ``log10 |ξ_∇|`` as a heatmap with the critical line; PNG, SVG or PDF by suffix.

    ``mark``: a (σ_w², σ_b²) to show as a cross, e.g. the config at hand.
    """
    path = Path(path)
    if path.suffix.lower() not in FIGURE_SUFFIXES:
        raise ConfigError("out", str(path), "a file name ending in " + ", ".join(FIGURE_SUFFIXES))
    from matplotlib.figure import Figure  # no pyplot: no global backend state

    fig = Figure(figsize=(6.4, 4.6), layout="constrained")
    ax = fig.add_subplot()
    with np.errstate(divide="ignore"):
        shade = np.log10(np.abs(diagram.depth_scale))
    shade = np.clip(shade, -1, 3)  # 0.1 … 1000 layers
    mesh = ax.pcolormesh(diagram.sigma_w2, diagram.sigma_b2, shade, shading="nearest", cmap="magma")
    fig.colorbar(mesh, ax=ax, label="log10 |ξ∇|  (layers over which gradients change e-fold)")
    crit = diagram.critical
    if len(crit) > 1:
        ax.plot(crit[:, 0], crit[:, 1], color="white", lw=2, label="critical line χ₁ = 1")
    elif len(crit) == 1:
        ax.plot(crit[:, 0], crit[:, 1], "o", color="white", ms=8, label="critical point χ₁ = 1")
    if mark is not None:
        ax.plot([mark[0]], [mark[1]], "x", color="cyan", ms=10, mew=2.5, label=f"σw²={mark[0]:g}, σb²={mark[1]:g}")
    ax.text(0.03, 0.95, "ordered:\ngradients vanish", transform=ax.transAxes, va="top", color="white")
    ax.text(0.97, 0.95, "chaotic:\ngradients explode", transform=ax.transAxes, va="top", ha="right",
            color="white")
    ax.set_xlim(0, diagram.sigma_w2[-1])
    ax.set_ylim(diagram.sigma_b2[0], diagram.sigma_b2[-1])
    ax.set_xlabel("σw²  (weight variance × fan-in)")
    ax.set_ylabel("σb²  (bias variance)")
    ax.set_title(f"{diagram.activation}: mean-field phase diagram")
    if len(crit) or mark is not None:
        ax.legend(loc="lower right", framealpha=0.6)
    return save_figure(fig, path, dpi=120, what="phase diagram")
