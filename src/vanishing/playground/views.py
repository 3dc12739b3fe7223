"""What the page draws, as JSON-ready dicts: pure functions of a trace, a config, a data set or a model.

Numbers follow :mod:`vanishing.results.codec` (NaN and ±inf as the strings ``"nan"``, ``"inf"``,
``"-inf"``), the same convention as result files; the page turns them back into numbers.
"""

from __future__ import annotations

import functools
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from .. import theory
from ..config import RunConfig
from ..data import Dataset
from ..diagnose import Diagnosis
from ..errors import ConfigError, VanishingError
from ..results import Trace, codec

__all__ = ["ROW_QUANTITIES", "ROW_SCALARS", "step_row", "trace_rows", "points", "decision_boundary", "theory_view",
           "diagnosis_view", "BOUNDARY_RESOLUTION"]

ROW_QUANTITIES = ("grad_norm", "signal_grad_norm", "update_ratio", "saturation", "dead_fraction")
"""Per-layer quantities sent for every recorded step (the page's charts)."""
ROW_SCALARS = ("loss", "train_accuracy", "test_accuracy")
BOUNDARY_RESOLUTION = 40  # grid points per axis of the decision-boundary picture
MAX_POINTS = 400  # training points drawn under the decision boundary
PHASE_RESOLUTION = (48, 32)  # σ_w² × σ_b² grid of the phase diagram


def step_row(step: int, quantities: Mapping[str, Any], scalars: Mapping[str, float]) -> dict[str, Any]:
    """One recorded step as the page reads it: ``{"step", <quantity>: [per layer], <scalar>: value}``,
    input-side layer first; what was not recorded at this step is left out."""
    row: dict[str, Any] = {"step": int(step)}
    for q in ROW_QUANTITIES:
        if q in quantities:
            row[q] = codec.encode(np.asarray(quantities[q], dtype=np.float64))
    for s in ROW_SCALARS:
        if s in scalars:
            row[s] = codec.encode(float(scalars[s]))
    return row


def trace_rows(trace: Trace, start: int = 0) -> list[dict[str, Any]]:
    """:func:`step_row` of each recorded step of ``trace`` from index ``start`` on."""
    return [step_row(int(trace.steps[i]), {q: trace.data[q][i] for q in ROW_QUANTITIES if q in trace.data},
                     {s: trace.scalars[s][i] for s in ROW_SCALARS if s in trace.scalars})
            for i in range(start, len(trace.steps))]


def _is_2d(data: Dataset) -> bool:
    return data.in_features == 2 and data.task == "classification"


def points(data: Dataset, n: int = MAX_POINTS) -> dict[str, Any] | None:
    """Up to ``n`` training points ``{"x", "y", "label"}`` of a 2-D classification set; None otherwise."""
    if not _is_2d(data):
        return None
    x, y = data.x_train[:n].numpy(), data.y_train[:n].numpy()
    return {"x": x[:, 0].tolist(), "y": x[:, 1].tolist(), "label": y.tolist()}


@torch.no_grad()
def decision_boundary(model: nn.Module, data: Dataset, resolution: int = BOUNDARY_RESOLUTION) -> dict[str, Any] | None:
    """The class ``model`` predicts on a ``resolution``² grid over the training inputs (2-D classification
    sets only; None otherwise): ``{"x": (R,), "y": (R,), "label": (R, R) row = y}``. Run in eval mode, the
    mode restored after; under ``no_grad`` the probe does not see these passes."""
    if not _is_2d(data):
        return None
    x = data.x_train
    lo, hi = x.min(0).values - 0.25, x.max(0).values + 0.25
    gx = torch.linspace(float(lo[0]), float(hi[0]), resolution)
    gy = torch.linspace(float(lo[1]), float(hi[1]), resolution)
    yy, xx = torch.meshgrid(gy, gx, indexing="ij")  # (R, R): row = y
    grid = torch.stack([xx.reshape(-1), yy.reshape(-1)], 1)
    device = next(iter(model.parameters())).device
    was_training = model.training
    model.eval()
    try:
        label = model(grid.to(device)).argmax(-1).reshape(resolution, resolution).cpu()
    finally:
        model.train(was_training)
    return {"x": gx.tolist(), "y": gy.tolist(), "label": label.tolist()}


@functools.lru_cache(maxsize=32)
def _phase(activation: str, sigma_w2_max: float | None, sigma_b2_max: float) -> dict[str, Any]:
    d = theory.phase_diagram(activation, sigma_w2_max=sigma_w2_max, sigma_b2_max=sigma_b2_max,
                             resolution=PHASE_RESOLUTION)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_chi = np.log10(d.chi1)
    return codec.encode({"activation": d.activation, "sigma_w2": d.sigma_w2, "sigma_b2": d.sigma_b2,
                         "log10_chi1": log_chi, "critical": d.critical})


def _beyond(value: float, default_max: float) -> float | None:
    """A range wide enough to show ``value`` when the default one is not (3 significant digits: cacheable)."""
    return None if value < 0.95 * default_max else float(f"{1.25 * value:.3g}")


def theory_view(config: RunConfig, in_features: int, out_features: int) -> dict[str, Any]:
    """Mean-field prediction of ``config`` and its activation's χ₁ phase diagram (for the page).

    ``{"prediction": {...} | None, "phase_diagram": {...} | None, "reason": str | None}``; the prediction's
    ``log10_grad_norm`` is ``log10 ‖∂L/∂z_l‖ / ‖∂L/∂z_{L-1}‖`` per layer (0 at the read-out).
    Theory covers plain MLPs only: with a norm or skips, ``reason`` says why there is none.
    """
    if config.norm != "none" or config.residual:
        return {"prediction": None, "phase_diagram": None,
                "reason": "mean-field theory here covers plain MLPs (no norm layers, no skips)"}
    try:
        p = theory.predict(config, in_features=in_features, out_features=out_features)
    except VanishingError as exc:
        return {"prediction": None, "phase_diagram": None, "reason": str(exc)}
    prediction = codec.encode({
        "log10_grad_norm": p.log10_grad_norm, "orders_lost": p.orders_lost, "chi1": p.chi1,
        "phase": p.phase, "sigma_w2": p.sigma_w2, "sigma_b2": p.sigma_b2, "q_star": p.q_star,
        "depth_scale": p.depth_scale, "critical_sigma_w2": p.critical_sigma_w2})
    # phase_diagram's default ranges (σ_w² to 2.5 × the critical σ_w², 4 without one; σ_b² to 1), widened
    # where the settings lie beyond them
    crit = p.critical_sigma_w2
    sigma_w2_max = _beyond(p.sigma_w2, 2.5 * crit if crit is not None else 4.0)
    sigma_b2_max = _beyond(p.sigma_b2, 1.0) or 1.0
    try:
        diagram = _phase(p.activation, sigma_w2_max, sigma_b2_max)
    except VanishingError:
        diagram = None
    return {"prediction": prediction, "phase_diagram": diagram, "reason": None}


def diagnosis_view(diagnosis: Diagnosis, config: RunConfig) -> dict[str, Any]:
    """``Diagnosis.to_dict()`` with, for each fix that is a config change, the whole fixed ``config``
    (what "apply fix" starts as run B); a change this config cannot take is left without one."""
    d = diagnosis.to_dict()
    for fix in d.get("fixes", []):
        changes = fix.get("changes") or {}
        if changes:
            try:
                fix["config"] = config.replace(**changes).model_dump()
            except ConfigError:
                fix["config"] = None
    return d

