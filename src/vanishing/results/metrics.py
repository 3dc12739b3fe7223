"""A trace as flat metrics, one ``{key: value}`` row per step — what TensorBoard, MLflow and W&B take.

Keys (``prefix`` = ``"vanishing"`` unless told otherwise):

====================================  ===============================================================
``<prefix>/<quantity>/<NN>_<layer>``  the quantity's finite value in layer ``NN`` (numbered from 1,
                                      input side first, zero-padded so keys sort in layer order)
``<prefix>/<scalar>``                 a logged scalar (loss, accuracy, ...), when finite
``<prefix>/nonfinite/<quantity>``     how many layers hold NaN or ±Inf for the quantity at that step
``<prefix>/nonfinite/any``            1 where any quantity or scalar of the step is non-finite, else 0
====================================  ===============================================================

NaN and ±Inf are never dropped in silence: a chart tool cannot draw them (W&B drops them, TensorBoard
draws nothing), so a non-finite value is left out of its layer's series and *counted* at its step, on
every step the quantity was recorded, zeros included — an explosion is a spike in a count, not a gap.

A NaN in a :class:`~vanishing.results.Trace` also means "not recorded" or "not applicable", so two
rules decide what a NaN is:

- a layer counts only for a quantity it has had a value of (NaN or not) at some step of the trace: a
  layer without a bias never counts for ``bias_grad_norm``;
- a row that is NaN in every layer counts only on a step the quantity was due: ``due(quantity, step)``
  when given (the live logger passes the probe's schedules), else a step where a quantity recorded on
  the same schedule (``meta["probe"]["quantities"]``, one schedule for all when absent) has a value —
  so a step whose every gradient is NaN is flagged as long as one quantity of its schedule is a number
  (``nonfinite_grads``, recorded by default, counts the NaN/Inf entries and is always a number).

A NaN scalar is "not logged" in a trace and so is not written; ±Inf scalars are counted.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Callable

import numpy as np

from .trace import Trace

__all__ = ["PREFIX", "MetricRow", "metric_key", "layer_keys", "span", "due_mask", "applicable", "metric_rows"]

PREFIX = "vanishing"

MetricRow = tuple[int, dict[str, float]]
"""``(step, {key: value})``: one step of a trace as metrics."""

Due = Callable[[str, int], bool]

# MLflow takes only alphanumerics, `_ - . / space` in a key, at most 250 of them; `/` separates parts here
_BAD = re.compile(r"[^0-9A-Za-z_\-. ]")
MAX_KEY = 250


def _part(text: str) -> str:
    """One part of a key: characters MLflow refuses (and `/`) become ``_``; never ``.``/``..`` or empty."""
    part = _BAD.sub("_", text)
    return "_" if part.strip(". ") == "" else part


def metric_key(prefix: str, *parts: str) -> str:
    """``prefix/part/part``, every part made valid for MLflow, TensorBoard and W&B alike.

    >>> metric_key("vanishing", "grad_norm", "03_encoder.fc<3>")
    'vanishing/grad_norm/03_encoder.fc_3_'
    """
    return "/".join([_part(p) for p in prefix.split("/")] + [_part(p) for p in parts])


def layer_keys(trace: Trace, quantity: str, prefix: str = PREFIX) -> list[str]:
    """The L keys of ``quantity``: ``prefix/quantity/NN_layer``, NN the layer's number from 1.

    >>> from vanishing.results import LayerInfo
    >>> t = Trace(np.arange(1), [LayerInfo(f"fc{i}", "Linear", (2, 2), 6) for i in (1, 2, 3)])
    >>> layer_keys(t, "grad_norm")
    ['vanishing/grad_norm/01_fc1', 'vanishing/grad_norm/02_fc2', 'vanishing/grad_norm/03_fc3']
    """
    return list(_layer_keys(tuple(trace.layer_names), quantity, prefix))


@lru_cache(maxsize=256)  # a live logger asks for the same keys on every read
def _layer_keys(names: tuple[str, ...], quantity: str, prefix: str) -> tuple[str, ...]:
    width = max(2, len(str(len(names))))
    room = MAX_KEY - len(metric_key(prefix, quantity, "0" * width + "_"))
    # a long name keeps its end, the part that tells layers apart (blocks.11.attn.proj)
    return tuple(metric_key(prefix, quantity, f"{i + 1:0{width}d}_{name[-room:]}" if name else f"{i + 1:0{width}d}")
                 for i, name in enumerate(names))


def applicable(values: np.ndarray) -> np.ndarray:
    """(L,) bool: the layers that have a value (finite or ±Inf) at some step of ``values`` (S, L)."""
    return ~np.isnan(values).all(axis=0) if len(values) else np.zeros(values.shape[1], bool)


def span(trace: Trace, start: int | None = None, stop: int | None = None) -> slice:
    """The positions in ``trace.steps`` of the steps ``start <= step < stop`` (None: unbounded)."""
    lo = 0 if start is None else int(np.searchsorted(trace.steps, start, "left"))
    hi = len(trace.steps) if stop is None else int(np.searchsorted(trace.steps, stop, "left"))
    return slice(lo, max(lo, hi))


def due_mask(trace: Trace, due: Due | None = None, where: slice = slice(None)) -> dict[str, np.ndarray]:
    """Quantity → bool over the steps ``trace.steps[where]``: recorded there, all-NaN rows included
    (see the module doc)."""
    has = {q: ~np.isnan(v[where]).all(axis=1) if v.shape[1] else np.zeros(len(v[where]), bool)
           for q, v in trace.data.items()}
    if due is not None:
        steps = trace.steps[where].tolist()
        return {q: has[q] | np.array([due(q, k) for k in steps], bool).reshape(-1) for q in trace.data}
    schedules = (trace.meta.get("probe") or {}).get("quantities") or {}
    groups: dict[str, np.ndarray] = {}
    for q in trace.data:  # a quantity the meta does not name shares the group of every other such one
        key = str(schedules.get(q, ""))
        groups[key] = groups[key] | has[q] if key in groups else has[q]
    return {q: has[q] | groups[str(schedules.get(q, ""))] for q in trace.data}


def metric_rows(trace: Trace, start: int | None = None, stop: int | None = None, prefix: str = PREFIX,
                due: Due | None = None) -> list[MetricRow]:
    """The steps ``start <= step < stop`` of ``trace`` as metric rows (see the module doc for the keys).

    Which layers count for a quantity is judged on the whole of ``trace``: rows made from a growing
    trace in pieces (the live logger) equal those made from it at once, up to a layer whose first value
    arrives after some of its NaN.

    >>> from vanishing.results import LayerInfo
    >>> t = Trace(np.array([0, 1]), [LayerInfo("a", "Linear", (1, 1), 1), LayerInfo("b", "Linear", (1, 1), 1)],
    ...           data={"grad_norm": [[1.0, 2.0], [np.inf, np.nan]]})
    >>> metric_rows(t)[1]
    (1, {'vanishing/nonfinite/grad_norm': 2.0, 'vanishing/nonfinite/any': 1.0})
    """
    where = span(trace, start, stop)
    if where.stop <= where.start:
        return []
    when = due_mask(trace, due, where)
    names = tuple(trace.layer_names)
    per_layer = []  # (keys, nonfinite key, values (S', L), finite (S', L), counted (S',), due (S',))
    for q, v in trace.data.items():
        part = v[where]
        finite = np.isfinite(part)
        counted = ((~finite) & applicable(v)).sum(axis=1)
        per_layer.append((_layer_keys(names, q, prefix), metric_key(prefix, "nonfinite", q), part.tolist(),
                          finite.tolist(), counted.tolist(), when[q].tolist()))
    scalars = [(metric_key(prefix, s), metric_key(prefix, "nonfinite", s), v[where].tolist())
               for s, v in trace.scalars.items()]
    flag = metric_key(prefix, "nonfinite", "any")
    rows: list[MetricRow] = []
    for i, step in enumerate(trace.steps[where].tolist()):
        row: dict[str, float] = {}
        bad = 0
        for keys, nf_key, values, finite, counted, is_due in per_layer:
            if not is_due[i]:
                continue
            row.update((k, x) for k, x, ok in zip(keys, values[i], finite[i]) if ok)
            row[nf_key] = float(counted[i])
            bad += counted[i]
        for key, nf_key, values in scalars:
            x = values[i]
            if x != x:  # NaN: not logged at this step
                continue
            inf = x in (np.inf, -np.inf)
            if not inf:
                row[key] = x
            row[nf_key] = float(inf)
            bad += inf
        if row:
            row[flag] = float(bad > 0)
            rows.append((step, row))
    return rows
