"""The probe: per-layer gradient flow of any PyTorch model, at near-zero cost.

>>> from vanishing.probe import watch
>>> # probe = watch(model, optimizer); ...train...; probe.trace["signal_grad_norm"]
"""

from . import schedules
from .probe import Probe, probe_meta, resolve_quantities, watch
from .quantities import ALL, NORMS, QUANTITIES, Quantity, register, unregister
from .timeaxis import TimeAxis
from .trace import LayerInfo, Trace

__all__ = ["watch", "Probe", "Trace", "LayerInfo", "schedules", "QUANTITIES", "Quantity", "NORMS", "ALL", "register",
           "unregister", "resolve_quantities", "probe_meta", "TimeAxis"]
