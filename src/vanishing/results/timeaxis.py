r"""How fast a gradient decays going back in time — torch-free maths over one (T,) row of norms.

A recurrent net multiplies the backward signal by roughly the same Jacobian at every time step, so
‖∂L/∂h_t‖ behaves like :math:`\|g_{T-1}\|\, e^{-d/\xi}` with :math:`d = T-1-t` the distance from the
last step: :math:`\xi` is the number of time steps per e-fold (Chen, Pennington & Schoenholz 2018
predict it for a vanilla RNN). :func:`fit_decay` measures :math:`\hat\xi` with a Theil–Sen line
through :math:`\log_{10}\|g\|` against :math:`d` (the median of the pairwise slopes: a few steps where
the input or the loss adds gradient do not move it), and :math:`\text{reach}`, the longest
dependency whose gradient stays above a threshold times the last step's.

>>> import numpy as np
>>> d = fit_decay(np.exp(-np.arange(50)[::-1] / 6.0))
>>> round(d.xi, 6), d.reach, round(d.orders_through_time, 3)
(6.0, 49, 3.547)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError
from .run_result import orders_lost

__all__ = ["Decay", "fit_decay", "fit_decays", "DEFAULT_THRESHOLD", "MAX_PAIRS"]

DEFAULT_THRESHOLD = 1e-6
"""``reach`` counts the steps whose gradient is at least this fraction of the last step's."""

MAX_PAIRS = 200_000
"""Theil–Sen uses every pair of points up to this many pairs (T ≈ 630); beyond, an evenly spaced
subset of the points small enough for all its pairs (deterministic; the median barely moves)."""

_LOG10_E = math.log10(math.e)


@dataclass(frozen=True)
class Decay:
    """The decay of one row of per-time-step gradient norms (time index 0 = first input step).

    Attributes:
        xi: time steps per e-fold of decay going back from the last step (``inf`` when the norms do
            not decay, NaN when fewer than 2 usable points).
        slope: Theil–Sen slope of log10‖g‖ against the distance from the last step, log10 per
            step (< 0: the gradient shrinks going back in time; ``xi = -log10(e) / slope``).
        r2: coefficient of determination of that line on the log10 norms (NaN when they are constant).
        spread: median absolute residual of the line, in log10 units (how straight the decay is).
        reach: the longest dependency (in steps back from the last) over which every gradient stays
            ``>= threshold`` × the last step's; ``T - 1`` when the first step is still reached.
        threshold: the fraction ``reach`` used.
        orders_through_time: log10(last / first) norm, as :func:`~vanishing.results.run_result.orders_lost`
            counts layers (> 0: the earliest step gets less).
        n: points used in the fit (finite, > 0).
        length: T.
    """

    xi: float
    slope: float
    r2: float
    spread: float
    reach: int
    threshold: float
    orders_through_time: float
    n: int
    length: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fit_decay(norms: np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> Decay:
    """Fit the decay of ``norms`` (shape (T,), index 0 = first input step) going back from its last step.

    Points that are NaN, ±inf or ≤ 0 are left out of the line (a 0 is infinitely many orders down;
    it still ends ``reach``). A NaN last step gives ``reach = 0``.
    """
    if not (isinstance(threshold, (int, float)) and 0 < threshold <= 1):
        raise ConfigError("threshold", threshold, "a number > 0 and <= 1")
    g = np.asarray(norms, dtype=np.float64).reshape(-1)
    length = int(g.size)
    dist = (length - 1 - np.arange(length)).astype(np.float64)
    ok = np.isfinite(g) & (g > 0)
    x, y = dist[ok], np.log10(g[ok])
    slope, intercept = _theil_sen(x, y)
    if math.isnan(slope):
        r2 = spread = math.nan
    else:
        resid = y - (intercept + slope * x)
        spread = float(np.median(np.abs(resid)))
        total = float(np.sum((y - y.mean()) ** 2))
        r2 = 1.0 - float(np.sum(resid ** 2)) / total if total > 0 else math.nan
    if math.isnan(slope):
        xi = math.nan
    elif slope >= 0:
        xi = math.inf
    else:
        xi = -_LOG10_E / slope
    return Decay(xi=xi, slope=slope, r2=r2, spread=spread, reach=_reach(g, threshold),
                 threshold=float(threshold), orders_through_time=orders_lost(g) if length >= 2 else math.nan,
                 n=int(x.size), length=length)


def fit_decays(norms: np.ndarray, threshold: float = DEFAULT_THRESHOLD) -> list[Decay]:
    """:func:`fit_decay` of every row of an (S, T) array (e.g. ``trace.time["hidden_grad_norm"]``)."""
    a = np.asarray(norms, dtype=np.float64)
    return [fit_decay(row, threshold) for row in a.reshape(-1, a.shape[-1] if a.ndim else 1)]


def _reach(g: np.ndarray, threshold: float) -> int:
    if g.size == 0 or not (np.isfinite(g[-1]) and g[-1] > 0):
        return 0
    back = g[::-1]  # distance 0, 1, 2, ...
    # NaN compares False: an unreadable step ends the reach like one below the threshold
    below = ~(back >= threshold * back[0])
    return int(np.argmax(below)) - 1 if below.any() else int(g.size - 1)


def _theil_sen(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Median pairwise slope and the median intercept (Theil 1950; Sen 1968)."""
    n = x.size
    if n < 2:
        return math.nan, math.nan
    m = int((1 + math.sqrt(1 + 8 * MAX_PAIRS)) / 2)
    if n > m:
        keep = np.unique(np.linspace(0, n - 1, m).round().astype(np.int64))
        xs, ys = x[keep], y[keep]
    else:
        xs, ys = x, y
    i, j = np.triu_indices(xs.size, k=1)
    dx = xs[j] - xs[i]
    slope = float(np.median((ys[j] - ys[i]) / dx))  # x are distinct distances, dx != 0
    return slope, float(np.median(y - slope * x))
