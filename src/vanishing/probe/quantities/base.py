"""The quantity record, its registry, and the primitives every quantity shares.

A :class:`Quantity` is a name, a stage (where its input comes from), one line of doc and a pure
``compute``. Each compute takes tensors with an optional leading member axis ``(M, ...)``: the
probe calls it without one (one network), the batched executor with one (members of a stacked
group), and the result has that axis too. What ``compute`` receives depends on the stage:

=============  ==========================================================  =====================
stage          ``compute(...)``                                            result
=============  ==========================================================  =====================
``grad``       a :class:`GradReading` (weights and their gradients,        (L,) / (M, L)
               before the optimizer step)
``update``     an :class:`UpdateReading` (weights before, and the step)    (L,) / (M, L)
``signal``     ``(g, members)``, g = ∂L/∂z of one call of a layer          () / (M,)
``input``      ``(g, members)``, g = ∂L/∂x sent through this layer only    () / (M,)
``activation`` ``(d, act, members)``, d = φ'(x) of the layer's activation  a poolable reading,
                                                                           ``finish(r, members)``
``derived``    ``(data)``: the trace's rows (numpy, steps × layers)         (S, L)
=============  ==========================================================  =====================

``signal``, ``input`` and ``activation`` readings of one layer in one step (a layer called
twice, micro-batches of gradient accumulation) are pooled with ``combine`` and turned into
the value by ``finish``. ``signal``/``input`` computes must be positively homogeneous in ``g``
(a norm, a max): the probe divides their value by a GradScaler's scale.

Norms are accumulated in float64: a float32 sum of squares underflows to 0 for gradient
entries below ~1e-19, which is exactly the regime a vanishing-gradient tool must show.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Sequence

import torch
from torch import Tensor

from ...registry import Registry

__all__ = [
    "Quantity", "Stage", "QUANTITIES", "register", "unregister", "Group", "GradReading", "UpdateReading",
    "SATURATION_THRESHOLD", "norms", "host_norms", "norm", "fill_norms", "per_layer", "rss", "count_below",
    "act_derivative", "nonfinite_counts", "units_max", "all_finite", "ratio", "zeros_where_present",
]

Stage = Literal["grad", "update", "signal", "input", "activation", "derived"]

# a unit is "low" (saturated / dead) where φ'(x) < 10 % of sup φ'
SATURATION_THRESHOLD = 0.1


def rss(a: Any, b: Any) -> Any:
    """Root-sum-square of two norms (floats or tensors): the norm over both their parts."""
    return (a * a + b * b) ** 0.5


@dataclass(frozen=True)
class Quantity:
    """A per-layer quantity: its name, where it is measured, one line on what it is, and its maths."""

    name: str
    stage: Stage
    doc: str
    compute: Callable[..., Any]
    # grad / update stages: the groups of a reading whose norms ``compute`` uses (taken in one pass);
    # ``norms_only``: it reads nothing else (no tensor) while every norm is finite, so on the CPU the
    # probe may compute it at the flush from the norms as floats, away from the training step
    needs: tuple[str, ...] = ()
    norms_only: bool = False
    # signal / input / activation stages: pool two readings of one layer in one step; reading → value
    combine: Callable[[Any, Any], Any] = rss
    finish: Callable[..., Any] = lambda r, members=False: r
    # derived: the quantities it is computed from (recorded with it)
    requires: tuple[str, ...] = ()


QUANTITIES: Registry[Quantity] = Registry("quantity")


def register(q: Quantity) -> Quantity:
    """Add ``q`` to :data:`QUANTITIES`: the probe and the batched executor record it from then on."""
    QUANTITIES.add(q.name, q)
    return q


def unregister(name: str) -> None:
    QUANTITIES.remove(name)


# float32 norms below this (or non-finite) are recomputed in float64 on the CPU path
_FP32_SAFE_MIN = 1e-15


def host_norms(tensors: Sequence[Tensor], acc: torch.dtype | None = None) -> list[float]:
    """Euclidean norms on the CPU as Python floats: one float32 ``_foreach_norm`` pass (``acc``,
    default float64 where any tensor is), float64 only where a norm is tiny or not finite.

    Float32 is ~4× faster than float64 on the CPU; recomputing the few norms below 1e-15 (possible
    underflow) or not finite (possible overflow) keeps every value float64-accurate."""
    if not tensors:
        return []
    if acc is None:
        acc = torch.float64 if any(t.dtype == torch.float64 for t in tensors) else torch.float32
    vals = torch.stack(torch._foreach_norm(list(tensors), 2, dtype=acc)).tolist()
    # NaN or ±inf anywhere makes the sum non-finite; min is only trusted once the sum is finite
    if not (math.isfinite(sum(vals)) and min(vals) >= _FP32_SAFE_MIN):
        for i, v in enumerate(vals):
            if not _FP32_SAFE_MIN <= v < math.inf:
                vals[i] = _exact_norm(tensors[i], v)
    return vals


def _exact_norm(t: Tensor, v: float) -> float:
    """The float64 norm of ``t``, whose float32 norm ``v`` is tiny or not finite (CPU path)."""
    # a zero norm is exact when every entry is 0 (aminmax: vector_norm(t, inf) is ~20× slower on the CPU)
    if v == 0 and (t.numel() == 0 or not any(torch.aminmax(t))):
        return 0.0
    return torch.linalg.vector_norm(t, dtype=torch.float64).item()


def norms(tensors: Sequence[Tensor], members: bool = False, host: bool | None = None) -> Tensor:
    """Float64 Euclidean norms: (P,) of ``tensors``, or (M, P) of each member's slice with ``members``.

    ``host`` (default: the tensors are on the CPU) takes the float32-then-exact path of
    :func:`host_norms`; otherwise float64 sums on the device, without a host round trip.
    """
    if not tensors:
        return torch.zeros((0,), dtype=torch.float64)
    if members:
        return torch.stack([norm(t, True) for t in tensors], 1)
    if host if host is not None else tensors[0].device.type == "cpu":
        return torch.tensor(host_norms(tensors), dtype=torch.float64)
    return torch.stack(torch._foreach_norm(list(tensors), 2, dtype=torch.float64))


def norm(t: Tensor, members: bool = False) -> Tensor | float:
    """One tensor's norm (each member's with ``members``) by the precision rule of :func:`norms`:
    a Python float on the CPU (reading it is free; float arithmetic is cheaper in backward hooks),
    a float64 tensor elsewhere."""
    if members:  # over every dim but the first, without copying a transposed view
        return torch.linalg.vector_norm(t, dim=tuple(range(1, t.dim())), dtype=torch.float64)
    if t.device.type != "cpu":
        return torch.linalg.vector_norm(t, dtype=torch.float64)
    v = torch.linalg.vector_norm(t, dtype=torch.float32 if t.dtype != torch.float64 else None).item()
    return v if _FP32_SAFE_MIN <= v < math.inf else _exact_norm(t, v)


@dataclass
class Group:
    """Tensors of one kind (weights, weight gradients, ...) and the layer each belongs to."""

    tensors: list[Tensor]
    layer: tuple[int, ...]
    members: bool = False
    _norms: Tensor | None = field(default=None, repr=False)
    host: list[float] | None = field(default=None, repr=False)  # the norms as floats (CPU path)

    def norms(self) -> Tensor:
        """(P,) or (M, P) float64 norms, taken once."""
        if self._norms is None:
            self._norms = (norms(self.tensors, self.members) if self.host is None
                           else torch.tensor(self.host, dtype=torch.float64))
        return self._norms

    def without_tensors(self) -> "Group":
        """This group's layout and norms only (for a ``norms_only`` quantity computed later)."""
        return Group([], self.layer, self.members, self._norms, self.host)


def fill_norms(groups: Sequence[Group], host: bool | None = None, acc: torch.dtype | None = None) -> None:
    """Take the norms of several groups in one pass (one ``_foreach_norm`` without member axis);
    ``host`` and ``acc`` as in :func:`norms` and :func:`host_norms`."""
    todo = [g for g in groups if g._norms is None and g.host is None]
    if not todo:
        return
    tensors = [t for g in todo for t in g.tensors]
    start = 0
    if not todo[0].members and tensors and (host if host is not None else tensors[0].device.type == "cpu"):
        vals = host_norms(tensors, acc)  # floats: a group makes its tensor when asked (see Group.norms)
        for g in todo:
            g.host, start = vals[start:start + len(g.tensors)], start + len(g.tensors)
        return
    n = norms(tensors, todo[0].members, host=False)
    for g in todo:
        g._norms, start = n[..., start:start + len(g.tensors)], start + len(g.tensors)


@dataclass
class GradReading:
    """The ``grad`` stage's input: gradients just before ``optimizer.step()``, and the weights."""

    weights: Group
    weight_grads: Group
    bias_grads: Group
    layers: int
    members: bool = False


@dataclass
class UpdateReading:
    """The ``update`` stage's input: the weights before the step and ``delta`` = W_before − W_after."""

    before: Group
    delta: Group
    layers: int
    members: bool = False


_INDEX: dict[tuple, tuple[Tensor, Tensor]] = {}


def _index(layer: Sequence[int], layers: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """(layer index of each tensor, which layers have tensors) on ``device``, made once per layout."""
    key = (tuple(layer), layers, device)
    if key not in _INDEX:
        has = torch.zeros(layers, dtype=torch.bool)
        has[list(layer)] = True
        _INDEX[key] = (torch.tensor(list(layer), dtype=torch.long, device=device), has.to(device))
    return _INDEX[key]


def zeros_where_present(layer: Sequence[int], layers: int, device: torch.device) -> Tensor:
    """(L,) float64: 0 for each layer with a tensor, NaN for the others."""
    has = _index(layer, layers, device)[1]
    return torch.where(has, 0.0, math.nan).to(torch.float64)


def per_layer(values: Tensor, layer: Sequence[int], layers: int, how: str = "rss") -> Tensor:
    """Per-tensor ``values`` (P,) or (M, P) → per-layer (L,) or (M, L) float64; NaN for a layer
    without tensors. ``how``: ``rss`` (root-sum-square: norms), ``sum`` (counts) or ``max``."""
    if values.dtype != torch.float64:
        values = values.to(torch.float64)
    if len(layer) == layers and tuple(layer) == tuple(range(layers)):  # one tensor per layer: as they are
        return values
    idx, has = _index(layer, layers, values.device)
    shape = (*values.shape[:-1], layers)
    if how == "max":
        out = torch.full(shape, -math.inf, dtype=torch.float64, device=values.device)
        out = out.index_reduce_(-1, idx, values, "amax")
    else:
        out = torch.zeros(shape, dtype=torch.float64, device=values.device)
        out = out.index_add_(-1, idx, values * values if how == "rss" else values)
        out = out.sqrt() if how == "rss" else out
    return torch.where(has, out, torch.full_like(out, math.nan))


def nonfinite_counts(group: Group) -> Tensor:
    """(P,) or (M, P) float64: NaN/Inf entries of each tensor of ``group``.

    A float64 norm of finite float32/16 entries is finite, so where reading a value is free (the
    CPU) only tensors with a non-finite norm are counted; an accelerator counts every tensor
    (no host round trip)."""
    ts, n = group.tensors, group.norms()
    if not ts:
        return n.clone()
    count = (lambda t: (~torch.isfinite(t)).flatten(1).sum(1)) if group.members else \
        (lambda t: (~torch.isfinite(t)).sum())
    if n.device.type == "cpu":
        if all_finite(group):
            return torch.zeros_like(n)
        bad = (~torch.isfinite(n)).reshape(-1, n.shape[-1]).any(0).tolist()
        return torch.stack([count(t).to(torch.float64) if b else torch.zeros_like(n[..., 0])
                            for t, b in zip(ts, bad)], -1)
    # one tensor at a time: a batched version would allocate a copy of every gradient at once
    return torch.stack([count(t) for t in ts], -1).to(torch.float64)


def all_finite(group: Group) -> bool:
    """Whether every norm of ``group`` is finite (read on the CPU only; from host floats when there are)."""
    if group.host is not None:
        return math.isfinite(sum(group.host))  # NaN or ±inf anywhere makes the sum non-finite
    return bool(torch.isfinite(group.norms()).all())


def ratio(total: Any, count: int) -> Any:
    """``total / count`` in float64, for a float or a tensor (no host read)."""
    return total.to(torch.float64) / count if isinstance(total, Tensor) else total / count


def act_derivative(act: Any, x: Tensor, y: Tensor | None) -> Tensor:
    """φ'(x) of a BoundActivation, from its output ``y`` where that is cheaper (sigmoid, tanh); a new tensor."""
    if y is not None and act.has_output_derivative:
        return act.derivative_of_output(y.detach())
    return act.derivative(x.detach())


def count_below(d: Tensor, threshold: float, members: bool = False) -> Tensor:
    """The number of entries of ``d`` (of each member's slice) below ``threshold``, NaN not counted.

    The comparison writes 0/1 into a float tensor: on the CPU a comparison into a bool tensor, and
    counting that (via int64), are each ~3× slower. A float32 sum of 0/1 is exact below 2^24."""
    wide = d.numel() >= 2 ** 24 or d.dtype == torch.float64
    low = torch.lt(d, threshold, out=torch.empty_like(d))
    low = low.flatten(1) if members else low
    return low.sum(-1 if members else None, dtype=torch.float64 if wide else torch.float32)


def units_max(d: Tensor, members: bool = False) -> Tensor:
    """Each unit's largest value over the batch: all dims but the batch dim (and the member axis)."""
    batch = 1 if members else 0
    return d.amax(batch) if d.dim() > batch + 1 else d


def add(a: Any, b: Any) -> Any:
    """Pool two readings that are tuples of sums."""
    return tuple(map(operator.add, a, b))
