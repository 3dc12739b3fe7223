"""The diagnosis rules: small functions ``rule(trace, ctx) -> list[Finding]`` in the list :data:`RULES`.

Adding a rule = writing one function and appending it. The order of :data:`RULES` also ranks kinds of
equal severity for the verdict: a divergence explains everything after it; dead units explain the zero
gradients below them; vanishing gradients explain a stalled loss, not the other way round.

Orders of magnitude are the two measures named in :mod:`vanishing.results.run_result`: weight-gradient
orders (log10 ‖∂L/∂W‖ last / first layer) and signal orders (log10 ‖∂L/∂z‖ last / first layer); a
finding names the measure and the step of every number it prints.

Thresholds:

* vanishing: the largest of weight-gradient orders at the first and last recorded step and signal orders
  at the first ≥ 1.5 warning, ≥ 2.5 critical. A healthy ReLU + He or critical-tanh net of depth
  10–20 stays within ±0.7 orders at step 0 (measured in the labelled test set); 1.5 orders means the
  first layer gets ~3 % of the last layer's gradient.
* exploding: ≤ −1.5 orders, or a weight gradient norm ≥ 1e3 at step 0 (warning); ≤ −2.5 critical.
* saturation: a layer whose units are saturated (φ' < 10 % of max) ≥ 50 % of the time (median over steps).
* dead network: every weight gradient exactly 0 from some step to the end (critical); some layers exactly
  0 at the end (warning).
* dead units: a layer with ≥ 50 % dead units at the end (warning); ≥ 90 % in two layers or ≥ 50 % on
  average over the hidden layers (critical).
* slow early layers: median update/weight ratio of the first quarter of layers < 1e-4 per step (the rule
  of thumb is ~1e-3) and ≥ 1.5 orders below the last quarter's.
* stalled training: the loss's robust (median of a window) start-to-end relative drop < 2 %.
* poor performance: final accuracy within 10 % of the way from the majority baseline to 1.
* tied weights: where the first and last layers with a weight gradient hold the same weight tensor
  (``trace.meta["probe"]["shared_weights"]``: GPT-2's ``wte``/``lm_head``), the weight-gradient measures
  would compare that tensor's gradient with itself (0 orders by construction): they are left out (NaN),
  the rules use the signal norms, and an info finding says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from ..results import Trace
from ..results.run_result import SIGNAL_ORDERS, orders_lost
from . import fixes as F
from .findings import MEASURES, Finding, layers_text, measure_text, measures_text

__all__ = ["Context", "Rule", "RULES", "THRESHOLDS", "vanishing_gradients", "exploding_gradients",
           "divergence", "saturation", "dead_units", "dead_network", "zero_gradients", "slow_early_layers", "stalled_training",
           "poor_performance", "random_inputs", "tied_weights", "flow"]

THRESHOLDS: dict[str, float] = {
    "vanishing_warning": 1.5, "vanishing_critical": 2.5,
    "exploding_warning": -1.5, "exploding_critical": -2.5, "exploding_grad_norm": 1e3,
    "saturation": 0.5,
    "dead_warning": 0.5, "dead_critical_layer": 0.9, "dead_critical_mean": 0.5,
    "update_ratio_low": 1e-4, "update_ratio_gap_orders": 1.5,
    "stalled_rel_drop": 0.02, "stalled_loss_floor": 1e-3,
    "poor_performance_margin": 0.1,
}


@dataclass
class Context:
    """What the rules may know besides the trace: the run config (a dict with activation, init,
    bias_init, depth, width, in_features, out_features, ...) and the majority-class baseline."""

    config: Mapping[str, Any] | None = None
    majority_baseline: float | None = None
    diverged_step: int | None = None
    cache: dict[str, Any] = field(default_factory=dict)
    final: dict[str, Any] = field(default_factory=dict)
    """The run's own final numbers (``accuracy``, ``accuracy_which``, ``loss_last``) where known."""
    random_inputs: str | None = None
    """What the inputs were when no data was given (``trace.meta["random_inputs"]``); None: real data."""


Rule = Callable[[Trace, Context], "list[Finding]"]


# --- helpers -------------------------------------------------------------------------------
def _rows(trace: Trace, name: str) -> tuple[np.ndarray, np.ndarray]:
    if name in trace.data or name in trace.scalars:
        return trace.recorded(name)
    return np.zeros(0, np.int64), np.zeros((0, len(trace.layers)))


def _first_row(trace: Trace, name: str) -> np.ndarray | None:
    steps, values = _rows(trace, name)
    return values[0] if len(steps) else None


def _orders(row: np.ndarray | None) -> float:
    return math.nan if row is None else orders_lost(row)


def _tied_ends(trace: Trace, row: np.ndarray) -> list[str]:
    """The names of the first and last layers with a recorded norm in ``row`` where they hold one weight
    tensor (comparing them compares a weight gradient with itself); [] otherwise."""
    groups = (trace.meta.get("probe") or {}).get("shared_weights") or []
    idx = np.flatnonzero(~np.isnan(row))
    if idx.size < 2 or not groups:
        return []
    a, b = int(idx[0]), int(idx[-1])
    return [trace.layers[a].name, trace.layers[b].name] if any(a in g and b in g for g in groups) else []


def flow(trace: Trace, ctx: Context | None = None) -> dict[str, Any]:
    """The measures of orders lost, as the run summary names them: weight-gradient orders at the first
    and the last recorded step (``vanishing_orders``, ``vanishing_orders_final``), signal orders at the
    first (``signal_vanishing_orders``); the step of each (``<key>_step``); ``worst``: the key of the
    largest (> 0 vanishing). A weight-gradient measure whose end layers share one weight is NaN, and
    ``tied``: the names of those two layers."""
    if ctx is not None and "flow" in ctx.cache:
        return ctx.cache["flow"]
    out: dict[str, Any] = {"tied": []}
    for key, (_, _, which) in MEASURES.items():
        steps, values = _rows(trace, "signal_grad_norm" if key.startswith("signal") else "grad_norm")
        tied = [] if key.startswith("signal") or not len(steps) else _tied_ends(trace, values[which])
        out["tied"] = out["tied"] or tied
        out[key] = _orders(values[which]) if len(steps) and not tied else math.nan
        out[f"{key}_step"] = int(steps[which]) if len(steps) else None
    known = [k for k in MEASURES if not math.isnan(out[k])]
    out["worst"] = max(known, key=lambda k: out[k]) if known else None
    n = len(trace.layers)
    sig = out["signal_vanishing_orders"]
    out["measured_gain"] = 10 ** (-sig / (n - 1)) if n > 1 and math.isfinite(sig) else math.nan
    if ctx is not None:
        ctx.cache["flow"] = out
    return out


def _theory(ctx: Context) -> Any:
    if "theory" in ctx.cache:
        return ctx.cache["theory"]
    p = None
    c = ctx.config
    if c is not None and c.get("norm", "none") == "none" and not c.get("residual"):
        from .. import theory
        from ..errors import VanishingError

        try:
            p = theory.predict(c)
        except (VanishingError, ValueError, ZeroDivisionError, OverflowError):
            p = None
    ctx.cache["theory"] = p
    return p


def _theory_text(ctx: Context, measured_gain: float) -> tuple[str, dict[str, Any]]:
    p = _theory(ctx)
    if p is None or p.chi.size == 0:
        return "", {}
    with np.errstate(divide="ignore"):
        gain = float(10 ** np.mean(np.log10(p.gain)))
    c = ctx.config or {}
    text = (f" Mean-field theory for {c.get('activation')} + {c.get('init')} (σ_w² = {p.sigma_w2:.3g}, "
            f"σ_b² = {p.sigma_b2:.3g}) predicts a per-layer gain of {gain:.2f}"
            + (f" (measured {measured_gain:.2f})" if math.isfinite(measured_gain) else "")
            + f" and {p.orders_lost:.1f} {SIGNAL_ORDERS} lost; phase {p.phase}.")
    if p.critical_sigma_w2 is not None:
        text += (f" The critical init for {c.get('activation')} at σ_b² = {p.sigma_b2:.3g} has σ_w² = "
                 f"{p.critical_sigma_w2:.3g} (init critical:sigma_b2={p.sigma_b2:g}).")
    crit = F._critical_init(c)
    if crit is not None and "bias_init" in crit:
        from .. import theory

        sb2 = F.CRITICAL_SIGMA_B2
        text += (f" With bias noise σ_b² = {sb2:g} ({crit['bias_init']}) it is σ_w² = "
                 f"{theory.critical_sigma_w2(str(c.get('activation')), sb2):.3g} ({crit['init']}).")
    nums = {"theory_gain": gain, "theory_orders": p.orders_lost, "sigma_w2": p.sigma_w2,
            "critical_sigma_w2": p.critical_sigma_w2, "phase": p.phase}
    return text, nums


def _attribution(trace: Trace) -> tuple[float, float]:
    """Orders lost at step 0 to activation derivatives and to weights (layers 1..L-1, exact split)."""
    a, w = _first_row(trace, "attribution_activation"), _first_row(trace, "attribution_weights")
    if a is None or w is None or not np.isfinite(a[1:]).any():
        return math.nan, math.nan
    return float(-np.nansum(a[1:])), float(-np.nansum(w[1:]))


def _fmt_orders(x: float) -> str:
    return "all" if math.isinf(x) else f"{x:.1f}"


# --- rules ---------------------------------------------------------------------------------
def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def divergence(trace: Trace, ctx: Context) -> list[Finding]:
    """Non-finite loss or gradients, and the first step where they appeared."""
    bad_steps: list[int] = []
    layers: list[str] = []
    what: dict[str, int] = {}  # what became non-finite → its first step
    loss = trace.scalars.get("loss")
    if loss is not None:
        # NaN means "not logged" in a trace, so a NaN loss is known only from ctx.diverged_step
        inf_steps = [int(s) for s in trace.steps[np.isinf(loss)]]
        bad_steps += inf_steps
        if inf_steps:
            what["the loss"] = inf_steps[0]
    steps, nf = _rows(trace, "nonfinite_grads")
    for s, row in zip(steps, nf):
        if np.nansum(row) > 0:
            bad_steps.append(int(s))
            if not layers:
                layers = [trace.layers[i].name for i in np.flatnonzero(np.nan_to_num(row) > 0)]
                what[f"the gradients of {layers_text(layers, trace.layer_names)}"] = int(s)
    diverged_step = ctx.diverged_step if ctx.diverged_step is not None else trace.meta.get("diverged_step")
    if diverged_step is not None:
        bad_steps.append(int(diverged_step))
        what.setdefault("the loss", int(diverged_step))
    if not bad_steps:
        return []
    step = min(bad_steps)
    before = [v for s, v in zip(*_rows(trace, "loss")) if s < step and np.isfinite(v)]
    g0 = _first_row(trace, "grad_norm")
    nums = {"step": step, "last_finite_loss": before[-1] if before else None,
            "max_grad_norm_step0": float(np.nanmax(g0)) if g0 is not None and np.isfinite(g0).any() else None}
    lr = (ctx.config or {}).get("lr")
    return [Finding(
        "divergence", "critical", layers, nums,
        cause="The updates grew until numbers overflowed: a learning rate too large for the gradient scale, "
              "or gradients that explode through the layers.",
        effect=_sentence(" and ".join(f"{k} became NaN/Inf at step {v}"
                                      for k, v in sorted(what.items(), key=lambda kv: kv[1])))
               + "; training stopped learning there.",
        reason=(f"Last finite loss {before[-1]:.3g}. " if before else "")
               + (f"Step-0 largest weight-gradient norm {nums['max_grad_norm_step0']:.3g}"
                  if nums["max_grad_norm_step0"] is not None else "")
               + (f" with lr {lr:g}." if lr else "."),
        fix="Lower the learning rate, clip the gradient norm, or use an init/normalisation that keeps the "
            "gradient scale.",
        fixes=F.divergence_fixes(ctx.config))]


def _tied_text(fl: Mapping[str, Any]) -> str:
    if not fl["tied"]:
        return ""
    return (f" The weight-gradient measures are left out: {fl['tied'][0]} and {fl['tied'][1]} share one weight, "
            f"so they would compare a gradient with itself; the signal norms are used.")


def _starved(trace: Trace, fl: Mapping[str, Any], key: str) -> list[str]:
    """Layers whose norm (of the measure ``key``, at its step) is below 10 % of the last layer's."""
    steps, values = _rows(trace, "signal_grad_norm" if key.startswith("signal") else "grad_norm")
    if not len(steps):
        return []
    row = values[MEASURES[key][2]]
    if not (np.isfinite(row[-1]) and row[-1] > 0):
        return []
    return [trace.layers[i].name for i in range(len(row)) if np.isfinite(row[i]) and row[i] < 0.1 * row[-1]]


def vanishing_gradients(trace: Trace, ctx: Context) -> list[Finding]:
    """The largest measure of orders lost (weight-gradient orders at the first or last step, signal
    orders at the first) is ≥ the threshold; the finding prints that measure, named, with its step."""
    fl = flow(trace, ctx)
    key = fl["worst"]
    orders = fl[key] if key else math.nan
    if not (orders >= THRESHOLDS["vanishing_warning"]):
        return []
    severity = "critical" if orders >= THRESHOLDS["vanishing_critical"] else "warning"
    n = len(trace.layers)
    norm = MEASURES[key][1]
    step = fl[f"{key}_step"]
    per_layer = orders / max(n - 1, 1)
    lost_act, lost_w = _attribution(trace)
    nums = {**fl, "orders": orders, "measure": key, "step": step, "per_layer_orders": per_layer,
            "orders_from_activation": lost_act, "orders_from_weights": lost_w, "depth": n}
    if math.isfinite(orders):
        effect = (f"{measure_text(fl, key)}: the first layer's {norm} is 10^-{orders:.1f} of the last layer's.")
        reason = (f"Each of the {n - 1} layer-to-layer steps loses about {per_layer:.2f} orders "
                  f"(×{10 ** -per_layer:.2g} per layer); {n - 1} × {per_layer:.2f} = {orders:.2f}.")
    else:
        effect = f"{measure_text(fl, key)}: nothing reaches the first layer."
        reason = "The first layers' gradients are exactly zero."
    weight = [fl[k] for k in ("vanishing_orders", "vanishing_orders_final") if not math.isnan(fl[k])]
    if weight and all(v < THRESHOLDS["vanishing_warning"] for v in weight):
        # ‖∂L/∂W_l‖ ≈ ‖∂L/∂z_l‖·‖h_{l-1}‖: a forward signal that shrinks as fast hides the loss in ‖∂L/∂W‖
        effect += (f" The weight gradients do not show it ({measures_text(fl, key)}): each ‖∂L/∂W_l‖ is "
                   f"‖∂L/∂z_l‖ times the layer's input, and the inputs shrink from layer to layer as the "
                   f"backward signal does, so every layer's weight gradient is small, not only the first's.")
    else:
        effect += f" Other measures: {measures_text(fl, key)}." + (" The early layers hardly learn." if weight else "")
    if math.isfinite(lost_act):
        reason += (f" Of the {SIGNAL_ORDERS} at step {fl['signal_vanishing_orders_step']}, {lost_act:.1f} "
                   f"come from activation derivatives and {lost_w:.1f} from the weights (exact split).")
    effect += _tied_text(fl)
    theory_text, theory_nums = _theory_text(ctx, fl["measured_gain"])
    reason += theory_text
    nums.update(theory_nums)
    fixes = F.vanishing_fixes(ctx.config, fl["measured_gain"])
    return [Finding(
        "vanishing_gradients", severity, _starved(trace, fl, key), nums,
        cause="Backpropagation multiplies the gradient at every layer by the activation's derivative and the "
              "weights; a per-layer factor below 1 compounds over depth.",
        effect=effect, reason=reason,
        fix=fixes[0].text if fixes else "Use an activation/init pair that keeps the per-layer gain at 1.",
        fixes=fixes)]


def exploding_gradients(trace: Trace, ctx: Context) -> list[Finding]:
    """The first layers get orders of magnitude more gradient than the last at the first step (either
    measure), or a weight gradient norm is huge there."""
    fl = flow(trace, ctx)
    first = [k for k in ("vanishing_orders", "signal_vanishing_orders") if not math.isnan(fl[k])]
    key = min(first, key=lambda k: fl[k]) if first else None
    lo = fl[key] if key else math.nan
    g0 = _first_row(trace, "grad_norm")
    big = float(np.nanmax(g0)) if g0 is not None and np.isfinite(g0).any() else math.nan
    if not (lo <= THRESHOLDS["exploding_warning"] or big >= THRESHOLDS["exploding_grad_norm"]):
        return []
    severity = "critical" if lo <= THRESHOLDS["exploding_critical"] else "warning"
    n = len(trace.layers)
    nums = {**fl, "orders": lo, "measure": key, "step": fl[f"{key}_step"] if key else None,
            "max_grad_norm_step0": big, "depth": n}
    lost_act, lost_w = _attribution(trace)
    reason = (f"The gradient grows by about {-lo / max(n - 1, 1):.2f} orders per layer over {n - 1} layers."
              if math.isfinite(lo) else "")
    if math.isfinite(big):
        reason += f" Largest weight-gradient norm at step 0: {big:.3g}."
    if math.isfinite(lost_w):
        reason += (f" The weights account for {-lost_w:+.1f} orders of growth, activation derivatives for "
                   f"{-lost_act:+.1f}.")
    theory_text, theory_nums = _theory_text(ctx, fl["measured_gain"])
    nums.update(theory_nums)
    fixes = F.exploding_fixes(ctx.config, fl["measured_gain"])
    effect = (f"{measure_text(fl, key)}: the first layer's {MEASURES[key][1]} is 10^{-lo:.1f} times the last "
              f"layer's; steps are far too large for the early layers." if key and math.isfinite(lo) else
              f"A weight-gradient norm of {big:.3g} at step 0; steps are far too large.")
    effect += _tied_text(fl)
    return [Finding(
        "exploding_gradients", severity, [trace.layers[0].name] if n else [], nums,
        cause="The per-layer gain of the backward pass is above 1 (weights too large for the activation), "
              "so the gradient grows towards the input.",
        effect=effect, reason=reason + theory_text,
        fix=fixes[0].text if fixes else "Scale the init down, normalise, or clip gradients.",
        fixes=fixes)]


def _per_layer_median(trace: Trace, name: str) -> np.ndarray | None:
    steps, values = _rows(trace, name)
    if not len(steps) or not np.isfinite(values).any():
        return None
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmedian(values, axis=0)


def saturation(trace: Trace, ctx: Context) -> list[Finding]:
    """Layers of saturating units (sigmoid/tanh) with φ' < 10 % of its max most of the time."""
    med = _per_layer_median(trace, "saturation")
    if med is None:
        return []
    bad = [i for i, v in enumerate(med) if np.isfinite(v) and v >= THRESHOLDS["saturation"]]
    if not bad:
        return []
    names = [trace.layers[i].name for i in bad]
    d = _per_layer_median(trace, "act_derivative_mean")
    nums = {"saturation": {trace.layers[i].name: float(med[i]) for i in bad},
            "mean_saturation": float(np.nanmean(med))}
    reason = ", ".join(f"layer {i + 1} {100 * med[i]:.0f} %" for i in bad) + " of units saturated (median over steps)."
    if d is not None and np.isfinite(d).any():
        reason += f" Mean φ' over the hidden layers: {np.nanmean(d):.3f}."
    fixes = F.saturation_fixes(ctx.config)
    return [Finding(
        "saturation", "warning", names, nums,
        cause="Pre-activations are large, so sigmoid/tanh units sit on their flat tails.",
        effect="A saturated unit passes almost no gradient (φ' ≈ 0): the layers below it learn slowly.",
        reason=reason, fix=fixes[0].text if fixes else "Scale the init down or normalise.", fixes=fixes)]


def dead_units(trace: Trace, ctx: Context) -> list[Finding]:
    """ReLU-like units inactive on the whole batch, per layer, at the last recorded step."""
    steps, values = _rows(trace, "dead_fraction")
    if not len(steps):
        return []
    final = values[-1]
    hidden = final[np.isfinite(final)]
    if not hidden.size:
        return []
    bad = [i for i, v in enumerate(final) if np.isfinite(v) and v >= THRESHOLDS["dead_warning"]]
    if not bad:
        return []
    mean = float(hidden.mean())
    # one fully dead layer at the far end of a deep net is how a vanishing forward signal looks too
    # (Xavier on deep ReLU): critical needs two such layers, or half of all hidden units dead
    n_gone = int(np.sum(hidden >= THRESHOLDS["dead_critical_layer"]))
    critical = mean >= THRESHOLDS["dead_critical_mean"] or n_gone >= 2
    first = values[0]
    nums = {"dead_fraction": {trace.layers[i].name: float(final[i]) for i in bad}, "mean_dead_fraction": mean,
            "mean_dead_fraction_step0": float(np.nanmean(first)) if np.isfinite(first).any() else None,
            "step": int(steps[-1])}
    lr = (ctx.config or {}).get("lr")
    bias = (ctx.config or {}).get("bias_init")
    reason = (", ".join(f"layer {i + 1} {100 * final[i]:.0f} %" for i in bad)
              + f" of units never active on the batch at step {int(steps[-1])} (mean over layers {100 * mean:.0f} %,"
              f" at step 0 {100 * (nums['mean_dead_fraction_step0'] or 0):.0f} %).")
    if bias:
        reason += f" Bias init {bias}."
    if lr:
        reason += f" Learning rate {lr:g}."
    fixes = F.dead_unit_fixes(ctx.config)
    return [Finding(
        "dead_units", "critical" if critical else "warning", [trace.layers[i].name for i in bad], nums,
        cause="ReLU units whose pre-activation is negative for every input (pushed there by a large update "
              "or a negative bias) output 0 and pass no gradient.",
        effect="Dead units neither learn nor let gradient through to the layers below.",
        reason=reason, fix=fixes[0].text if fixes else "Lower the learning rate or use leaky_relu.", fixes=fixes)]


def _dead_from(trace: Trace) -> tuple[np.ndarray, np.ndarray, int]:
    """(steps, weight-gradient norms, index of the first recorded step from which every later one is all 0)."""
    steps, g = _rows(trace, "grad_norm")
    recorded = ~np.isnan(g)
    dead_rows = ((g == 0) | ~recorded).all(axis=1) & recorded.any(axis=1)
    k = len(steps)
    while k > 0 and dead_rows[k - 1]:
        k -= 1
    return steps, g, k


def dead_network(trace: Trace, ctx: Context) -> list[Finding]:
    """Every weight gradient exactly 0 from some recorded step to the end."""
    steps, g, k = _dead_from(trace)
    if k == len(steps):
        return []
    start = int(steps[k])
    n_zero = int(sum(((g == 0) | np.isnan(g)).all(axis=1) & ~np.isnan(g).all(axis=1)))
    nums = {"step": start, "last_step": int(steps[-1]), "zero_steps": n_zero, "recorded_steps": len(steps)}
    when = (f"at every recorded step ({start} to {nums['last_step']})" if k == 0 else
            f"from step {start}" + (f" to the last recorded step {nums['last_step']}" if nums["last_step"] != start
                                    else ", the last recorded step")
            + (f", and at {n_zero - (len(steps) - k)} earlier recorded steps" if n_zero > len(steps) - k else ""))
    reason = ("A layer passes no gradient when its units are all off (ReLU below 0), its weights are 0, "
              "or its output does not reach the loss.")
    _, dead = _rows(trace, "dead_fraction")
    if len(dead) and np.isfinite(dead[k]).any():
        nums["mean_dead_fraction"] = float(np.nanmean(dead[k]))
        reason += (f" At step {start} {100 * nums['mean_dead_fraction']:.0f} % of the hidden units are off "
                   f"for the whole batch (mean over layers).")
    fixes = F.dead_unit_fixes(ctx.config)
    return [Finding(
        "dead_network", "critical", list(trace.layer_names), nums,
        cause="No gradient reaches any weight, so the optimizer has nothing to follow.",
        effect=f"Every weight gradient ‖∂L/∂W‖ is exactly 0 {when}: the network is dead; no layer learns.",
        reason=reason, fix=fixes[0].text if fixes else "Re-initialise the network.", fixes=fixes)]


def zero_gradients(trace: Trace, ctx: Context) -> list[Finding]:
    """Some layers (not all: that is :func:`dead_network`) get a weight gradient of exactly 0 at the end."""
    steps, g, k = _dead_from(trace)
    if k < len(steps) or not len(steps):
        return []
    last = g[-1]
    zero_layers = [i for i in range(len(last)) if last[i] == 0]
    if not zero_layers:
        return []
    names = [trace.layers[i].name for i in zero_layers]
    nums = {"step": int(steps[-1]), "zero_layers": names}
    fixes = F.dead_unit_fixes(ctx.config)
    return [Finding(
        "zero_gradients", "warning", names, nums,
        cause="A layer passes no gradient when its units are all off, its weights are 0, or its output "
              "does not reach the loss.",
        effect=f"{len(names)} of {len(last)} layers get a weight gradient ‖∂L/∂W‖ of exactly 0 at step "
               f"{int(steps[-1])}; they do not learn.",
        reason="Exactly 0, not small: no rescaling of the gradient brings these layers back.",
        fix=fixes[0].text if fixes else "Re-initialise these layers.", fixes=fixes)]


def tied_weights(trace: Trace, ctx: Context) -> list[Finding]:
    """The first and last layers share one weight (tied embeddings): say that the weight-gradient
    measures are left out and the signal norms are used."""
    fl = flow(trace, ctx)
    if not fl["tied"]:
        return []
    first, last = fl["tied"]
    sig = fl["signal_vanishing_orders"]
    return [Finding(
        "tied_weights", "info", [first, last], {"layers": [first, last], "signal_vanishing_orders": sig},
        cause=f"The first and last layers, {first} and {last}, hold the same weight tensor (tied weights).",
        effect="Their weight gradient is one tensor, so a first-vs-last comparison of weight gradients reads "
               "0 orders by construction; the weight-gradient measures are left out.",
        reason="The vanishing and exploding rules use the backpropagated signal ‖∂L/∂z‖ instead: "
               + measure_text(fl, "signal_vanishing_orders") + ".",
        fix="Nothing to fix: this is how the measures are read for a model with tied weights.")]


def random_inputs(trace: Trace, ctx: Context) -> list[Finding]:
    """No data was given: say what the inputs were and what that means for the other findings."""
    if not ctx.random_inputs:
        return []
    return [Finding(
        "random_inputs", "info", [], {"inputs": ctx.random_inputs},
        cause=f"No batch was given, so the model was trained on {ctx.random_inputs}.",
        effect="The loss and the accuracy measure how well the model fits noise, not your task: the loss "
               "and accuracy findings (stalled training, poor performance) are skipped.",
        reason="The gradient-flow findings still hold: they are about how the network passes gradients, "
               "which depends on its layers and their scale more than on the data.",
        fix="Return (model, (inputs, targets)) or (model, data_loader) from the factory to diagnose on "
            "your data.")]


def slow_early_layers(trace: Trace, ctx: Context) -> list[Finding]:
    """Update-to-weight ratios of the first layers far below the last layers' and below ~1e-3."""
    med = _per_layer_median(trace, "update_ratio")
    if med is None or len(med) < 2:
        return []
    q = max(1, len(med) // 4)
    early, late = np.nanmean(med[:q]), np.nanmean(med[-q:])
    if not (np.isfinite(early) and np.isfinite(late)) or late <= 0:
        return []
    gap = orders_lost([early, late])
    if not (early < THRESHOLDS["update_ratio_low"] and gap >= THRESHOLDS["update_ratio_gap_orders"]):
        return []
    names = [trace.layers[i].name for i in range(q)]
    nums = {"early_update_ratio": float(early), "late_update_ratio": float(late), "gap_orders": gap,
            "per_layer": [float(v) for v in med]}
    fixes = F.slow_fixes(ctx.config, flow(trace, ctx)["measured_gain"])
    return [Finding(
        "slow_early_layers", "warning", names, nums,
        cause="The early layers receive too little gradient for the optimizer to move their weights.",
        effect=f"Per step the first {q} layer(s) change by a median {early:.1e} of their size, the last by "
               f"{late:.1e}: update ratios {_fmt_orders(gap)} orders apart (medians over the recorded steps; "
               f"rule of thumb ~1e-3).",
        reason="Small gradients times a shared learning rate give small updates: SGD's step is "
               "proportional to the gradient.",
        fix=fixes[0].text if fixes else "Fix the gradient flow, or use Adam.", fixes=fixes)]


def _window_median(v: np.ndarray, head: bool) -> float:
    k = max(1, min(3, len(v) // 5 or 1))
    return float(np.median(v[:k] if head else v[-k:]))


def stalled_training(trace: Trace, ctx: Context) -> list[Finding]:
    """Loss plateau: the median of the last few logged losses hardly below that of the first few."""
    if "loss" not in trace.scalars or ctx.random_inputs:
        return []
    steps, loss = _rows(trace, "loss")
    ok = np.isfinite(loss)
    steps, loss = steps[ok], loss[ok]
    if len(loss) < 5:
        return []
    start, end = _window_median(loss, True), _window_median(loss, False)
    if end < THRESHOLDS["stalled_loss_floor"] or start <= 0:
        return []
    drop = (start - end) / abs(start)
    if drop >= THRESHOLDS["stalled_rel_drop"]:
        return []
    nums = {"loss_start": start, "loss_end": end, "relative_drop": drop, "steps": int(steps[-1])}
    fixes = F.slow_fixes(ctx.config, flow(trace, ctx)["measured_gain"])
    return [Finding(
        "stalled_training", "warning", [], nums,
        cause="The parameters that matter are not moving, or move in directions that do not lower the loss.",
        effect=f"The loss went from {start:.4g} to {end:.4g} over {int(steps[-1])} steps ({100 * drop:.1f} % lower).",
        reason="A plateau from the start usually means the gradient does not reach the early layers "
               "(see other findings) or the learning rate is far off.",
        fix=fixes[0].text if fixes else "Check the gradient flow and the learning rate.", fixes=fixes)]


def poor_performance(trace: Trace, ctx: Context) -> list[Finding]:
    """Final accuracy close to the majority-class baseline."""
    if ctx.random_inputs:
        return []
    base = ctx.majority_baseline
    if base is None:
        base = trace.meta.get("majority_baseline")
    if base is None:
        return []
    acc, which = math.nan, ""
    if ctx.final.get("accuracy") is not None:
        acc, which = float(ctx.final["accuracy"]), str(ctx.final["accuracy_which"])
    for name in () if which else ("test_accuracy", "train_accuracy"):
        if name in trace.scalars:
            v = trace.scalars[name]
            v = v[np.isfinite(v)]
            if v.size:
                acc, which = float(v[-1]), name
                break
    if math.isnan(acc):
        return []
    limit = base + THRESHOLDS["poor_performance_margin"] * (1 - base)
    if acc > limit:
        return []
    nums = {"accuracy": acc, "which": which, "majority_baseline": base}
    fixes = F.slow_fixes(ctx.config, flow(trace, ctx)["measured_gain"])
    return [Finding(
        "poor_performance", "warning", [], nums,
        cause="The network has not learnt the task.",
        effect=f"Final {which.replace('_', ' ')} {100 * acc:.1f} % against {100 * base:.1f} % for always "
               f"guessing the commonest class.",
        reason="Accuracy at the majority baseline means the output ignores the input.",
        fix=fixes[0].text if fixes else "See the other findings.", fixes=fixes)]


RULES: list[Rule] = [
    divergence,
    exploding_gradients,
    dead_units,
    dead_network,
    vanishing_gradients,
    zero_gradients,
    saturation,
    slow_early_layers,
    stalled_training,
    poor_performance,
    random_inputs,
    tied_weights,
]
