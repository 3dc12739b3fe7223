r"""Mean-field theory of signal propagation in wide random networks.

A layer computes :math:`z_{l+1} = W h_l + b`, :math:`h_l = \phi(z_l)`, with
:math:`W_{ij} \sim \mathcal N(0, \sigma_w^2/n)` and :math:`b_i \sim \mathcal N(0, \sigma_b^2)`.
In the wide limit the pre-activations are Gaussian and (Poole et al. 2016; Schoenholz et al. 2017):

.. math::

    q_{l+1} = \sigma_w^2\,\mathbb E[\phi(\sqrt{q_l}\,z)^2] + \sigma_b^2 \qquad\text{(variance map, fixed point } q^*)

    \chi_1 = \sigma_w^2\,\mathbb E[\phi'(\sqrt{q^*}\,z)^2], \qquad
    \xi_\nabla = -1/\ln\chi_1

    c_{l+1} = \frac{\sigma_w^2\,\mathbb E[\phi(u_1)\phi(u_2)] + \sigma_b^2}{q^*}, \qquad
    \chi_c = \sigma_w^2\,\mathbb E[\phi'(u_1)\phi'(u_2)]\big|_{c^*}, \qquad \xi_c = -1/\ln\chi_c

with :math:`u_1 = \sqrt{q^*} z_1`, :math:`u_2 = \sqrt{q^*}(c z_1 + \sqrt{1-c^2} z_2)`. Backwards,
:math:`\|\partial L/\partial z_l\|^2 \approx \chi_1 \|\partial L/\partial z_{l+1}\|^2`: gradients vanish
when :math:`\chi_1 < 1` (ordered phase), explode when :math:`\chi_1 > 1` (chaotic phase) and are
preserved on the critical line :math:`\chi_1 = 1`.

Functions take an activation spec (``"tanh"``, ``"elu:alpha=0.5"``) and floats; those marked so
also take numpy arrays of σ² (the phase diagram evaluates whole grids at once).
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from scipy.optimize import brentq

from ..errors import ConfigError
from ._activation import MeanFieldActivation, mean_field_activation
from .quadrature import gaussian_expectation

__all__ = [
    "Phase",
    "PHASE_TOLERANCE",
    "MeanField",
    "variance_map",
    "q_star",
    "chi1",
    "depth_scale",
    "phase",
    "correlation_map",
    "c_star",
    "chi_c",
    "critical_sigma_w2",
    "mean_field",
]

Phase = Literal["ordered", "critical", "chaotic"]

PHASE_TOLERANCE = 1e-3
"""|ln χ₁| at most this counts as critical: a depth scale beyond 1000 layers."""

_LADDER = 4.0 ** np.arange(-20, 21)  # q* is reported as 0 below 1e-12 and ∞ above 1e12
_BISECT_STEPS = 51  # halves ln 4 down to ~1e-15
_AT_INFINITY = 1e30  # φ'(±∞) is sampled here


_SIGMA_MAX = 1e6  # keeps q* of a bounded φ far below the 1e12 reported as ∞


def _check_sigma(name: str, value: Any, allow_inf: bool = False) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=float) if not isinstance(value, bool) else np.asarray(np.nan)
    except (TypeError, ValueError):
        arr = np.asarray(np.nan)
    top = np.inf if allow_inf else _SIGMA_MAX
    if np.any(np.isnan(arr) | (arr < 0) | (arr > top)):
        raise ConfigError(name, value, "a number >= 0" if allow_inf else "a number from 0 to 1e6")
    return arr


def _out(x: np.ndarray) -> float | np.ndarray:
    return float(x) if np.ndim(x) == 0 else x


def _sq(f):
    return lambda x: f(x) ** 2


def _m2(a: MeanFieldActivation, q: np.ndarray) -> np.ndarray:
    """E[φ(√q z)²]."""
    if a.slopes is not None:
        return q * (a.slopes[0] ** 2 + a.slopes[1] ** 2) / 2
    return gaussian_expectation(_sq(a.phi), 0.0, np.sqrt(q), a.kinks, a.scale)


def _m1(a: MeanFieldActivation, q: np.ndarray) -> np.ndarray:
    """E[φ'(√q z)²]; at q = ∞ only φ'(±∞) count."""
    q = np.asarray(q, dtype=float)
    if a.slopes is not None:
        return np.full(q.shape, (a.slopes[0] ** 2 + a.slopes[1] ** 2) / 2)
    ends = a.dphi(np.array([_AT_INFINITY, -_AT_INFINITY]))
    finite = np.isfinite(q)
    out = np.full(q.shape, float(np.mean(ends ** 2)))
    out[finite] = gaussian_expectation(_sq(a.dphi), 0.0, np.sqrt(q[finite]), a.kinks, a.scale)
    return out


def variance_map(activation: str, sigma_w2: float, sigma_b2: float, q: float | np.ndarray) -> float | np.ndarray:
    r""":math:`\sigma_w^2\,\mathbb E[\phi(\sqrt q z)^2] + \sigma_b^2` (vectorised over q).

    >>> variance_map("relu", 2.0, 0.0, 3.0)
    3.0
    """
    a = mean_field_activation(activation)
    sw, sb = _check_sigma("sigma_w2", sigma_w2), _check_sigma("sigma_b2", sigma_b2)
    return _out(sw * _m2(a, _check_sigma("q", q, allow_inf=True)) + sb)


def _q_star(a: MeanFieldActivation, sw: np.ndarray, sb: np.ndarray, q0: float,
            steps: int = _BISECT_STEPS) -> np.ndarray:
    sw, sb = np.broadcast_arrays(sw, sb)
    if a.slopes is not None:  # V(q) = k q + σ_b²
        k = sw * (a.slopes[0] ** 2 + a.slopes[1] ** 2) / 2
        with np.errstate(divide="ignore", invalid="ignore"):
            q = np.where(k < 1, sb / (1 - k), np.inf)
        return np.where((k == 1) & (sb == 0), q0, q)  # every q is fixed: the input's stays
    w, b = sw.reshape(-1), sb.reshape(-1)  # (N,)

    def g(q: np.ndarray) -> np.ndarray:
        return w * _m2(a, q) + b - q

    # The fixed point that iterating from q0 reaches: walk up the ladder from q0 while V(q) > q,
    # down while V(q) < q, to the first change of sign; then bisect on ln q inside that step.
    n = len(_LADDER)
    above = w[:, None] * _m2(a, _LADDER) + b[:, None] - _LADDER <= 0  # (N, n)
    rising = g(np.full(w.shape, float(q0))) > 0
    stop_up, stop_down = (_LADDER > q0) & above, (_LADDER < q0) & ~above
    i_up, i_down = stop_up.argmax(1), n - 1 - stop_down[:, ::-1].argmax(1)
    lo = np.where(rising, np.maximum(q0, _LADDER[np.maximum(i_up - 1, 0)]), _LADDER[i_down])
    hi = np.where(rising, _LADDER[i_up], np.minimum(q0, _LADDER[np.minimum(i_down + 1, n - 1)]))
    for _ in range(steps):
        mid = np.sqrt(lo * hi)
        up = g(mid) > 0
        lo, hi = np.where(up, mid, lo), np.where(up, hi, mid)
    q = np.where(rising, np.where(stop_up.any(1), np.sqrt(lo * hi), np.inf),
                 np.where(stop_down.any(1), np.sqrt(lo * hi), 0.0))
    return q.reshape(sw.shape)


def q_star(activation: str, sigma_w2: float | np.ndarray, sigma_b2: float | np.ndarray,
           q0: float = 1.0) -> float | np.ndarray:
    r"""The fixed point :math:`q^*` of the variance map that iterating from ``q0`` reaches (vectorised over σ²).

    Reported as 0 when the signal dies out (below 1e-12) and ``inf`` when it grows without bound
    (above 1e12; e.g. relu with :math:`\sigma_w^2 > 2`). Only some activations (gelu, silu) have
    more than one stable fixed point for some σ², and only there does ``q0`` matter beyond the
    case where every q is fixed (linear, relu, leaky relu with :math:`\sigma_w^2 \mathbb E[\phi(z)^2] = 1`,
    :math:`\sigma_b^2 = 0`), where ``q0`` itself is returned.

    Example:
        >>> round(q_star("relu", 1.0, 0.5), 12)  # σ_b² / (1 - σ_w²/2)
        1.0
    """
    a = mean_field_activation(activation)
    sw, sb = _check_sigma("sigma_w2", sigma_w2), _check_sigma("sigma_b2", sigma_b2)
    return _out(_q_star(a, sw, sb, float(_check_sigma("q0", q0))))


def chi1(activation: str, sigma_w2: float | np.ndarray, sigma_b2: float | np.ndarray,
         q: float | np.ndarray | None = None) -> float | np.ndarray:
    r""":math:`\chi_1 = \sigma_w^2\,\mathbb E[\phi'(\sqrt{q} z)^2]` at ``q`` (default :math:`q^*`): the
    factor by which one layer multiplies the squared backward signal (vectorised).

    >>> chi1("relu", 2.0, 0.0)
    1.0
    """
    a = mean_field_activation(activation)
    sw, sb = _check_sigma("sigma_w2", sigma_w2), _check_sigma("sigma_b2", sigma_b2)
    if q is None:
        return _out(sw * _m1(a, _q_star(a, sw, sb, 1.0)))
    qq, sw = np.broadcast_arrays(_check_sigma("q", q, allow_inf=True), sw)
    return _out(sw * _m1(a, qq))


def depth_scale(chi: float | np.ndarray) -> float | np.ndarray:
    r""":math:`\xi = -1/\ln\chi` in layers: ``inf`` at :math:`\chi = 1`, negative when exploding.

    >>> round(depth_scale(math.exp(-0.1)), 9)
    10.0
    """
    chi = np.asarray(chi, dtype=float)
    with np.errstate(divide="ignore"):
        log = np.log(chi)
        return _out(np.where(log == 0, np.inf, -1.0 / np.where(log == 0, 1.0, log)))


def phase(chi: float, tol: float = PHASE_TOLERANCE) -> Phase:
    """``ordered`` (vanishing), ``critical`` or ``chaotic`` (exploding) from χ₁.

    Critical means :math:`|\\ln\\chi_1| \\le` ``tol``: the gradient depth scale exceeds 1/tol layers.
    """
    log = math.log(chi) if chi > 0 else -math.inf
    if abs(log) <= tol:
        return "critical"
    return "ordered" if log < 0 else "chaotic"


# --- correlations -----------------------------------------------------------------------------

def _arccos_terms(c: float) -> tuple[float, float]:
    """For relu: E[relu(u₁)relu(u₂)]/q and P(u₁ > 0, u₂ > 0) at correlation c (Cho & Saul 2009)."""
    theta = math.acos(max(-1.0, min(1.0, c)))
    return (math.sqrt(max(0.0, 1 - c * c)) + (math.pi - theta) * c) / (2 * math.pi), (math.pi - theta) / (2 * math.pi)


def _homogeneous_pair(slopes: tuple[float, float], c: float) -> tuple[float, float]:
    """E[φ(u₁)φ(u₂)]/q and E[φ'(u₁)φ'(u₂)] for φ(x) = a₋x + (a₊ - a₋) relu(x)."""
    ap, am = slopes
    k, p = _arccos_terms(c)
    d2 = (ap - am) ** 2
    return am * ap * c + d2 * k, am * ap + d2 * p


def _pair(a: MeanFieldActivation, f, q: float, c: float) -> float:
    """E[f(u₁) f(u₂)] at variance q and correlation c (nested one-dimensional rules)."""
    s, r = math.sqrt(q), math.sqrt(max(0.0, 1 - c * c))

    def outer(x1: np.ndarray) -> np.ndarray:
        return f(x1) * gaussian_expectation(f, c * x1, s * r, a.kinks, a.scale)

    return float(gaussian_expectation(outer, 0.0, s, a.kinks, a.scale))


def _effective(a: MeanFieldActivation, q: float) -> MeanFieldActivation:
    """At q = ∞ every activation acts like the homogeneous one with slopes φ'(±∞)."""
    if not math.isinf(q) or a.slopes is not None:
        return a
    ends = a.dphi(np.array([_AT_INFINITY, -_AT_INFINITY]))
    return MeanFieldActivation(a.spec, a.phi, a.dphi, a.kinks, a.scale, (float(ends[0]), float(ends[1])))


def _c_map(a: MeanFieldActivation, sw: float, sb: float, q: float, c: float) -> float:
    if a.slopes is not None:
        m2 = (a.slopes[0] ** 2 + a.slopes[1] ** 2) / 2
        kq = _homogeneous_pair(a.slopes, c)[0]
        if math.isinf(q):
            return kq / m2
        return (sw * q * kq + sb) / (sw * q * m2 + sb)
    return (sw * _pair(a, a.phi, q, c) + sb) / (sw * float(_m2(a, np.asarray(q))) + sb)


def _chi_c(a: MeanFieldActivation, sw: float, q: float, c: float) -> float:
    if a.slopes is not None:
        return sw * _homogeneous_pair(a.slopes, c)[1]
    return sw * _pair(a, a.dphi, q, c)


def correlation_map(activation: str, sigma_w2: float, sigma_b2: float, c: float) -> float:
    r"""One layer's map of the correlation c between two inputs' pre-activations, at :math:`q^*`.

    >>> round(correlation_map("tanh", 2.0, 0.1, 1.0), 12)
    1.0
    """
    a = mean_field_activation(activation)
    sw, sb = float(_check_sigma("sigma_w2", sigma_w2)), float(_check_sigma("sigma_b2", sigma_b2))
    if not -1 <= c <= 1:
        raise ConfigError("c", c, "a correlation in [-1, 1]")
    q = float(_q_star(a, np.asarray(sw), np.asarray(sb), 1.0))
    if q == 0:
        raise ConfigError("sigma_b2", sigma_b2, f"a value > 0 here: with q* = 0 the correlation map of {a.spec} "
                          "is undefined")
    return _c_map(_effective(a, q), sw, sb, q, c)


def _c_star(a: MeanFieldActivation, sw: float, sb: float, q: float, chi: float) -> float:
    if phase(chi) != "chaotic" or not 0 < q < math.inf:
        return 1.0  # at q* = ∞ the normalised map is scale-free and c = 1 is marginal, not unstable

    def gap(c: float) -> float:
        return _c_map(a, sw, sb, q, c) - c

    if gap(0.0) <= 1e-14:  # e.g. odd φ, σ_b² = 0: decorrelated inputs stay decorrelated
        return 0.0
    for delta in 10.0 ** -np.arange(3, 13):  # c = 1 is unstable: find a c just below it that falls
        if gap(1 - delta) < 0:
            return float(brentq(gap, 0.0, 1 - delta, xtol=1e-13, rtol=1e-13))
    return 1.0


def c_star(activation: str, sigma_w2: float, sigma_b2: float) -> float:
    """The stable fixed point of :func:`correlation_map`: 1 in the ordered and critical phases,
    below 1 in the chaotic phase (inputs decorrelate with depth). Reported as 1 when q* is 0 or ∞,
    where the map is degenerate.
    """
    return mean_field(activation, sigma_w2, sigma_b2).c_star


def chi_c(activation: str, sigma_w2: float, sigma_b2: float) -> float:
    r""":math:`\chi_c = \sigma_w^2\,\mathbb E[\phi'(u_1)\phi'(u_2)]` at :math:`c^*`; equals χ₁ when c* = 1."""
    return mean_field(activation, sigma_w2, sigma_b2).chi_c


# --- criticality ------------------------------------------------------------------------------

def critical_sigma_w2(activation: str, sigma_b2: float = 0.0) -> float:
    r"""The :math:`\sigma_w^2` at which :math:`\chi_1 = 1` for this :math:`\sigma_b^2` (the edge of chaos).

    Solved along the critical line parametrised by :math:`q^*` (Poole et al. 2016):
    :math:`\sigma_w^2 = 1/\mathbb E[\phi'(\sqrt{q^*}z)^2]`,
    :math:`\sigma_b^2 = q^* - \sigma_w^2\,\mathbb E[\phi(\sqrt{q^*}z)^2]`, then checked to be a stable
    fixed point. Raises :class:`ConfigError` when there is none, e.g. relu with :math:`\sigma_b^2 > 0`
    (:math:`\chi_1 = \sigma_w^2/2` is 1 only at :math:`\sigma_w^2 = 2`, where q then grows without bound).
    Cached: a deep net asks once.

    >>> critical_sigma_w2("relu")
    2.0
    """
    spec = mean_field_activation(activation).spec
    return _critical(spec, float(_check_sigma("sigma_b2", sigma_b2)))


@functools.lru_cache(maxsize=1024)
def _critical(spec: str, sb: float) -> float:
    a = mean_field_activation(spec)
    if a.slopes is not None:
        if sb == 0:
            return 1.0 / float(_m1(a, np.asarray(1.0)))
        raise ConfigError("sigma_b2", sb, f"0 for {spec}: χ₁ = σ_w² E[φ'²] does not depend on q, and at "
                          "χ₁ = 1 any bias variance makes q grow without bound (no critical point)")

    def bias_at(q: np.ndarray | float) -> np.ndarray:  # σ_b² on the critical line at q* = q, minus target
        q = np.asarray(q, dtype=float)
        return q - _m2(a, q) / _m1(a, q) - sb

    qs = np.geomspace(1e-10, 1e10, 81)
    h = bias_at(qs)
    roots = [brentq(bias_at, qs[i], qs[i + 1], xtol=1e-300, rtol=1e-14)
             for i in np.flatnonzero(np.sign(h[:-1]) * np.sign(h[1:]) < 0)]
    for q in roots:
        sw = 1.0 / float(_m1(a, np.asarray(q)))
        if _stable(a, sw, q):
            return sw
    if sb == 0 and float(a.phi(np.zeros(1))[0]) == 0:
        # φ(0) = 0: q* = 0 is a fixed point, critical where σ_w² E[φ'(0⁺ z)²] = 1 if it attracts
        sw = 1.0 / float(_m1(a, np.asarray(0.0)))
        if float(_q_star(a, np.asarray(sw), np.asarray(0.0), 1.0)) == 0:
            return sw
    raise ConfigError("sigma_b2", sb, f"a bias variance at which {spec} has a critical point (χ₁ = 1 at a "
                      "stable finite q*); none exists for q* in [1e-10, 1e10]")


def _stable(a: MeanFieldActivation, sw: float, q: float, h: float = 1e-4) -> bool:
    """V'(q) < 1: nearby variances return to q."""
    v = sw * _m2(a, np.array([q * (1 - h), q * (1 + h)]))
    return float(v[1] - v[0]) / (2 * q * h) < 1


# --- summary ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class MeanField:
    """All mean-field quantities of one (activation, σ_w², σ_b²)."""

    activation: str
    sigma_w2: float
    sigma_b2: float
    q_star: float
    chi1: float
    depth_scale: float
    phase: Phase
    c_star: float
    chi_c: float
    xi_c: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def mean_field(activation: str, sigma_w2: float, sigma_b2: float) -> MeanField:
    """q*, χ₁, ξ_∇, phase, c*, χ_c and ξ_c in one call.

    Example:
        >>> mf = mean_field("tanh", 1.5, 0.05)
        >>> mf.phase, round(mf.q_star, 4), round(mf.chi1, 4)
        ('ordered', 0.418, 0.9386)
    """
    a = mean_field_activation(activation)
    sw, sb = float(_check_sigma("sigma_w2", sigma_w2)), float(_check_sigma("sigma_b2", sigma_b2))
    q = float(_q_star(a, np.asarray(sw), np.asarray(sb), 1.0))
    x1 = sw * float(_m1(a, np.asarray(q)))
    c = _c_star(a, sw, sb, q, x1)
    xc = x1 if c == 1.0 else _chi_c(a, sw, q, c)
    return MeanField(a.spec, sw, sb, q, x1, float(depth_scale(x1)), phase(x1), c, xc, float(depth_scale(xc)))
