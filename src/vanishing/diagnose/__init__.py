"""Diagnosis of a recorded run: cause → effect → reason → fix, with numbers.

Example:
    >>> result = vanishing.run(RunConfig.make(depth=12, activation="sigmoid"))   # doctest: +SKIP
    >>> d = diagnose(result)                                                     # doctest: +SKIP
    >>> d.verdict, d.findings[0].fix                                             # doctest: +SKIP

Inside any training loop: ``diagnose(probe.trace)``.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from ..results import Trace
from .findings import HEALTHY, SEVERITIES, Diagnosis, Finding, Fix
from .rules import MEASURES, THRESHOLDS, Context, Rule, flow
from .rules import RULES as _LAYER_RULES
from .time_rules import TIME_THRESHOLDS, task_numbers, time_flow, with_time_rules

RULES: list[Rule] = with_time_rules(_LAYER_RULES)
"""The layer rules of :mod:`.rules` and the time rules of :mod:`.time_rules`, in rank order."""

__all__ = ["diagnose", "Diagnosis", "Finding", "Fix", "Context", "Rule", "RULES", "THRESHOLDS", "TIME_THRESHOLDS", "HEALTHY",
           "SEVERITIES"]


def _config_dict(config: Any, trace: Trace) -> dict[str, Any] | None:
    meta = trace.meta.get("config") if isinstance(trace.meta.get("config"), Mapping) else None
    if config is None:
        return dict(meta) if meta else None
    c = dict(config) if isinstance(config, Mapping) else dict(config.model_dump())
    for k in ("in_features", "out_features"):
        if k not in c and meta and k in meta:
            c[k] = meta[k]
    return c


def _last_finite(trace: Trace, name: str) -> float | None:
    v = trace.scalars.get(name)
    if v is None:
        return None
    v = v[np.isfinite(v)]
    return float(v[-1]) if v.size else None


def _task_of(result: Any) -> dict[str, Any]:
    """A sequence task's baseline, score and solved flag, and the input statistics theory needs, from a
    run result (outcome, summary, data set: wherever the run put them)."""
    summary = getattr(result, "summary", None) or {}
    dataset = getattr(result, "dataset", None) or {}
    outcome = getattr(result, "outcome", None)
    out: dict[str, Any] = {}
    for key in ("task", "baseline", "baseline_text", "score_vs_baseline", "solved", "input_q", "in_features"):
        for source in (summary, dataset):
            if source.get(key) is not None:
                out[key] = source[key]
                break
        else:
            if getattr(outcome, key, None) is not None:
                out[key] = getattr(outcome, key)
    return out


def diagnose(trace: Any, config: Any = None, majority_baseline: float | None = None,
             rules: list[Rule] | None = None) -> Diagnosis:
    """Run every rule on a :class:`Trace` (or a ``RunResult``) and collect the findings.

    Args:
        trace: ``probe.trace`` of any model, or the result of :func:`vanishing.run`.
        config: the run config (``RunConfig`` or mapping); defaults to ``trace.meta["config"]``. With it,
            findings compare the measured gain with mean-field theory and fixes are config changes.
        majority_baseline: accuracy of always guessing the commonest class (defaults to the run's data set
            or ``trace.meta["majority_baseline"]``).
    """
    diverged_step = None
    final: dict[str, Any] = {}
    task: dict[str, Any] = {}
    if not isinstance(trace, Trace) and hasattr(trace, "trace"):  # a RunResult
        result = trace
        trace = result.trace
        if majority_baseline is None:
            majority_baseline = (getattr(result, "dataset", None) or {}).get("majority_baseline")
        outcome = getattr(result, "outcome", None)
        diverged_step = getattr(outcome, "diverged_step", None)
        # the run summary's final numbers (measured after the last step), so both say the same
        final = {"loss_last": getattr(outcome, "final_loss", None),
                 "accuracy": getattr(outcome, "final_test_accuracy", None),
                 "accuracy_which": "test_accuracy"}
        if final["accuracy"] is None:
            final.update(accuracy=getattr(outcome, "final_train_accuracy", None), accuracy_which="train_accuracy")
        task = _task_of(result)
    ctx = Context(_config_dict(config, trace), majority_baseline, diverged_step,
                  final={k: v for k, v in final.items() if v is not None and final.get("accuracy") is not None},
                  random_inputs=trace.meta.get("random_inputs"))
    ctx.cache["task"] = task
    active = RULES if rules is None else rules
    findings: list[Finding] = []
    for rule in active:
        findings.extend(rule(trace, ctx))
    fl = flow(trace, ctx)
    ur = trace.data.get("update_ratio")
    ur_med = float(np.nanmedian(ur)) if ur is not None and np.isfinite(ur).any() else None
    steps, loss = trace.recorded("loss") if "loss" in trace.scalars else ([], np.zeros(0))
    loss = np.asarray(loss)[np.isfinite(loss)] if len(loss) else np.zeros(0)
    which = "test_accuracy"
    acc = _last_finite(trace, which)
    if acc is None:
        which = "train_accuracy"
        acc = _last_finite(trace, which)
    base = majority_baseline if majority_baseline is not None else trace.meta.get("majority_baseline")
    numbers = {**{k: fl[k] for k in MEASURES}, **{f"{k}_step": fl[f"{k}_step"] for k in MEASURES},
               "measured_gain": fl["measured_gain"],
               "loss_first": float(loss[0]) if loss.size else None,
               "loss_last": float(loss[-1]) if loss.size else None,
               "accuracy": acc, "accuracy_which": which if acc is not None else None,
               "majority_baseline": base, "update_ratio_median": ur_med,
               "diverged_step": diverged_step, "random_inputs": ctx.random_inputs}
    numbers.update({k: v for k, v in final.items() if v is not None})
    tf = time_flow(trace, ctx)
    if tf is not None:  # a sequence model: the decay through time at the last recorded step, and the task's score
        numbers.update(time_orders=tf["last"].orders_through_time, time_xi=tf["last"].xi, time_step=tf["last_step"],
                       time_length=tf["length"])
        known = task_numbers(ctx, trace)
        numbers.update({k: known.get(k) for k in ("score_vs_baseline", "solved") if known.get(k) is not None})
    numbers = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in numbers.items()}
    return Diagnosis(findings, trace.layer_names, numbers, [r.__name__ for r in active])
