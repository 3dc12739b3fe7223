"""What the probe measures: one module per quantity, each a pure function over tensors.

The probe (:mod:`vanishing.probe`) and the batched executor
(:mod:`vanishing.experiments.executors.batched`) both record every quantity registered in
:data:`QUANTITIES` with the very functions below; adding a quantity is one :func:`register` call
(see :mod:`.base` for what each stage's ``compute`` receives).
"""

from . import (  # noqa: F401 - registration order is the order of a trace's quantities
    grad_norm, bias_grad_norm, param_norm, nonfinite_grads, update_ratio, signal_grad_norm, input_grad_norm,
    saturation, dead_fraction, act_derivative_mean, attribution as _attribution,
)
from .attribution import attribution
from .base import (
    QUANTITIES, SATURATION_THRESHOLD, GradReading, Group, Quantity, Stage, UpdateReading, act_derivative, all_finite,
    count_below, fill_norms, host_norms, norm, norms, per_layer, register, rss, unregister,
)

# the built-in quantities, and the cheap per-step ones (one pass over the parameters)
ALL = tuple(QUANTITIES.names())
NORMS = ("grad_norm", "bias_grad_norm", "param_norm", "nonfinite_grads")

__all__ = [
    "Quantity", "Stage", "QUANTITIES", "ALL", "NORMS", "register", "unregister", "Group", "GradReading",
    "UpdateReading", "SATURATION_THRESHOLD", "norms", "host_norms", "norm", "fill_norms", "per_layer", "rss",
    "count_below", "act_derivative", "all_finite", "attribution",
]
