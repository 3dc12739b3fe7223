"""The probe's storage: what one step's hooks write (:class:`StepBuffer`), rows pending on the
device, one host transfer per flush, and the :class:`Trace` built from them (:func:`build_trace`,
which the batched executor uses too)."""

from __future__ import annotations

import math
from functools import partial
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from ..errors import VanishingError
from .quantities import Quantity, act_derivative
from .trace import LayerInfo, Trace

__all__ = ["StepBuffer", "Recorder", "build_trace", "derived", "to_host"]


class StepBuffer:
    """The readings of the ``signal``, ``input`` and ``activation`` quantities due in one step,
    pooled per layer (``Quantity.combine``) over calls and micro-batches; closed when the step ends
    (a tensor hook that fires later, on a graph of a detached probe, writes nothing).

    ``due``: stage → the due quantities of that stage. ``scale()``: a GradScaler's current scale
    (or None), by which gradient readings are divided.
    """

    __slots__ = ("due", "values", "closed", "scale")

    def __init__(self, due: Mapping[str, Sequence[Quantity]], scale: Callable[[], Any] | None = None):
        self.due, self.scale, self.closed = due, scale, False
        self.values: dict[str, dict[int, Any]] = {}

    def _add(self, q: Quantity, idx: int, reading: Any) -> None:
        per = self.values.setdefault(q.name, {})
        per[idx] = reading if idx not in per else q.combine(per[idx], reading)

    def gradient(self, stage: str, idx: int, g: Tensor) -> None:
        """One gradient of layer ``idx``: ∂L/∂z (``signal``) or ∂L/∂x through it (``input``)."""
        if self.closed:
            return
        scale = self.scale() if self.scale is not None else None
        for q in self.due.get(stage, ()):
            v = q.compute(g)
            self._add(q, idx, v if scale is None else v / scale)

    def activation(self, idx: int, act: Any, x: Tensor, y: Tensor | None) -> None:
        """One call of layer ``idx``'s activation ``act`` (a BoundActivation) on ``x``, giving ``y``."""
        qs = self.due.get("activation", ())
        if self.closed or not qs:
            return
        d = act_derivative(act, x, y)
        for q in qs:
            r = q.compute(d, act)
            if r is not None:
                self._add(q, idx, r)

    def rows(self, layers: int, device: torch.device) -> dict[str, Tensor]:
        """(L,) float64 rows on ``device`` of every due quantity, NaN where a layer has no reading."""
        nan = torch.tensor(math.nan, dtype=torch.float64, device=device)
        host = device.type == "cpu"
        out = {}
        for qs in self.due.values():
            for q in qs:
                per = self.values.get(q.name, {})
                # on the CPU one-element readings become floats first: reading a value is free there,
                # and float arithmetic is cheaper than a tensor operation per layer
                vals = [q.finish(_floats(per[i]) if host else per[i]) if i in per else None for i in range(layers)]
                if not any(isinstance(v, Tensor) for v in vals):  # floats (the CPU path): one tensor
                    out[q.name] = torch.tensor([math.nan if v is None else v for v in vals],
                                               dtype=torch.float64, device=device)
                else:
                    out[q.name] = torch.stack([nan if v is None else torch.as_tensor(v).to(device, torch.float64)
                                               for v in vals]) if vals else nan.new_zeros(0)
        return out


def _merged(old: Tensor | Callable[[], Tensor], new: Tensor | Callable[[], Tensor]) -> Tensor:
    old, new = (t() if callable(t) else t for t in (old, new))
    return torch.where(torch.isnan(new), old, new)


def _floats(reading: Any) -> Any:
    """A reading (a value or a tuple of values) with its one-element CPU tensors as Python floats."""
    if isinstance(reading, tuple):
        return tuple(_floats(r) for r in reading)
    return reading.item() if isinstance(reading, Tensor) and reading.numel() == 1 else reading


class Recorder:
    """Rows (device tensors) and scalars per step until a flush copies them to the host at once."""

    def __init__(self, flush_every: int = 256):
        self.flush_every = flush_every
        self.pending: dict[int, dict[str, Any]] = {}   # step → quantity → (L,), or a call making it
        self.pending_scalars: dict[int, dict[str, Tensor | float]] = {}
        self.host: dict[int, dict[str, np.ndarray]] = {}
        self.host_scalars: dict[int, dict[str, float]] = {}
        self.fresh = True  # nothing new since the last trace

    def put(self, step: int, rows: Mapping[str, Tensor | Callable[[], Tensor]], merge: bool = False) -> None:
        """Add rows of ``step``; with ``merge``, a row already there keeps its values where the new one is NaN
        (several optimizers reading their own layers in one step)."""
        if rows:
            row = self.pending.setdefault(step, {})
            if merge:
                rows = {q: (partial(_merged, row[q], t) if q in row else t) for q, t in rows.items()}
            row.update(rows)
            self.fresh = False
            if len(self.pending) >= self.flush_every:
                self.flush()

    def log(self, step: int, scalars: Mapping[str, float | Tensor]) -> None:
        row = self.pending_scalars.setdefault(step, {})
        for name, v in scalars.items():
            if isinstance(v, Tensor):
                if v.numel() != 1:
                    raise VanishingError(f"probe.log({name}=...) needs a scalar; got a tensor of shape {tuple(v.shape)}")
                row[name] = v.detach().reshape(()).to(torch.float64)
            else:
                row[name] = float(v)
        self.fresh = False

    def flush(self) -> None:
        """Move pending rows and scalars to the host: one transfer per device. A pending row may be
        a call that makes it (see ``Quantity.norms_only``): made now."""
        rows = [(k, q, t() if callable(t) else t) for k, row in self.pending.items() for q, t in row.items()]
        scal = [(k, q, v) for k, row in self.pending_scalars.items() for q, v in row.items()]
        host = to_host([t for _, _, t in rows] + [v for _, _, v in scal if isinstance(v, Tensor)])
        for (k, q, _), arr in zip(rows, host):
            self.host.setdefault(k, {})[q] = arr
        it = iter(host[len(rows):])
        for k, q, v in scal:
            self.host_scalars.setdefault(k, {})[q] = float(next(it)) if isinstance(v, Tensor) else v
        self.pending, self.pending_scalars = {}, {}

    def row(self, step: int) -> dict[str, np.ndarray]:
        """Quantity → (L,) host values of one step (pending ones: one transfer; for loggers)."""
        row = self.pending.get(step, {})
        for q, t in row.items():
            if callable(t):
                row[q] = t()
        return {**self.host.get(step, {}), **(dict(zip(row, to_host(list(row.values())))) if row else {})}

    def trace(self, layers: list[LayerInfo], schedules: Mapping[str, Any], meta: dict[str, Any]) -> Trace:
        self.flush()
        self.fresh = True
        return build_trace(self.host, self.host_scalars, layers, schedules, meta)


def to_host(tensors: list[Tensor]) -> list[np.ndarray]:
    """float64 numpy copies of ``tensors``: one device → host copy per device."""
    out: list[Any] = [None] * len(tensors)
    by_device: dict[torch.device, list[int]] = {}
    for i, t in enumerate(tensors):
        by_device.setdefault(t.device, []).append(i)
    for idx in by_device.values():
        flat = torch.cat([tensors[i].reshape(-1).to(torch.float64) for i in idx]).cpu().numpy()
        start = 0
        for i in idx:
            n = tensors[i].numel()
            out[i] = flat[start:start + n].reshape(tensors[i].shape)
            start += n
    return out


def derived(data: dict[str, np.ndarray], schedules: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The ``derived`` quantities among ``schedules``, computed from the recorded rows."""
    from .quantities import QUANTITIES

    return {q: QUANTITIES.get(q).compute(data) for q in schedules
            if q in QUANTITIES and QUANTITIES.get(q).stage == "derived"}


def build_trace(rows: Mapping[int, Mapping[str, np.ndarray]], scalars: Mapping[int, Mapping[str, float]],
                layers: list[LayerInfo], schedules: Mapping[str, Any], meta: dict[str, Any]) -> Trace:
    """A Trace from host rows (step → quantity → (L,)) and scalars (step → name → value):
    every quantity of ``schedules`` over the union of steps, NaN where not recorded."""
    from .quantities import QUANTITIES

    steps = np.array(sorted(set(rows) | set(scalars)), dtype=np.int64)
    pos = {int(k): i for i, k in enumerate(steps)}
    L = len(layers)
    names = [q for q in schedules if q not in QUANTITIES or QUANTITIES.get(q).stage != "derived"]
    data = {q: np.full((len(steps), L), np.nan) for q in names}
    for k, row in rows.items():
        for q, arr in row.items():
            data[q][pos[k]] = arr
    data.update(derived(data, schedules))
    data = {q: data[q] for q in schedules}
    scalar_names = list(dict.fromkeys(q for row in scalars.values() for q in row))
    out_scalars = {q: np.full(len(steps), np.nan) for q in scalar_names}
    for k, row in scalars.items():
        for q, v in row.items():
            out_scalars[q][pos[k]] = v
    return Trace(steps=steps, layers=list(layers), data=data, scalars=out_scalars, meta=meta)
