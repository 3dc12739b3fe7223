"""Concrete, ranked remedies, each a set of config changes with the gain theory predicts for it.

A fix is a dict of :class:`~vanishing.config.RunConfig` changes (``{"init": "he_normal"}``), so
``vanishing run --try-fixes`` can re-run it and verify it. Where the mean-field theory applies (plain
MLP, no norm, no skips) each fix carries its predicted per-layer gain and orders lost; fixes that
theory predicts to keep the gradient flowing rank first.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from ..errors import VanishingError
from ..results.run_result import SIGNAL_ORDERS
from .findings import Fix

__all__ = ["predicted_flow", "vanishing_fixes", "exploding_fixes", "dead_unit_fixes", "divergence_fixes",
           "saturation_fixes", "slow_fixes", "CRITICAL_SIGMA_B2"]

# bias variance used when proposing a critical init for a net without bias noise:
# σ_b² = 0.05 is the textbook example (Poole et al. 2016; Schoenholz et al. 2017); std = √0.05
CRITICAL_SIGMA_B2 = 0.05


def predicted_flow(config: Mapping[str, Any] | None, changes: Mapping[str, Any] | None = None
                   ) -> tuple[float | None, float | None]:
    """(geometric-mean per-layer norm gain, orders lost) that theory predicts for ``config`` + ``changes``;
    ``(None, None)`` where theory does not apply (unknown config, norm, residual)."""
    if config is None:
        return None, None
    c = {**config, **(changes or {})}
    if c.get("norm", "none") != "none" or c.get("residual"):
        return None, None
    from .. import theory

    try:
        p = theory.predict(c)
    except (VanishingError, ValueError, ZeroDivisionError, OverflowError):
        return None, None
    if p.chi.size == 0:
        return None, None
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = float(10 ** np.mean(np.log10(p.gain)))
    return (gain if math.isfinite(gain) else None), (p.orders_lost if math.isfinite(p.orders_lost) else None)


def _fix(name: str, text: str, config: Mapping[str, Any] | None, changes: dict[str, Any],
         measured_gain: float | None = None) -> Fix:
    gain, orders = predicted_flow(config, changes) if changes else (None, None)
    if gain is not None:
        text = f"{text} — predicted per-layer gain {gain:.2f}"
        if measured_gain is not None and math.isfinite(measured_gain):
            text += f" vs measured {measured_gain:.2f}"
        if orders is not None:
            text += f", {orders:.1f} {SIGNAL_ORDERS} lost over the net"
    if changes and config is not None:
        text += " (" + ", ".join(f"{k}={v}" for k, v in changes.items()) + ")"
    return Fix(name, text, changes if config is not None else {}, gain, orders)


def _activation_kind(config: Mapping[str, Any] | None) -> str | None:
    if config is None or not config.get("activation"):
        return None
    from ..activations import get_activation

    try:
        return get_activation(str(config["activation"])).kind
    except VanishingError:
        return None


def _critical_init(config: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Changes that put the net at its critical init (χ₁ = 1), or None where none exists."""
    if config is None:
        return None
    from .. import theory

    try:
        sb2 = theory.sigma_b2_of_init(str(config.get("bias_init", "zeros")))
    except VanishingError:
        sb2 = 0.0
    changes: dict[str, Any] = {}
    kind = _activation_kind(config)
    if sb2 == 0 and kind == "saturating":
        sb2 = CRITICAL_SIGMA_B2  # with σ_b = 0 tanh's critical point is the linear regime, σ_w² = 1
        changes["bias_init"] = f"normal:std={math.sqrt(sb2):.4f}"
    try:
        theory.critical_sigma_w2(str(config["activation"]), sb2)
    except (VanishingError, ValueError, KeyError):
        return None
    changes = {"init": f"critical:sigma_b2={sb2:g}", **changes}
    if config.get("init") == changes["init"]:
        return None
    return changes


def _rank(fixes: list[Fix]) -> list[Fix]:
    """Theory-backed fixes that keep the flow (|orders| < 1) first, by |orders|; the rest keep their order."""
    good = sorted((f for f in fixes if f.predicted_orders is not None and abs(f.predicted_orders) < 1),
                  key=lambda f: abs(f.predicted_orders or 0))
    return good + [f for f in fixes if f not in good]


def _dedupe(fixes: list[Fix], config: Mapping[str, Any] | None) -> list[Fix]:
    out, seen = [], set()
    if config is not None and config.get("model", "mlp") != "mlp":
        from ..config import MLP_FIELDS

        # a recurrent net has no layer activation, init, norm or skips to change: those fixes are the MLP's
        fixes = [f for f in fixes if not set(f.changes) & set(MLP_FIELDS)]
    for f in fixes:
        key = tuple(sorted(f.changes.items())) if f.changes else f.name
        if config is not None and f.changes and all(config.get(k) == v for k, v in f.changes.items()):
            continue  # already the config
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


def vanishing_fixes(config: Mapping[str, Any] | None, measured_gain: float | None = None) -> list[Fix]:
    kind = _activation_kind(config)
    fixes: list[Fix] = []
    if config is None or kind != "relu_like" or config.get("init") != "he_normal":
        fixes.append(_fix("relu_he", "relu + he_normal: ReLU's derivative is 1 on active units and He's "
                          "σ_w² = 2 keeps the signal's scale", config,
                          {"activation": "relu", "init": "he_normal", "bias_init": "zeros"}, measured_gain))
    if kind == "relu_like" and config is not None and config.get("init") != "he_normal":
        fixes.append(_fix("he_normal", "he_normal init", config, {"init": "he_normal"}, measured_gain))
    # sigmoid's critical point needs σ_w² ≈ 100 (at σ_b² = 0.05): its units then saturate and training stalls (verified with
    # --try-fixes), so it is not proposed for sigmoid
    crit = _critical_init(config) if config is not None and config.get("activation") != "sigmoid" else None
    if crit is not None:
        fixes.append(_fix("critical_init", f"{config['activation']} at its critical init", config, crit,
                          measured_gain))
    if kind == "saturating":
        fixes.append(_fix("elu", "elu + he_normal (non-saturating for positive inputs)", config,
                          {"activation": "elu", "init": "he_normal"}, measured_gain))
    fixes.append(_fix("residual_norm", "residual connections + layer normalisation: the skip passes the "
                      "gradient around each block", config, {"residual": True, "norm": "layer"}))
    fixes.append(_fix("batch_norm", "batch normalisation after each hidden layer", config, {"norm": "batch"}))
    return _rank(_dedupe(fixes, config))


def exploding_fixes(config: Mapping[str, Any] | None, measured_gain: float | None = None) -> list[Fix]:
    kind = _activation_kind(config)
    fixes: list[Fix] = []
    if kind == "relu_like" or config is None:
        fixes.append(_fix("he_normal", "he_normal init (σ_w² = 2 for ReLU)", config, {"init": "he_normal"},
                          measured_gain))
    crit = _critical_init(config)
    if crit is not None:
        fixes.append(_fix("critical_init", f"{config['activation']} at its critical init", config, crit,
                          measured_gain))
    if kind == "saturating":
        fixes.append(_fix("xavier_normal", "xavier_normal init", config, {"init": "xavier_normal"}, measured_gain))
    fixes.append(_fix("batch_norm", "batch normalisation after each hidden layer", config, {"norm": "batch"}))
    fixes.append(Fix("clip", "clip the gradient norm in the training loop: "
                     "torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)"))
    return _rank(_dedupe(fixes, config))


def _lower_lr(config: Mapping[str, Any] | None, factor: float = 10.0) -> Fix:
    if config is None or not config.get("lr"):
        return Fix("lower_lr", f"a learning rate {factor:g}× lower")
    lr = float(config["lr"]) / factor
    return Fix("lower_lr", f"a learning rate {factor:g}× lower (lr={lr:g})", {"lr": lr})


def divergence_fixes(config: Mapping[str, Any] | None, measured_gain: float | None = None) -> list[Fix]:
    fixes = [_lower_lr(config)]
    fixes += [f for f in exploding_fixes(config, measured_gain) if f.name != "clip"]
    fixes.append(Fix("clip", "clip the gradient norm: torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)"))
    return _dedupe(fixes, config)


def dead_unit_fixes(config: Mapping[str, Any] | None, measured_gain: float | None = None) -> list[Fix]:
    fixes: list[Fix] = []
    if config is not None and str(config.get("bias_init", "zeros")).startswith("constant"):
        fixes.append(_fix("zero_bias", "zero biases (a negative bias switches ReLUs off)", config,
                          {"bias_init": "zeros"}, measured_gain))
    fixes.append(_fix("leaky_relu", "leaky_relu (a dead unit still passes 1 % of the gradient)", config,
                      {"activation": "leaky_relu"}, measured_gain))
    fixes.append(_lower_lr(config))
    fixes.append(_fix("batch_norm", "batch normalisation (re-centres pre-activations)", config, {"norm": "batch"}))
    return _dedupe(fixes, config)


def saturation_fixes(config: Mapping[str, Any] | None, measured_gain: float | None = None) -> list[Fix]:
    fixes: list[Fix] = []
    crit = _critical_init(config)
    if crit is not None:
        fixes.append(_fix("critical_init", f"{config['activation']} at its critical init", config, crit,
                          measured_gain))
    fixes.append(_fix("relu_he", "relu + he_normal (no saturation for positive inputs)", config,
                      {"activation": "relu", "init": "he_normal", "bias_init": "zeros"}, measured_gain))
    fixes.append(_fix("batch_norm", "batch normalisation keeps pre-activations in the non-saturated range",
                      config, {"norm": "batch"}))
    return _rank(_dedupe(fixes, config))


def slow_fixes(config: Mapping[str, Any] | None, measured_gain: float | None = None) -> list[Fix]:
    fixes = vanishing_fixes(config, measured_gain)
    if config is not None and config.get("optimizer") != "adam":
        fixes.append(Fix("adam", "adam (per-parameter step sizes that do not shrink with the gradient), lr=1e-3",
                         {"optimizer": "adam", "lr": 1e-3}))
    elif config is None:
        fixes.append(Fix("adam", "Adam, whose per-parameter steps do not shrink with the gradient"))
    return fixes
