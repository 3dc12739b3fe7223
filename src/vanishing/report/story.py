"""The cause → effect → reason → fix story of a broken run beside its repaired twin, in numbers."""

from __future__ import annotations

import math

import numpy as np

from ..results import RunResult
from ..results.run_result import SIGNAL_ORDERS, WEIGHT_GRAD_ORDERS
from .terminal import fmt_pct

__all__ = ["story"]


def _step0(result: RunResult, name: str) -> np.ndarray | None:
    if name not in result.trace.data:
        return None
    steps, values = result.trace.recorded(name)
    return values[0] if len(steps) else None


def _median_over_time(result: RunResult, name: str, layer: int) -> float:
    if name not in result.trace.data:
        return float("nan")
    _, values = result.trace.recorded(name)
    col = values[:, layer]
    col = col[np.isfinite(col)]
    return float(np.median(col)) if col.size else float("nan")


def story(before: RunResult, after: RunResult) -> list[tuple[str, str]]:
    """Four (heading, text) paragraphs comparing a vanishing run with its fix, every number measured."""
    cb, ca = before.config, after.config
    sb, sa = before.summary, after.summary
    depth = cb['depth']
    gap_b, gap_a = sb["vanishing_orders"], sa["vanishing_orders"]  # weight-gradient orders, step 0
    sig_b, sig_a = sb["signal_vanishing_orders"], sa["signal_vanishing_orders"]  # signal orders, step 0
    per_layer_b = 10 ** (-sig_b / max(depth - 1, 1)) if math.isfinite(sig_b) else float("nan")
    per_layer_a = 10 ** (-sig_a / max(depth - 1, 1)) if math.isfinite(sig_a) else float("nan")

    cause = (f"Backpropagation passes the gradient from the loss back to the first layer, multiplying it at "
             f"every layer by the activation's derivative and by the layer's weights. Both networks have "
             f"{depth} weight layers of width {cb['width']}, the same data ({before.dataset.get('description', cb['dataset'])}), "
             f"optimizer ({cb['optimizer']}, lr {cb['lr']:g}), steps and seed; only the activation and the "
             f"initialisation differ: {cb['activation']} + {cb['init']} versus {ca['activation']} + {ca['init']}.")

    effect = (f"With {cb['activation']} + {cb['init']}, the first layer's weight gradient at initialisation is "
              f"{sb['first_layer_grad_norm']:.1e} against {sb['last_layer_grad_norm']:.1e} for the last layer: "
              f"{gap_b:.1f} orders of magnitude smaller ({WEIGHT_GRAD_ORDERS} at step 0: {gap_b:+.2f}; "
              f"{SIGNAL_ORDERS}, of the backward signal ‖∂L/∂z‖: {sig_b:+.2f}).")
    up_first, up_last = (_median_over_time(before, "update_ratio", 0),
                         _median_over_time(before, "update_ratio", -1))
    if math.isfinite(up_first) and math.isfinite(up_last) and up_first > 0:
        effect += (f" During training the first layer's weights changed by a median {up_first:.1e} of their size "
                   f"per step, the last layer's by {up_last:.1e}: the early layers barely learn.")
    base = sb.get("majority_baseline")
    effect += (f" After {sb['steps_done']} steps the loss is {sb['final_loss']:.3f} and test accuracy "
               f"{fmt_pct(sb['final_test_accuracy'])}")
    effect += f" — always guessing the commonest class scores {fmt_pct(base)}." if base is not None else "."

    reason = (f"Each layer passes back only about {per_layer_b:.2g} of the backward signal ‖∂L/∂z‖ it receives "
              f"(10^-{sig_b / max(depth - 1, 1):.2f}), and {depth - 1} layers compound that into "
              f"{sig_b:.1f} {SIGNAL_ORDERS} at step 0.")
    act_mean = _step0(before, "act_derivative_mean")
    if act_mean is not None and np.isfinite(act_mean).any():
        reason += (f" The {cb['activation']} derivative averages {np.nanmean(act_mean):.3f} over the hidden units")
        reason += " (it can never exceed 0.25)" if cb['activation'] == "sigmoid" else ""
        reason += "."
    att_a, att_w = _step0(before, "attribution_activation"), _step0(before, "attribution_weights")
    if att_a is not None and att_w is not None and np.isfinite(att_a).any():
        lost_act, lost_w = -np.nansum(att_a), -np.nansum(att_w)
        reason += (f" Measured exactly layer by layer, {lost_act:.1f} of these {SIGNAL_ORDERS} are lost to activation "
                   f"derivatives and {lost_w:.1f} to the weights ({cb['init']}).")

    acc_gain = (sa["final_test_accuracy"] or 0) - (sb["final_test_accuracy"] or 0)
    fix = (f"{ca['activation']} + {ca['init']}: the {ca['activation']} derivative is 1 on active units and the init "
           f"keeps the signal's scale, so each layer passes back about {per_layer_a:.2g} of ‖∂L/∂z‖; at step 0 the "
           f"{WEIGHT_GRAD_ORDERS} are {gap_a:+.1f} instead of {gap_b:+.1f} and the {SIGNAL_ORDERS} {sig_a:+.1f} "
           f"instead of {sig_b:+.1f}. Test accuracy "
           f"{fmt_pct(sa['final_test_accuracy'])} ({100 * acc_gain:+.1f} points), final loss {sa['final_loss']:.3f}. "
           f"Other fixes: leaky_relu or elu activations, batch or layer normalisation (--norm batch), residual "
           f"connections (--residual), or an init matched to the activation (xavier_normal for tanh).")
    return [("CAUSE", cause), ("EFFECT", effect), ("REASON", reason), ("FIX (verified by re-running)", fix)]
