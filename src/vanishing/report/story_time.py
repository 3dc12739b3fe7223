"""The cause → effect → reason → fix story through time: a vanilla RNN beside a gated cell on one task,
every number measured (and, for the vanilla RNN, the mean-field ξ beside the measured ξ̂)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..results import RunResult
from ..results.timeaxis import Decay, fit_decay

__all__ = ["story_through_time", "decays", "cell_name"]


def cell_name(config: dict[str, Any]) -> str:
    """``tanh RNN``, ``IRNN``, ``LSTM (chrono)``, ``GRU``."""
    model = str(config.get("model"))
    if model == "rnn":
        return f"{config.get('rnn_activation') or 'tanh'} RNN"
    if model == "lstm" and config.get("chrono"):
        return "LSTM (chrono)"
    return model.upper()


def decays(result: RunResult) -> tuple[Decay, Decay, int, int]:
    """The decay of ‖∂L/∂h_t‖ at the first and the last recorded step, and those steps."""
    steps, g = result.trace.recorded_time("hidden_grad_norm")
    return fit_decay(g[0]), fit_decay(g[-1]), int(steps[0]), int(steps[-1])


def _xi(v: float) -> str:
    return "∞" if math.isinf(v) else "n/a" if math.isnan(v) else f"{v:.3g}"


def _pct(v: Any) -> str:
    return "n/a" if v is None or not math.isfinite(float(v)) else f"{100 * float(v):.0f} %"


def _theory(result: RunResult) -> Any:
    from ..errors import VanishingError
    from ..theory.recurrent import predict_rnn_config

    ds = result.dataset
    try:
        return predict_rnn_config(result.config, float(ds["input_q"]), int(ds["in_features"]))
    except (VanishingError, KeyError, TypeError, ValueError):
        return None


def story_through_time(before: RunResult, after: RunResult) -> list[tuple[str, str]]:
    """Four (heading, text) paragraphs comparing a run whose gradient vanishes through time with its fix."""
    cb, ca = before.config, after.config
    sb, sa = before.summary, after.summary
    nb, na = cell_name(cb), cell_name(ca)
    b0, b1, s0, s1 = decays(before)
    a0, a1, _, _ = decays(after)
    length = b0.length
    task = before.dataset.get("description", cb.get("task"))

    cause = (f"Backpropagation through time passes the gradient from the loss at the last time step back to the "
             f"first input, multiplying it at every step by the recurrent Jacobian: the recurrent weights times the "
             f"activation's (or the gates') derivative. Both nets have {cb['hidden']} hidden units and see the same "
             f"task ({task}), optimizer ({cb['optimizer']}, lr {cb['lr']:g}), steps and seed; only the cell differs: "
             f"{nb} versus {na}.")

    effect = (f"In the {nb}, the gradient from the last of the {length} time steps reaches the first at "
              f"10^{-b0.orders_through_time:.1f} of its size at step {s0} (‖∂L/∂h_t‖; ξ̂ = {_xi(b0.xi)} steps per "
              f"e-fold) and 10^{-b1.orders_through_time:.1f} at step {s1}: the first input, which holds the first "
              f"marked number, gets almost no learning signal. The task needs all {length} steps. After "
              f"{sb['steps_done']} steps its test loss is {_pct(sb.get('score_vs_baseline'))} of the baseline "
              f"({before.dataset.get('baseline_text', 'the memoryless answer')}).")

    per_step = b0.orders_through_time / max(length - 1, 1)
    reason = (f"Each step back keeps about ×{10 ** -per_step:.2g} of the gradient (10^-{per_step:.3f}); {length - 1} "
              f"steps compound that into {b0.orders_through_time:.1f} orders at step {s0}.")
    p = _theory(before)
    if p is not None:
        reason += (f" Mean-field theory (Chen, Pennington & Schoenholz 2018) predicts it from the init alone: "
                   f"recurrent σ_w² = {p.sigma_w2:.3g} and input variance {p.sigma_b2_effective:.3g} give "
                   f"χ₁ = {p.chi1:.3g} per step, ξ = {_xi(p.xi)} steps per e-fold (measured ξ̂ = {_xi(b0.xi)}).")
    if "time_attr_activation" in before.trace.time and "time_attr_recurrent" in before.trace.time:
        _, act = before.trace.recorded_time("time_attr_activation")
        _, rec = before.trace.recorded_time("time_attr_recurrent")
        if len(act) and np.isfinite(act[0]).any():
            reason += (f" Split exactly step by step at step {s0}: {-np.nansum(act[0]):+.1f} orders from the "
                       f"{cb.get('rnn_activation') or 'tanh'} derivative, {-np.nansum(rec[0]):+.1f} from the "
                       f"recurrent weights.")

    fix = (f"{na}: {'its cell state is carried forward multiplied only by the forget gate, ' if ca['model'] == 'lstm' else 'its gates interpolate between the old and new state, '}"
           f"so the gradient has a path back through time without a weight matrix and a squashing derivative "
           f"at every step. It reaches the first time step at 10^{-a0.orders_through_time:.1f} at step {s0} "
           f"(ξ̂ = {_xi(a0.xi)} steps) and 10^{-a1.orders_through_time:.1f} at step {s1} (ξ̂ = {_xi(a1.xi)}); its "
           f"test loss ends at {_pct(sa.get('score_vs_baseline'))} of the baseline"
           + (" — solved" if sa.get("solved") else "") + ". Other fixes: a GRU, the chrono init for long "
           "dependencies (--chrono), an orthogonal or identity recurrent init (--recurrent-init orthogonal, "
           "--model irnn), clipping against explosion (--clip 1).")
    return [("CAUSE", cause), ("EFFECT", effect), ("REASON", reason), ("FIX (verified by re-running)", fix)]
