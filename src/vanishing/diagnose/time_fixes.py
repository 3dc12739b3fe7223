"""Remedies for gradients that vanish or explode through time, each a set of run-config changes.

Ranked by how reliably they carry a gradient over long sequences: gated cells first (an LSTM's cell
state passes the gradient through time multiplied only by its forget gate; Hochreiter & Schmidhuber
1997), the chrono init for long dependencies (Tallec & Ollivier 2018), then recurrent inits that put
a vanilla RNN's per-step gain near 1 (orthogonal; identity + ReLU, Le, Jaitly & Hinton 2015). Where
mean-field theory applies (a vanilla RNN with a random recurrent init), a fix carries its predicted
per-step gain √χ₁ and the orders lost over the sequence, and its text the predicted ξ.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from ..errors import VanishingError
from .findings import Fix

__all__ = ["vanishing_time_fixes", "exploding_time_fixes", "predicted_time_flow", "CLIP_NORM", "LONG_FORGET_BIAS"]

CLIP_NORM = 1.0
"""Gradient-norm threshold proposed for clipping (Pascanu, Mikolov & Bengio 2013 clip at a few times the
typical norm; 1 is the common default)."""

LONG_FORGET_BIAS = 3.0
"""Forget-gate bias proposed to an LSTM that still forgets too fast: σ(3) = 0.95 keeps e-folds of ~20 steps."""

_VANILLA = ("rnn", "irnn")


def predicted_time_flow(config: Mapping[str, Any] | None, changes: Mapping[str, Any] | None, length: int,
                        input_q: float | None, in_features: int | None) -> tuple[float | None, float | None, float | None]:
    """(per-step norm gain √χ₁, orders lost over ``length`` steps, ξ) that theory predicts for ``config`` +
    ``changes``; Nones where it does not apply (gated cell, identity init, unknown input statistics)."""
    if config is None or input_q is None or in_features is None:
        return None, None, None
    from ..theory.recurrent import predict_rnn_config

    try:
        p = predict_rnn_config({**config, **(changes or {})}, input_q, int(in_features))
    except (VanishingError, ValueError, ZeroDivisionError, OverflowError):
        return None, None, None
    return p.gain, p.orders_through_time(length), p.xi


def _changes(config: Mapping[str, Any] | None, target: Mapping[str, Any]) -> dict[str, Any]:
    """The part of ``target`` that differs from ``config`` (all of it without a config)."""
    if config is None:
        return dict(target)
    return {k: v for k, v in target.items() if config.get(k) != v}


def _to_cell(config: Mapping[str, Any] | None, model: str, **extra: Any) -> dict[str, Any]:
    """Switch to a gated cell: the vanilla-only settings go back to their defaults."""
    target: dict[str, Any] = {"model": model, "rnn_activation": None, "recurrent_init": None, "input_init": None}
    target.update(extra)
    return _changes(config, target)


def _fix(name: str, text: str, config: Mapping[str, Any] | None, target: dict[str, Any], length: int,
         input_q: float | None, in_features: int | None, measured_xi: float | None) -> Fix | None:
    changes = target
    if config is not None and not changes:
        return None  # already the config
    gain, orders, xi = predicted_time_flow(config, changes, length, input_q, in_features)
    if xi is not None:
        text += f" — predicted ξ = {_steps(xi)} per e-fold"
        if measured_xi is not None and math.isfinite(measured_xi):
            text += f" vs measured {_steps(measured_xi)}"
        if orders is not None and math.isfinite(orders):
            text += f", {orders:.1f} orders lost over {length} steps"
    if changes and config is not None:
        text += " (" + ", ".join(f"{k}={v}" for k, v in changes.items()) + ")"
    return Fix(name, text, dict(changes) if config is not None else {}, gain, orders)


def _steps(xi: float) -> str:
    return "∞ steps" if math.isinf(xi) else f"{xi:.3g} steps"


def vanishing_time_fixes(config: Mapping[str, Any] | None, length: int, input_q: float | None = None,
                         in_features: int | None = None, measured_xi: float | None = None) -> list[Fix]:
    """Fixes for a gradient that vanishes going back through ``length`` time steps, most promising first."""
    model = (config or {}).get("model", "rnn")
    args = (length, input_q, in_features, measured_xi)
    cand: list[Fix | None] = []
    if model in _VANILLA or config is None:
        cand.append(_fix("lstm", "an LSTM: its cell state carries the gradient back through time multiplied "
                         "only by the forget gate, not by a squashing derivative and a weight matrix",
                         config, _to_cell(config, "lstm"), *args))
        cand.append(_fix("gru", "a GRU: its update gate interpolates between the old and the new state, so "
                         "the gradient has a path through time without a weight matrix", config,
                         _to_cell(config, "gru"), *args))
        if length >= 50:
            cand.append(_fix("lstm_chrono", f"an LSTM with the chrono init: forget-gate biases log U[1, {length - 1}] "
                             "give time constants up to the sequence length (Tallec & Ollivier 2018)",
                             config, _to_cell(config, "lstm", chrono=True), *args))
        if model == "rnn" or config is None:
            cand.append(_fix("orthogonal", "an orthogonal recurrent init: W keeps the norm of every direction, "
                             "so only the activation's derivative shrinks the gradient", config,
                             _changes(config, {"recurrent_init": "orthogonal"}), *args))
            if (config or {}).get("rnn_activation") != "relu" or (config or {}).get("recurrent_init") != "identity":
                cand.append(_fix("irnn", "an IRNN: ReLU units with identity recurrent weights pass the gradient "
                                 "unchanged through time at init (Le, Jaitly & Hinton 2015)", config,
                                 _changes(config, {"model": "irnn", "rnn_activation": None, "recurrent_init": None,
                                                   "input_init": None}), *args))
    elif model == "lstm":
        if not (config or {}).get("chrono"):
            cand.append(_fix("lstm_chrono", f"the chrono init: forget-gate biases log U[1, {length - 1}] give time "
                             "constants up to the sequence length (Tallec & Ollivier 2018)", config,
                             _changes(config, {"chrono": True}), *args))
            if float((config or {}).get("forget_bias", 1.0)) < LONG_FORGET_BIAS:
                cand.append(_fix("forget_bias", f"a forget-gate bias of {LONG_FORGET_BIAS:g}: σ({LONG_FORGET_BIAS:g}) = "
                                 f"{1 / (1 + math.exp(-LONG_FORGET_BIAS)):.2f} keeps more of the cell state per step",
                                 config, _changes(config, {"forget_bias": LONG_FORGET_BIAS}), *args))
        cand.append(_fix("gru", "a GRU", config, _to_cell(config, "gru"), *args))
    elif model == "gru":
        cand.append(_fix("lstm_chrono", "an LSTM with the chrono init (Tallec & Ollivier 2018)", config,
                         _to_cell(config, "lstm", chrono=True), *args))
    out, seen = [], set()
    for f in cand:
        if f is not None and f.name not in seen:
            seen.add(f.name)
            out.append(f)
    return out


def exploding_time_fixes(config: Mapping[str, Any] | None, length: int, input_q: float | None = None,
                         in_features: int | None = None, measured_xi: float | None = None) -> list[Fix]:
    """Fixes for a gradient that grows going back through time, most promising first: clipping first
    (it bounds every step whatever the cause; Pascanu, Mikolov & Bengio 2013)."""
    c = config or {}
    args = (length, input_q, in_features, measured_xi)
    cand: list[Fix | None] = []
    if c.get("clip") is None:
        clip = Fix("clip", f"clip the gradient norm at {CLIP_NORM:g}: a step that would explode is scaled back "
                   "(Pascanu, Mikolov & Bengio 2013)" + (f" (clip={CLIP_NORM:g})" if config is not None else ""),
                   {"clip": CLIP_NORM} if config is not None else {})
        cand.append(clip)
    if c.get("model", "rnn") in _VANILLA:
        cand.append(_fix("orthogonal", "an orthogonal recurrent init: W keeps every direction's norm instead of "
                         "amplifying the largest", config, _changes(config, {"recurrent_init": "orthogonal"}), *args))
        cand.append(_fix("lstm", "an LSTM: bounded gates instead of an unbounded recurrent gain", config,
                         _to_cell(config, "lstm"), *args))
    if c.get("lr"):
        lr = float(c["lr"]) / 10
        cand.append(Fix("lower_lr", f"a learning rate 10× lower (lr={lr:g})", {"lr": lr}))
    return [f for f in cand if f is not None]
