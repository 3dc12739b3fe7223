"""Diagnosis through time: gradients that vanish or explode going back over the time steps of a sequence.

Two rules in the shape of :mod:`~vanishing.diagnose.rules` (``rule(trace, ctx) -> list[Finding]``), read
from ``trace.time["hidden_grad_norm"]`` (‖∂L/∂h_t‖, (S, T), time index 0 = the first input step):

* ``vanishing_through_time``: at the last recorded step the gradient of the last time step reaches the
  first at ≥ 2 orders of magnitude less (warning; ≥ 4 critical). 2 orders over the sequence means the
  first inputs get 1 % of the learning signal of the last ones: a dependency over the whole sequence is
  then learnt, if at all, far more slowly than a short one. The last recorded step is judged (what
  training has made of the net: an LSTM that learnt to keep its cell state is no longer vanishing);
  step 0 is reported beside it. A task solved in spite of it makes the finding ``info``.
* ``exploding_through_time``: the first time step gets ≥ 1.5 orders *more* gradient than the last at
  any recorded step (warning; ≥ 3 critical), or a time step's gradient is ±inf.

On a task with a loss at every step (copy) every h_t also gets gradient from its own output, so the ratio
of the last to the first step's gradient says nothing about how far a gradient travels: there only a ±inf
gradient is reported.

Numbers: ξ̂ (time steps per e-fold, Theil–Sen; :func:`vanishing.results.timeaxis.fit_decay`), the reach
(steps back before the gradient falls below 1e-6 of the last step's), the task's length, the loss as a
fraction of the task's baseline, the exact split of the orders into the activation's derivative and the
recurrent weights (``time_attr_*``) and, for a vanilla RNN, the mean-field ξ (:mod:`vanishing.theory.recurrent`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from ..results.timeaxis import DEFAULT_THRESHOLD, Decay, fit_decay
from .findings import Finding
from .time_fixes import exploding_time_fixes, vanishing_time_fixes

if TYPE_CHECKING:  # rules.py holds Context; the rule list there is composed with these in diagnose/__init__
    from ..results import Trace
    from .rules import Context, Rule

__all__ = ["TIME_THRESHOLDS", "HIDDEN", "CELL", "time_flow", "task_numbers", "vanishing_through_time",
           "exploding_through_time", "TIME_RULES", "with_time_rules"]

TIME_THRESHOLDS: dict[str, float] = {
    "vanishing_warning": 2.0, "vanishing_critical": 4.0,
    "exploding_warning": -1.5, "exploding_critical": -3.0,
    "reach_threshold": DEFAULT_THRESHOLD,
}

HIDDEN = "hidden_grad_norm"
CELL = "cell_grad_norm"
ATTR_RECURRENT, ATTR_ACTIVATION = "time_attr_recurrent", "time_attr_activation"


def _time(trace: Any) -> Mapping[str, np.ndarray]:
    return getattr(trace, "time", None) or {}


def _rows(trace: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    if name not in _time(trace):
        return np.zeros(0, np.int64), np.zeros((0, 0))
    return trace.recorded_time(name)


def _attribution(trace: Any, index: int) -> tuple[float, float]:
    """Orders lost through time to the activation's derivative (gates) and to the recurrent weights at
    the recorded step ``index`` (exact split: the two sum to the orders lost step by step)."""
    _, a = _rows(trace, ATTR_ACTIVATION)
    _, w = _rows(trace, ATTR_RECURRENT)
    if not len(a) or not len(w) or not np.isfinite(a[index]).any():
        return math.nan, math.nan
    return float(-np.nansum(a[index])), float(-np.nansum(w[index]))


def task_numbers(ctx: Any, trace: Any) -> dict[str, Any]:
    """The task's baseline, the final loss as a fraction of it, and whether it counts as solved, from
    ``ctx.cache["task"]`` (set by :func:`vanishing.diagnose.diagnose` from a run result) or ``trace.meta``."""
    known = dict(ctx.cache.get("task") or {}) if ctx is not None else {}
    meta = getattr(trace, "meta", {}) or {}
    for key in ("task", "baseline", "baseline_text", "score_vs_baseline", "solved", "input_q", "in_features"):
        if known.get(key) is None and meta.get(key) is not None:
            known[key] = meta[key]
    config = (ctx.config if ctx is not None else None) or meta.get("config") or {}
    if known.get("task") is None and config.get("task"):
        known["task"] = config["task"]
    if known.get("in_features") is None and config.get("in_features"):
        known["in_features"] = config["in_features"]
    if known.get("score_vs_baseline") is None and known.get("baseline"):
        loss = (getattr(trace, "scalars", {}) or {}).get("test_loss")
        if loss is not None and np.isfinite(loss).any():
            known["score_vs_baseline"] = float(loss[np.isfinite(loss)][-1]) / float(known["baseline"])
    return known


def _per_step_loss(ctx: Any, trace: Any) -> bool:
    """A task with a loss at every time step (copy): each h_t then gets gradient from its own output too, so
    ‖∂L/∂h_t‖ last / first does not measure how far a gradient travels; the two rules stay quiet on it."""
    task = task_numbers(ctx, trace).get("task")
    return isinstance(task, str) and task.split(":")[0] == "copy"


def time_flow(trace: Any, ctx: Any = None) -> dict[str, Any] | None:
    """The decay of ‖∂L/∂h_t‖ at the first and the last recorded step (``first``, ``last``: :class:`Decay`),
    their steps, the sequence length and, for an LSTM, the decay of ‖∂L/∂c_t‖; None without a time axis."""
    if ctx is not None and "time_flow" in ctx.cache:
        return ctx.cache["time_flow"]
    steps, g = _rows(trace, HIDDEN)
    out: dict[str, Any] | None = None
    if len(steps) and g.shape[1] >= 2:
        thr = TIME_THRESHOLDS["reach_threshold"]
        out = {"first": fit_decay(g[0], thr), "last": fit_decay(g[-1], thr), "first_step": int(steps[0]),
               "last_step": int(steps[-1]), "length": int(g.shape[1]), "norms_last": g[-1], "norms_first": g[0],
               "all": [fit_decay(row, thr) for row in g], "steps": steps}
        cs, c = _rows(trace, CELL)
        if len(cs) and c.shape[1] >= 2:
            out["cell_last"] = fit_decay(c[-1], thr)
    if ctx is not None:
        ctx.cache["time_flow"] = out
    return out


def _orders_text(v: float) -> str:
    return "all" if math.isinf(v) else f"{v:.1f}"


def _xi_text(d: Decay) -> str:
    if math.isnan(d.xi):
        return "ξ̂ n/a"
    return ("ξ̂ = ∞ (no decay)" if math.isinf(d.xi) else f"ξ̂ = {d.xi:.3g} steps per e-fold") + \
        (f" (Theil–Sen, r² {d.r2:.2f})" if math.isfinite(d.r2) else "")


def _score_text(task: Mapping[str, Any]) -> str:
    s = task.get("score_vs_baseline")
    if s is None or not math.isfinite(float(s)):
        return ""
    text = f"the test loss ends at {100 * float(s):.0f} % of the task's baseline"
    if task.get("baseline_text"):
        text += f" ({task['baseline_text']})"
    elif task.get("baseline") is not None:
        text += f" ({float(task['baseline']):.3g})"
    if task.get("solved") is True:
        text += ", solved"
    elif task.get("solved") is False:
        text += ", not solved"
    return text


def _theory(ctx: Any, task: Mapping[str, Any], length: int) -> tuple[str, dict[str, Any]]:
    config = ctx.config if ctx is not None else None
    q, n_in = task.get("input_q"), task.get("in_features")
    if not config or q is None or n_in is None:
        return "", {}
    from ..errors import VanishingError
    from ..theory.recurrent import predict_rnn_config

    try:
        p = predict_rnn_config(config, float(q), int(n_in), length=length)
    except (VanishingError, ValueError, TypeError):
        return "", {}
    text = (f" Mean-field theory for {p.activation} with recurrent σ_w² = {p.sigma_w2:.3g} and input variance "
            f"σ_u² q_x + σ_b² = {p.sigma_b2_effective:.3g} (Chen, Pennington & Schoenholz 2018) predicts "
            f"χ₁ = {p.chi1:.3g} per step, ξ = " + ("∞" if math.isinf(p.xi) else f"{p.xi:.3g}")
            + f" steps per e-fold at init ({p.phase} phase).")
    return text, {"theory_xi": p.xi, "theory_chi1": p.chi1, "theory_phase": p.phase,
                  "recurrent_sigma_w2": p.sigma_w2}


def vanishing_through_time(trace: Trace, ctx: Context) -> list[Finding]:
    """‖∂L/∂h_t‖ of the first time step ≥ 2 orders below the last step's at the last recorded step."""
    tf = time_flow(trace, ctx)
    if tf is None or _per_step_loss(ctx, trace):
        return []
    last: Decay = tf["last"]
    orders = last.orders_through_time
    if not (orders >= TIME_THRESHOLDS["vanishing_warning"]):
        return []
    task = task_numbers(ctx, trace)
    length = tf["length"]
    first: Decay = tf["first"]
    severity = "critical" if orders >= TIME_THRESHOLDS["vanishing_critical"] else "warning"
    if task.get("solved") is True:
        severity = "info"
    step, step0 = tf["last_step"], tf["first_step"]
    thr = TIME_THRESHOLDS["reach_threshold"]
    lost_act, lost_w = _attribution(trace, -1)
    nums: dict[str, Any] = {
        "orders_through_time": orders, "orders_through_time_step0": first.orders_through_time,
        "xi": last.xi, "xi_step0": first.xi, "reach": last.reach, "reach_threshold": thr, "length": length,
        "step": step, "step0": step0, "r2": last.r2, "orders_from_activation": lost_act,
        "orders_from_recurrent": lost_w, **{k: task.get(k) for k in ("task", "baseline", "score_vs_baseline", "solved")}}
    if math.isfinite(orders):
        effect = (f"At step {step} the gradient from the last time step ({length}) reaches time step 1 at "
                  f"10^-{orders:.1f} of its size (‖∂L/∂h_t‖); {_xi_text(last)}; it stays above {thr:g} of its "
                  f"size for {last.reach} steps back")
    else:
        effect = f"At step {step} no gradient from the last time step reaches time step 1 (‖∂L/∂h_t‖ exactly 0)"
    effect += f", and the task needs {length}."
    if step0 != step:
        effect += (f" At step {step0}: 10^-{_orders_text(first.orders_through_time)}, {_xi_text(first)}.")
    score = _score_text(task)
    if score:
        effect += f" {score[0].upper()}{score[1:]}."
    if "cell_last" in tf:
        c: Decay = tf["cell_last"]
        effect += f" The cell state's gradient ‖∂L/∂c_t‖ loses {_orders_text(c.orders_through_time)} orders ({_xi_text(c)})."
    per_step = orders / max(length - 1, 1)
    reason = (f"Each step back multiplies the gradient by the recurrent Jacobian W_hhᵀ·diag(φ′(z_t)): about "
              f"×{10 ** -per_step:.3g} per step here, compounded over {length - 1} steps "
              f"({length - 1} × {per_step:.3f} = {orders:.1f} orders)." if math.isfinite(orders) else
              "The earliest time steps' gradients are exactly zero.")
    if math.isfinite(lost_act):
        reason += (f" Of the {orders:.1f} orders lost through time at step {step}, the activation's derivative "
                   f"(tanh′ ≤ 1, smaller on saturated units) accounts for {lost_act:+.1f} and the recurrent "
                   f"weights' scale for {lost_w:+.1f} (exact split; negative: gained).")
    theory_text, theory_nums = _theory(ctx, task, length)
    reason += theory_text
    nums.update(theory_nums)
    reason += (f" The longer the sequence, the more such factors: the dependency the task needs spans "
               f"{length} steps, {length / last.xi:.1f} e-folds at ξ̂." if 0 < last.xi < math.inf else "")
    fixes = vanishing_time_fixes(ctx.config if ctx is not None else None, length, task.get("input_q"),
                                 task.get("in_features"), last.xi)
    return [Finding(
        "vanishing_through_time", severity, [], nums,
        cause="Backpropagation through time multiplies the gradient by the same recurrent Jacobian at every time "
              "step; a per-step factor below 1 compounds over the sequence, so the early inputs get almost no "
              "learning signal.",
        effect=effect, reason=reason,
        fix=fixes[0].text if fixes else "Use a gated cell (LSTM, GRU) or a recurrent init with a per-step gain of 1.",
        fixes=fixes)]


def exploding_through_time(trace: Trace, ctx: Context) -> list[Finding]:
    """‖∂L/∂h_t‖ of the first time step ≥ 1.5 orders above the last step's at some recorded step, or ±inf."""
    tf = time_flow(trace, ctx)
    if tf is None:
        return []
    orders = np.array([d.orders_through_time for d in tf["all"]], dtype=float)
    steps = tf["steps"]
    _, g = _rows(trace, HIDDEN)
    has_inf = np.isinf(g).any(axis=1)
    worst = int(np.nanargmin(np.where(np.isnan(orders), np.inf, orders))) if np.isfinite(orders).any() else None
    lo = float(orders[worst]) if worst is not None else math.nan
    if not (lo <= TIME_THRESHOLDS["exploding_warning"] or has_inf.any()):
        return []
    if _per_step_loss(ctx, trace) and not has_inf.any():
        return []
    task = task_numbers(ctx, trace)
    length = tf["length"]
    severity = "critical" if lo <= TIME_THRESHOLDS["exploding_critical"] or has_inf.any() else "warning"
    index = int(np.argmax(has_inf)) if has_inf.any() else worst
    step = int(steps[index])
    d = tf["all"][index]
    lost_act, lost_w = _attribution(trace, index)
    nums: dict[str, Any] = {"orders_through_time": lo, "step": step, "xi": d.xi, "length": length,
                            "infinite_at_step": int(steps[np.argmax(has_inf)]) if has_inf.any() else None,
                            "orders_from_activation": lost_act, "orders_from_recurrent": lost_w,
                            "clip": (ctx.config or {}).get("clip") if ctx is not None else None,
                            **{k: task.get(k) for k in ("task", "baseline", "score_vs_baseline", "solved")}}
    if has_inf.any():
        effect = f"At step {nums['infinite_at_step']} a time step's gradient ‖∂L/∂h_t‖ is ±inf."
    else:
        effect = (f"At step {step} time step 1 receives 10^{-lo:.1f} times the gradient of the last time step "
                  f"({length}); ‖∂L/∂h_t‖ grows going back, the early steps' updates dominate.")
    score = _score_text(task)
    if score:
        effect += f" {score[0].upper()}{score[1:]}."
    reason = (f"The per-step recurrent Jacobian has a gain above 1 (×{10 ** (-lo / max(length - 1, 1)):.3g} per "
              f"step over {length - 1} steps)." if math.isfinite(lo) else "")
    if math.isfinite(lost_w):
        reason += (f" The recurrent weights account for {-lost_w:+.1f} orders of growth, the activation's "
                   f"derivative for {-lost_act:+.1f} (exact split).")
    theory_text, theory_nums = _theory(ctx, task, length)
    reason += theory_text
    nums.update(theory_nums)
    clip = nums["clip"]
    if clip is not None:
        reason += f" Clipping at {clip:g} bounds each update but not this growth through time."
    fixes = exploding_time_fixes(ctx.config if ctx is not None else None, length, task.get("input_q"),
                                 task.get("in_features"), d.xi)
    return [Finding(
        "exploding_through_time", severity, [], nums,
        cause="The recurrent weights amplify the backward signal at every time step (spectral radius above 1 "
              "for the activation's slope), so the gradient grows exponentially with the distance in time.",
        effect=effect, reason=reason,
        fix=fixes[0].text if fixes else "Clip the gradient norm, or use an orthogonal recurrent init.",
        fixes=fixes)]


TIME_RULES: list[Rule] = [exploding_through_time, vanishing_through_time]


def with_time_rules(rules: list[Rule]) -> list[Rule]:
    """``rules`` with the time rules placed by rank: exploding through time after ``exploding_gradients``,
    vanishing through time after ``vanishing_gradients`` (at the end where those are absent)."""
    out = list(rules)
    for rule, after in ((exploding_through_time, "exploding_gradients"),
                        (vanishing_through_time, "vanishing_gradients")):
        names = [r.__name__ for r in out]
        out.insert(names.index(after) + 1 if after in names else len(out), rule)
    return out
