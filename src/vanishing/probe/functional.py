"""Activations called as functions (``torch.sigmoid``, ``F.relu``, ``x.tanh()``, ...).

A :class:`~torch.overrides.TorchFunctionMode` that sees every torch function call of a
forward pass and reports known activations with their input. The probe enters it only
for forward passes where activation statistics are due (and for the discovery pass), so
other steps pay nothing.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.overrides import TorchFunctionMode

from ..activations import BoundActivation, get_activation
from .composite import _FUNCTIONS as COMPOSITE_FUNCTIONS
from .composite import MeasuredActivation, function_activation

__all__ = ["ActivationMode", "bound_activation"]


def _arg(args: tuple, kwargs: dict, i: int, name: str, default: Any) -> Any:
    return args[i] if len(args) > i else kwargs.get(name, default)


def _fixed(name: str) -> Callable[[tuple, dict], str | None]:
    return lambda args, kwargs: name


def _gelu(args: tuple, kwargs: dict) -> str | None:
    return "gelu" if _arg(args, kwargs, 1, "approximate", "none") == "none" else None


def _hardtanh(args: tuple, kwargs: dict) -> str | None:
    lo, hi = _arg(args, kwargs, 1, "min_val", -1.0), _arg(args, kwargs, 2, "max_val", 1.0)
    return "hardtanh" if (lo, hi) == (-1.0, 1.0) else None


# torch function → (args, kwargs) → activation spec, or None when not a registered variant
_SPECS: dict[Callable, Callable[[tuple, dict], str | None]] = {
    **{f: _fixed("sigmoid") for f in (torch.sigmoid, Tensor.sigmoid, F.sigmoid)},
    **{f: _fixed("tanh") for f in (torch.tanh, Tensor.tanh, F.tanh)},
    **{f: _fixed("relu") for f in (torch.relu, torch.relu_, Tensor.relu, Tensor.relu_, F.relu, F.relu_)},
    **{f: _fixed("selu") for f in (torch.selu, F.selu)},
    F.silu: _fixed("silu"),
    F.softsign: _fixed("softsign"),
    F.gelu: _gelu,
    F.hardtanh: _hardtanh,
    F.elu: lambda a, k: f"elu:alpha={float(_arg(a, k, 1, 'alpha', 1.0))!r}",
    F.leaky_relu: lambda a, k: f"leaky_relu:negative_slope={float(_arg(a, k, 1, 'negative_slope', 0.01))!r}",
    F.softplus: lambda a, k: f"softplus:beta={float(_arg(a, k, 1, 'beta', 1.0))!r}",
}

_BOUND: dict[str, BoundActivation] = {}


def bound_activation(func: Callable, args: tuple, kwargs: dict) -> BoundActivation | None:
    """The registered activation a torch function call computes, or ``None``."""
    rule = _SPECS.get(func)
    spec = rule(args, kwargs) if rule is not None else None
    if spec is None:
        return None
    if spec not in _BOUND:
        _BOUND[spec] = get_activation(spec)
    return _BOUND[spec]


class ActivationMode(TorchFunctionMode):
    """Reports each known activation function call: ``on_activation(act, x)`` before it runs on
    ``x``; where that returns true and φ' is taken from the output (``act.has_output_derivative``),
    ``on_output(y)`` after it; ``on_args(args)``, where given, sees the arguments of every call.
    """

    def __init__(self, on_activation: Callable[[BoundActivation | MeasuredActivation, Tensor], bool],
                 on_output: Callable[[Any], None], on_args: Callable[[tuple], None] | None = None):
        super().__init__()
        self.on_activation, self.on_output, self.on_args = on_activation, on_output, on_args

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.on_args is not None:
            self.on_args(args)
        if (func in _SPECS or func in COMPOSITE_FUNCTIONS) and args and isinstance(args[0], Tensor):
            act = bound_activation(func, args, kwargs) or function_activation(func, args, kwargs)
            if act is not None and self.on_activation(act, args[0]) and act.has_output_derivative:
                out = func(*args, **kwargs)
                self.on_output(out)
                return out
        return func(*args, **kwargs)
