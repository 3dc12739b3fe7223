"""What the probe measures: the quantity registry and the pure maths behind each quantity.

Each :class:`Quantity` names where its numbers come from (``stage``); the probe owns
hooks, buffers and host transfer and calls the functions below. All functions work on
device tensors and never synchronise with the host on an accelerator.

Norms are accumulated in float64: a float32 sum of squares underflows to 0 for gradient
entries below ~1e-19, which is exactly the regime a vanishing-gradient tool must show.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import Collection, Literal, Sequence

import numpy as np
import torch
from torch import Tensor

from ..registry import Registry

__all__ = [
    "Quantity", "QUANTITIES", "NORMS", "ALL", "SATURATION_THRESHOLD",
    "norm", "norms", "host_norms", "grouped_norms", "nonfinite_counts",
    "ActivationStats", "count_below_",
    "activation_rows", "attribution",
]

Stage = Literal["grad", "update", "signal", "activation", "derived"]

# a unit is "low" (saturated / dead) where φ'(x) < 10 % of sup φ'
SATURATION_THRESHOLD = 0.1


@dataclass(frozen=True)
class Quantity:
    """A per-layer quantity: its name, where it is measured, one line on what it is."""

    name: str
    stage: Stage
    doc: str


QUANTITIES: Registry[Quantity] = Registry("quantity")
for _q in [
    Quantity("grad_norm", "grad", "‖∂L/∂W‖ of the layer's weights (root-sum-square over its weight tensors)"),
    Quantity("bias_grad_norm", "grad", "‖∂L/∂b‖ of the layer's biases"),
    Quantity("param_norm", "grad", "‖W‖ before the step's update"),
    Quantity("nonfinite_grads", "grad", "number of NaN/Inf entries among the layer's gradients"),
    Quantity("update_ratio", "update", "‖W_after − W_before‖ / ‖W_before‖ across the optimizer step"),
    Quantity("signal_grad_norm", "signal", "‖∂L/∂z‖, z the layer's output (whole batch)"),
    Quantity("input_grad_norm", "signal", "‖∂L/∂x‖ through this layer, x the layer's input"),
    Quantity("saturation", "activation", "fraction of φ' < 10 % of max φ' (saturating activations)"),
    Quantity("dead_fraction", "activation", "fraction of units with φ' < 10 % of max on the whole batch (ReLU-like)"),
    Quantity("act_derivative_mean", "activation", "mean φ' of the activation that follows"),
    Quantity("attribution_activation", "derived", "log10(signal_grad_norm[l-1] / input_grad_norm[l])"),
    Quantity("attribution_weights", "derived", "log10(input_grad_norm[l] / signal_grad_norm[l])"),
]:
    QUANTITIES.add(_q.name, _q)

# cheap per-step norms (one pass over the parameters)
NORMS = ("grad_norm", "bias_grad_norm", "param_norm", "nonfinite_grads")
ALL = tuple(QUANTITIES.names())

# float32 norms below this (or non-finite) are recomputed in float64 on the CPU path
_FP32_SAFE_MIN = 1e-15


def norms(tensors: Sequence[Tensor]) -> Tensor:
    """Euclidean norms of ``tensors`` as one (n,) float64 tensor on their device.

    On an accelerator the sums of squares are accumulated in float64 directly. On the CPU
    (where reading a value is free) float32 is ~4× faster: norms are taken in float32 and only
    those too small (< 1e-15, possible underflow) or non-finite (possible overflow) are
    recomputed in float64.
    """
    if not tensors:
        return torch.zeros(0, dtype=torch.float64)
    if tensors[0].device.type != "cpu":
        try:
            return torch.stack(torch._foreach_norm(list(tensors), 2, dtype=torch.float64))
        except (TypeError, RuntimeError):  # older torch: no dtype argument
            return torch.stack([torch.linalg.vector_norm(t, dtype=torch.float64) for t in tensors])
    return torch.tensor(host_norms(tensors), dtype=torch.float64)


def host_norms(tensors: Sequence[Tensor], acc: torch.dtype | None = None) -> list[float]:
    """The CPU path of :func:`norms` as Python floats: one float32 pass over all tensors (``acc``,
    default float64 where any tensor is), float64 only where a norm is tiny or not finite.

    Few operations on purpose: right after a backward pass each one costs many times its usual
    time (the caches hold gradients, not the interpreter's state)."""
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
    # a zero norm is exact when every entry is 0 (min and max cannot underflow); this skips a
    # float64 copy of e.g. every weight whose update was below its float32 resolution. aminmax,
    # not vector_norm(t, inf): the latter is ~20× slower on the CPU
    if v == 0 and (t.numel() == 0 or not any(torch.aminmax(t))):
        return 0.0
    return torch.linalg.vector_norm(t, dtype=torch.float64).item()


def norm(t: Tensor) -> Tensor | float:
    """Euclidean norm of one tensor with the precision rule of :func:`norms`.

    A 0-d float64 tensor on an accelerator; a Python float on the CPU, where reading the
    value is free and float arithmetic is cheaper than tensor ops in the backward hooks.
    """
    if t.device.type != "cpu":
        return torch.linalg.vector_norm(t, dtype=torch.float64)
    v = torch.linalg.vector_norm(t, dtype=torch.float32 if t.dtype != torch.float64 else None).item()
    return v if _FP32_SAFE_MIN <= v < math.inf else _exact_norm(t, v)


def grouped_norms(n: Tensor, groups: Tensor | None, has: Tensor, unique: bool = False) -> Tensor:
    """Root-sum-square of norms ``n`` (P,) by layer index ``groups`` (P,) into (L,); NaN where not ``has``.

    ``groups=None`` says that norm ``i`` is the only one of row ``i`` (P = L, all ``has``): ``n`` itself.
    ``unique`` says that no two norms share a row: they are placed, not summed.
    """
    if groups is None:
        return n
    if unique:
        return torch.full(has.shape, math.nan, dtype=torch.float64, device=n.device).index_copy_(0, groups, n)
    sq = torch.zeros(has.shape[0], dtype=torch.float64, device=n.device).index_add_(0, groups, n * n)
    return torch.where(has, sq.sqrt(), torch.full_like(sq, float("nan")))


def nonfinite_counts(tensors: Sequence[Tensor], n: Tensor) -> Tensor:
    """(P,) float64: the number of NaN/Inf entries of each tensor, given their float64 norms ``n``.

    A float64 norm of finite float32/16 entries is finite, so on the CPU only tensors with a
    non-finite norm are counted; an accelerator counts every tensor (no host round trip).
    """
    if not tensors:
        return torch.zeros(0, dtype=torch.float64, device=n.device)
    if n.device.type != "cpu":
        # one tensor at a time: a batched version would allocate a copy of every gradient at once
        return torch.stack([(~torch.isfinite(t)).sum() for t in tensors]).to(torch.float64)
    counts = [0.0 if math.isfinite(v) else float((~torch.isfinite(t)).sum()) for v, t in zip(n.tolist(), tensors)]
    return torch.tensor(counts, dtype=torch.float64)


class ActivationStats:
    """Running statistics of φ'(x) over the forward passes of one step.

    ``low`` units have φ'(x) < 10 % of sup φ'. Saturation is the fraction of low entries;
    a unit (one position of one example, all dims but the batch dim) is dead when it is
    low for every example of the batch, and for every micro-batch of the step.
    """

    __slots__ = ("low_sum", "deriv_sum", "count", "top", "threshold")

    def __init__(self) -> None:
        self.low_sum: Tensor | None = None  # number of low entries (saturating activations)
        self.deriv_sum: Tensor | None = None
        self.count = 0
        self.top: Tensor | None = None  # per unit, max φ' over the batch (ReLU-like activations)
        self.threshold = 0.0

    def update(self, act, t: Tensor, of_output: bool = False) -> None:
        """Add one forward pass: ``act`` a BoundActivation, ``t`` its input (pre-activation),
        or its output when ``of_output`` (for activations with ``has_output_derivative``)."""
        t = t.detach()
        d = act.derivative_of_output(t) if of_output else act.derivative(t)  # a new tensor: ours to overwrite
        # a float32 (pairwise) sum is exact enough for a mean and ~3× faster than float64 on the CPU
        deriv_sum = d.sum(dtype=torch.float32 if d.dtype != torch.float64 else None)
        self.deriv_sum = deriv_sum if self.deriv_sum is None else self.deriv_sum + deriv_sum
        self.count += d.numel()
        if act.kind == "saturating":
            low_sum = count_below_(d, SATURATION_THRESHOLD * act.max_derivative())
            self.low_sum = low_sum if self.low_sum is None else self.low_sum + low_sum
        elif act.kind == "relu_like":
            # a unit is dead when even its largest φ' over the batch is low
            top = d.amax(0) if d.dim() > 1 else d
            self.top = top if self.top is None or self.top.shape != top.shape else torch.maximum(self.top, top)
            self.threshold = SATURATION_THRESHOLD * act.max_derivative()


def count_below_(d: Tensor, threshold: float) -> Tensor:
    """The number of entries of ``d`` below ``threshold`` (NaN not counted), a 0-d float tensor;
    overwrites ``d``.

    The comparison writes 0/1 into ``d`` itself: on the CPU a comparison into a bool tensor,
    and counting that (via int64), are each ~3× slower. A float32 sum of 0/1 is exact below
    2^24 entries.
    """
    wide = d.numel() >= 2 ** 24 or d.dtype == torch.float64
    return torch.lt(d, threshold, out=d).sum(dtype=torch.float64 if wide else torch.float32)


def activation_rows(stats: Sequence[ActivationStats | None], names: Collection[str],
                    device: torch.device) -> dict[str, Tensor]:
    """(L,) float64 rows for ``names`` among ``saturation``, ``dead_fraction``, ``act_derivative_mean``.

    NaN where a layer has no statistics or its activation kind has no such quantity. On the CPU
    (reading a value is free) the rows are built from floats; elsewhere with one stacked
    division per row, without a host round trip.
    """
    row = _host_row if device.type == "cpu" else partial(_device_row, device=device)
    counts = [1 if s is None else max(s.count, 1) for s in stats]
    rows = {}
    if "saturation" in names:
        rows["saturation"] = row([None if s is None else s.low_sum for s in stats], counts)
    if "dead_fraction" in names:
        rows["dead_fraction"] = row([None if s is None or s.top is None else
                                     (s.top < s.threshold).to(torch.float64).mean() for s in stats], None)
    if "act_derivative_mean" in names:
        rows["act_derivative_mean"] = row([None if s is None else s.deriv_sum for s in stats], counts)
    return rows


def _host_row(values: list[Tensor | None], counts: list[int] | None) -> Tensor:
    """values[i] / counts[i] (or values[i] without counts) as a CPU tensor; NaN where None."""
    return torch.tensor([math.nan if v is None else float(v) / (1 if counts is None else counts[i])
                         for i, v in enumerate(values)], dtype=torch.float64)


def _device_row(values: list[Tensor | None], counts: list[int] | None, device: torch.device) -> Tensor:
    """As :func:`_host_row`, on ``device`` without reading any value."""
    out = torch.full((len(values),), math.nan, dtype=torch.float64, device=device)
    idx = [i for i, v in enumerate(values) if v is not None]
    if idx:
        v = torch.stack([values[i] for i in idx]).to(device, torch.float64)
        if counts is not None:
            v = v / torch.tensor([counts[i] for i in idx], dtype=torch.float64, device=device)
        out[idx] = v
    return out


def attribution(signal: np.ndarray, inp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split each layer's log10 backward gain exactly into an activation part and a weight part.

    With :math:`s_l = \\|\\partial L/\\partial z_l\\|` and :math:`g_l = \\|\\partial L/\\partial x_l\\|`
    (``signal`` and ``inp``, (S, L)):

    .. math::
        \\log_{10}\\frac{s_{l-1}}{s_l} = \\underbrace{\\log_{10}\\frac{s_{l-1}}{g_l}}_{\\text{activation}}
        + \\underbrace{\\log_{10}\\frac{g_l}{s_l}}_{\\text{weights}}

    Returns ``(activation, weights)``, each (S, L); the activation part of layer 0 is NaN.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        weights = np.log10(inp) - np.log10(signal)
        act = np.full_like(signal, np.nan)
        act[:, 1:] = np.log10(signal[:, :-1]) - np.log10(inp[:, 1:])
    return act, weights
