"""Alarm rules checked on each step the probe records while training: small functions in a list.

A rule reads one recorded step (:class:`Reading`: the quantities' (L,) rows) and returns an
:class:`Alarm` — one line with the numbers — or ``None``. Adding a rule = writing one function and
appending it to :data:`ALARMS`; a variant is a ``functools.partial`` (``partial(vanishing, ratio=1e-6)``).
They cost a few numpy operations on L numbers, so they may run on every recorded step.

Thresholds:

* vanishing: a layer's weight gradient ‖∂L/∂W‖ below 1e-8 of the last layer's. That is below float32's
  relative precision (2⁻²³ ≈ 1.2e-7): where the last layer learns at a usual rate, that layer's updates
  are smaller than the rounding of its own weights — it has stopped learning, not slowed down.
  (The diagnosis judges a whole run and warns far earlier, at 1.5 orders.)
* exploding: a layer's weight gradient above 1e8 times the last layer's (the mirror image).
* zero gradient: a layer's weight gradient exactly 0 (dead units, saturation to exactly φ' = 0, a
  detached branch); every layer's: a dead network.
* non-finite: any NaN or ±Inf measured reading, or any NaN/Inf gradient entry (``nonfinite_grads``);
  derived quantities (``attribution_*``, a log10 of norms) are left out: their ±Inf follows from an exact 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from ..diagnose.findings import layers_text
from ..probe.quantities import QUANTITIES
from ..results import LayerInfo

__all__ = ["Alarm", "Reading", "AlarmRule", "ALARMS", "THRESHOLDS", "vanishing", "exploding", "zero_gradient",
           "nonfinite"]

THRESHOLDS: dict[str, float] = {"vanishing_ratio": 1e-8, "exploding_ratio": 1e8}

_W = "weight gradient ‖∂L/∂W‖"


@dataclass(frozen=True)
class Alarm:
    """A rule that fired: its name, the step, and one line saying what with the numbers."""

    rule: str
    step: int
    message: str

    def __str__(self) -> str:
        return f"step {self.step}: {self.message}"


@dataclass(frozen=True)
class Reading:
    """One recorded step: ``values`` quantity → (L,) float64; ``counted`` quantity → (L,) bool, the
    layers the quantity applies to (see :mod:`vanishing.results.metrics`); the layers, input side first."""

    step: int
    values: Mapping[str, np.ndarray]
    counted: Mapping[str, np.ndarray]
    layers: Sequence[LayerInfo]

    def layer(self, i: int) -> str:
        """``"layer 3 (fc3)"``: the layer's number from 1 and its name."""
        return f"layer {i + 1} ({self.layers[i].name})"

    def span(self, idx: np.ndarray) -> str:
        return layers_text([int(i) for i in idx], [x.name for x in self.layers])


AlarmRule = Callable[[Reading], "Alarm | None"]


def _against_last(r: Reading, rule: str, ratio: float, above: bool) -> Alarm | None:
    """Layers whose weight gradient over the last layer's is above (below) ``ratio``; the most extreme
    is named. No comparison without a finite, positive last-layer gradient; exact zeros are left to
    :func:`zero_gradient`."""
    g = r.values.get("grad_norm")
    if g is None or len(g) < 2 or not (np.isfinite(g[-1]) and g[-1] > 0):
        return None
    with np.errstate(invalid="ignore"):
        q = g[:-1] / g[-1]
    bad = np.flatnonzero(np.isfinite(q) & (q > ratio) if above else (q > 0) & (q < ratio))
    if not len(bad):
        return None
    w = int(bad[np.argmax(q[bad]) if above else np.argmin(q[bad])])
    went, of, side = ("rose above", "times", "above") if above else ("fell below", "of", "below")
    more = f"; {r.span(bad)} are all {side}" if len(bad) > 1 else ""
    return Alarm(rule, r.step, f"{r.layer(w)}'s {_W} {g[w]:.2e} {went} {ratio:.0e} {of} the last layer's "
                               f"({g[-1]:.2e}): {q[w]:.1e}{more}")


def vanishing(r: Reading, ratio: float = THRESHOLDS["vanishing_ratio"]) -> Alarm | None:
    """A layer's weight gradient below ``ratio`` of the last layer's (exact zeros: :func:`zero_gradient`)."""
    return _against_last(r, "vanishing", ratio, above=False)


def exploding(r: Reading, ratio: float = THRESHOLDS["exploding_ratio"]) -> Alarm | None:
    """A layer's weight gradient above ``ratio`` times the last layer's (finite values only)."""
    return _against_last(r, "exploding", ratio, above=True)


def zero_gradient(r: Reading) -> Alarm | None:
    """Layers whose weight gradient is exactly 0 (all of them: a dead network, or a loss of exactly 0)."""
    g = r.values.get("grad_norm")
    if g is None:
        return None
    zero = np.flatnonzero(g == 0)
    if not len(zero):
        return None
    if len(zero) == len(g):
        return Alarm("zero_gradient", r.step, f"the {_W} of every layer ({r.span(zero)}) is exactly 0")
    return Alarm("zero_gradient", r.step, f"the {_W} of {r.span(zero)} is exactly 0 "
                                          f"(largest elsewhere {np.nanmax(g):.2e})")


def _measured(q: str) -> bool:
    """A quantity read from the model, not derived from others (a derived log10 of an exact 0 is −Inf)."""
    return q not in QUANTITIES or QUANTITIES.get(q).stage != "derived"


def nonfinite(r: Reading) -> Alarm | None:
    """Any NaN or ±Inf measured reading in a layer the quantity applies to, or NaN/Inf gradient entries.
    Derived quantities are left out: their ±Inf follows from exact zeros (:func:`zero_gradient`)."""
    parts = []
    entries = r.values.get("nonfinite_grads")
    if entries is not None and np.nansum(entries) > 0:
        hit = np.flatnonzero(entries > 0)
        parts.append(f"{np.nansum(entries):.0f} NaN/Inf gradient entries in {r.span(hit)}")
    for q, v in r.values.items():
        bad = np.flatnonzero(~np.isfinite(v) & r.counted.get(q, np.ones(len(v), bool)))
        if len(bad) and q != "nonfinite_grads" and _measured(q):
            x = v[bad]
            kinds = "/".join(k for k, hit in (("NaN", np.isnan(x)), ("Inf", x == np.inf), ("-Inf", x == -np.inf))
                             if hit.any())
            parts.append(f"{q} {kinds} in {r.span(bad)}")
    if not parts:
        return None
    shown = "; ".join(parts[:3]) + (f"; and {len(parts) - 3} more quantities" if len(parts) > 3 else "")
    return Alarm("nonfinite", r.step, f"non-finite values: {shown}")


ALARMS: list[AlarmRule] = [nonfinite, vanishing, exploding, zero_gradient]
"""The rules a :class:`~vanishing.integrations.LiveLogger` checks unless told otherwise."""
