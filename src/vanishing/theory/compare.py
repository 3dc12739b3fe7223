"""Theory vs measurement: per-layer squared gradient gains of a recorded trace against the prediction."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import VanishingError
from .predict import Prediction, predict

__all__ = ["Comparison", "compare_with_measurement"]


@dataclass(frozen=True)
class Comparison:
    """Measured vs predicted ‖∂L/∂z_l‖² / ‖∂L/∂z_{l+1}‖² for the hidden→hidden pairs l = 0 … L-3."""

    step: int
    measured: np.ndarray
    """(L-2,) measured squared gains at ``step``."""
    predicted: np.ndarray
    """(L-2,) predicted χ_l."""
    ratio: float
    """Geometric mean of measured / predicted over the finite pairs (1 = theory exact)."""
    prediction: Prediction

    @property
    def orders_error(self) -> float:
        """Orders of magnitude of gradient norm the theory misses over these layers,
        ½ · pairs · log10 :attr:`ratio` (> 0: the measured gradients shrink less than predicted)."""
        return 0.5 * len(self.measured) * math.log10(self.ratio) if self.ratio > 0 else math.nan


def compare_with_measurement(trace: Any, q0: float | None = None, index: int = 0) -> Comparison:
    """Compare a trace of a known MLP config with :func:`~vanishing.theory.predict`.

    Reads ``trace.steps``, ``trace.data["signal_grad_norm"]`` (S, L) and ``trace.meta["config"]``
    (activation, init, bias_init, depth, width, in_features). The read-out pair is left out: its
    gain depends on the loss, not on the random weights.

    Args:
        q0: mean square of the input features; default ``trace.meta["input_q"]`` if recorded, else 1.
        index: which of the steps recording signal_grad_norm (default the first, normally step 0:
            theory describes the network at init).
    """
    data = getattr(trace, "data", {})
    if "signal_grad_norm" not in data:
        raise VanishingError("trace has no 'signal_grad_norm'; record it to compare with theory "
                             f"(recorded: {', '.join(data) or 'none'})")
    meta = getattr(trace, "meta", {}) or {}
    config = meta.get("config")
    if not isinstance(config, dict):
        raise VanishingError("trace.meta has no 'config'; theory needs activation, init, bias_init, depth, "
                             "width and in_features")
    g = np.asarray(data["signal_grad_norm"], dtype=float)
    if g.ndim != 2 or g.shape[1] < 3:
        raise VanishingError(f"signal_grad_norm of shape {g.shape}; need (steps, layers) with at least 3 "
                             "layers (two hidden layers make one hidden→hidden pair)")
    steps = np.asarray(trace.steps)[~np.isnan(g).all(axis=1)]
    g = g[~np.isnan(g).all(axis=1)]  # only the steps where it was recorded
    if not -len(g) <= index < len(g):
        raise VanishingError(f"index {index} out of range: signal_grad_norm was recorded at {len(g)} steps")
    if q0 is None:
        q0 = float(meta.get("input_q", 1.0))
    pred = predict(config, q0=q0)
    if pred.depth != g.shape[1]:
        raise VanishingError(f"config depth {pred.depth} but the trace has {g.shape[1]} layers")
    row = g[index]
    with np.errstate(divide="ignore", invalid="ignore"):
        measured = (row[:-2] / row[1:-1]) ** 2
    predicted = pred.chi[:-1]
    ok = np.isfinite(measured) & (measured > 0) & np.isfinite(predicted) & (predicted > 0)
    ratio = float(np.exp(np.mean(np.log(measured[ok] / predicted[ok])))) if ok.any() else math.nan
    return Comparison(int(steps[index]), measured, predicted, ratio, pred)
