"""Activations that are not one registered formula: composites (GELU's tanh form, Mish, Hardswish, the
Hugging Face and timm activation classes) and unknown elementwise modules.

Their φ' is measured from autograd on the activation itself (a backward pass of ``φ`` with an upstream
gradient of ones: φ'(x) elementwise), never guessed from a part of it: GPT-2's ``gelu_new`` calls
``torch.tanh`` on a transformed input, and that tanh's φ' (mean ≈ 0.98) is not GELU's (≈ 0.5).

- recognised modules (:func:`module_activation`): by class, or by (package, class name) for classes
  of packages that are optional here (``transformers.activations``, ``timm.layers``);
- recognised functions (:func:`function_activation`): ``F.gelu(approximate="tanh")``, ``F.mish``,
  ``F.hardswish``, ``F.hardsigmoid``;
- any other parameter-free leaf module that takes a layer's output itself is an activation when it
  is elementwise and deterministic (:func:`is_elementwise`, checked once on the discovery pass); it is
  named ``"unknown:<class name>"``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..activations import ACTIVATIONS, BoundActivation, activation_from_module, get_activation

__all__ = ["MeasuredActivation", "module_activation", "function_activation", "is_elementwise", "maybe_activation"]


@dataclass(frozen=True)
class MeasuredActivation:
    """An activation whose φ' comes from autograd on ``fn`` itself (duck-types :class:`BoundActivation`
    for the probe's quantities: ``spec``, ``kind``, ``derivative``, ``max_derivative``).

    ``kind``: ``"saturating"`` / ``"relu_like"`` where known (saturation, dead fraction are measured),
    ``"smooth"`` for recognised smooth ones, ``"unknown"`` for unknown ones. ``sup``: sup φ'.
    """

    spec: str
    fn: Callable[[Tensor], Tensor] = field(compare=False)
    kind: str = "smooth"
    sup: float = math.nan

    @property
    def name(self) -> str:
        return self.spec

    has_output_derivative = False

    def derivative(self, x: Tensor) -> Tensor:
        """φ'(x) elementwise: the gradient of Σ φ(x) (a new tensor)."""
        with torch.enable_grad():
            xi = x.detach().requires_grad_(True)
            y = self.fn(xi)
            (d,) = torch.autograd.grad(y, xi, torch.ones_like(y))
        return d

    def max_derivative(self) -> float:
        return self.sup


# (name, kind, sup φ'); sup φ' maximised numerically (tests check them)
_KINDS: dict[str, tuple[str, str, float]] = {
    "gelu_tanh": ("gelu_tanh", "smooth", 1.1289), "mish": ("mish", "smooth", 1.0886),
    "hardswish": ("hardswish", "smooth", 1.5), "hardsigmoid": ("hardsigmoid", "saturating", 1 / 6),
    "quick_gelu": ("quick_gelu", "smooth", 1.0998), "hard_mish": ("hard_mish", "smooth", 1.0),
}

# classes of optional packages, recognised by (module prefix, class name) → activation name
_NAMED: dict[tuple[str, str], str] = {
    **{("transformers.", c): n for c, n in (
        ("NewGELUActivation", "gelu_tanh"), ("FastGELUActivation", "gelu_tanh"), ("GELUTanh", "gelu_tanh"),
        ("PytorchGELUTanh", "gelu_tanh"), ("GELUActivation", "gelu"), ("QuickGELUActivation", "quick_gelu"),
        ("MishActivation", "mish"), ("SiLUActivation", "silu"))},
    # timm.layers.activations / activations_me (documented activation layers)
    **{("timm.", c): n for c, n in (
        ("Swish", "silu"), ("SwishMe", "silu"), ("Mish", "mish"), ("MishMe", "mish"), ("Sigmoid", "sigmoid"),
        ("Tanh", "tanh"), ("HardSwish", "hardswish"), ("HardSwishMe", "hardswish"), ("HardSigmoid", "hardsigmoid"),
        ("HardSigmoidMe", "hardsigmoid"), ("HardMish", "hard_mish"), ("HardMishMe", "hard_mish"), ("GELU", "gelu"),
        ("GELUTanh", "gelu_tanh"), ("QuickGELU", "quick_gelu"))},
}
_TORCH_MODULES: dict[type[nn.Module], str] = {nn.Mish: "mish", nn.Hardswish: "hardswish", nn.Hardsigmoid: "hardsigmoid"}


def _measured(name: str, fn: Callable[[Tensor], Tensor]) -> MeasuredActivation:
    spec, kind, sup = _KINDS[name]
    return MeasuredActivation(spec, fn, kind, sup)


def module_activation(module: nn.Module) -> BoundActivation | MeasuredActivation | None:
    """The activation an ``nn.Module`` computes, or ``None``: a registered formula, else a recognised
    composite measured through the module's own ``forward`` (never its hooks)."""
    if isinstance(module, nn.GELU) and module.approximate == "tanh":
        return _measured("gelu_tanh", module.forward)
    act = activation_from_module(module)
    if act is not None:
        return act
    cls = type(module)
    if cls in _TORCH_MODULES:
        return _measured(_TORCH_MODULES[cls], module.forward)
    for (prefix, name), act_name in _NAMED.items():
        if cls.__name__ == name and cls.__module__.startswith(prefix):
            return get_activation(act_name) if act_name in ACTIVATIONS else _measured(act_name, module.forward)
    return None


def _arg(args: tuple, kwargs: dict, i: int, name: str, default: Any) -> Any:
    return args[i] if len(args) > i else kwargs.get(name, default)


# torch function → (args, kwargs) → the composite it computes, or None
_FUNCTIONS: dict[Callable, Callable[[tuple, dict], MeasuredActivation | None]] = {
    F.gelu: lambda a, k: (_measured("gelu_tanh", partial(F.gelu, approximate="tanh"))
                          if _arg(a, k, 1, "approximate", "none") == "tanh" else None),
    F.mish: lambda a, k: _measured("mish", F.mish),
    F.hardswish: lambda a, k: _measured("hardswish", F.hardswish),
    F.hardsigmoid: lambda a, k: _measured("hardsigmoid", F.hardsigmoid),
}


def function_activation(func: Callable, args: tuple, kwargs: dict) -> MeasuredActivation | None:
    """The composite activation a torch function call computes, or ``None``."""
    rule = _FUNCTIONS.get(func)
    return rule(args, kwargs) if rule is not None else None


_NOT_ACTIVATIONS = (nn.Identity, nn.modules.dropout._DropoutNd)


def maybe_activation(module: nn.Module) -> bool:
    """Whether ``module`` could be an unknown activation: a leaf without parameters, not a no-op or dropout."""
    return (not isinstance(module, _NOT_ACTIVATIONS) and next(module.children(), None) is None
            and next(module.parameters(), None) is None)


def is_elementwise(fn: Callable[[Tensor], Tensor], x: Tensor, rtol: float = 1e-4) -> bool:
    """Whether ``fn`` acts on ``x`` elementwise and deterministically: its Jacobian is diagonal, checked
    with one random tangent ``v`` (forward mode J·v against the reverse-mode row sums Jᵀ1 times ``v``).
    The random draws leave every generator as it was."""
    devices = [x.device] if x.device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=devices), torch.enable_grad():
            g = torch.Generator(device=x.device).manual_seed(0)
            xd = x.detach()
            v = torch.randn(xd.shape, generator=g, device=x.device, dtype=xd.dtype)
            xi = xd.clone().requires_grad_(True)
            y = fn(xi)
            if not isinstance(y, Tensor) or y.shape != x.shape or not y.requires_grad:
                return False
            (rows,) = torch.autograd.grad(y, xi, torch.ones_like(y))
            _, jv = torch.func.jvp(fn, (xd,), (v,))
    except (RuntimeError, TypeError, ValueError, NotImplementedError):
        return False
    scale = float(rows.abs().max()) * float(v.abs().max()) if rows.numel() else 0.0
    return bool(torch.allclose(jv, rows * v, rtol=rtol, atol=rtol * scale + 1e-30))
