"""Activation maths at the bottom of the package: φ, φ′, sup φ′ and how each activation fails.

Networks, the probe and the mean-field theory all read this registry, so none of them imports
another for it.

The derivative is written out by hand (tests compare it with autograd) so that the
probe and the mean-field theory can use it without a backward pass. ``kind`` says
which failure the probe looks for: ``saturating`` activations (sigmoid, tanh, ...)
saturate, ``relu_like`` ones die.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Mapping

import torch
from torch import Tensor, nn

from .errors import ConfigError
from .registry import Registry
from .spec import Range, Spec, parse_spec

__all__ = [
    "Activation",
    "ACTIVATIONS",
    "BoundActivation",
    "get_activation",
    "activation_from_module",
    "SELU_ALPHA",
    "SELU_SCALE",
    "PARAMETER_LIMITS",
]

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

Kind = Literal["saturating", "relu_like", "smooth", "linear"]

# Bounds of the activation parameters. A parameter scales φ or φ' (leaky slope, ELU's α) or x inside
# it (softplus' β): at 1e300 a float32 network holds inf from its first layer, and the theory's
# quadrature overflows with a warning. Within these bounds φ and φ' of every |x| <= 1e30 are finite in
# float32 (tests/nets/test_activations.py), and the range covers every value used in practice.
PARAMETER_LIMITS: dict[str, Range] = {
    "negative_slope": Range(-100.0, 100.0),
    "alpha": Range(0.0, 100.0, lo_open=True),
    "beta": Range(1e-3, 1e3),
}
_ANY_FINITE = Range(-1e308, 1e308)


@dataclass(frozen=True)
class Activation:
    """One registered activation φ.

    ``fn(x, **params)`` and ``derivative(x, **params)`` act elementwise on tensors
    (any float dtype). ``max_derivative(**params)`` is sup φ', used by the
    saturation rule (a unit saturates where φ' < 10 % of its maximum).
    ``limits`` bounds each parameter (:data:`PARAMETER_LIMITS`; any finite number where absent).
    ``derivative_of_output(y, **params)``, where given, is φ' written in terms of the output
    ``y = φ(x)`` (sigmoid: y(1 − y)); it gives the same values as ``derivative`` without recomputing φ, which is most of the probe's cost per activation. Both return a
    new tensor (the probe reuses it as scratch space).
    """

    name: str
    fn: Callable[..., Tensor]
    derivative: Callable[..., Tensor]
    module: Callable[..., nn.Module]
    kind: Kind
    max_derivative: Callable[..., float]
    defaults: Mapping[str, float] = field(default_factory=dict)
    module_type: type[nn.Module] | tuple[type[nn.Module], ...] | None = None
    params_of_module: Callable[[nn.Module], dict[str, float]] = lambda m: {}
    derivative_of_output: Callable[..., Tensor] | None = None
    limits: Mapping[str, Range] = field(default_factory=dict)

    def bind(self, **params: Any) -> "BoundActivation":
        """Validate ``params`` against :attr:`defaults` and fill in the rest."""
        unknown = set(params) - set(self.defaults)
        if unknown:
            allowed = ", ".join(self.defaults) or "none"
            raise ConfigError(
                f"activation {self.name} parameter", sorted(unknown)[0], f"parameters allowed: {allowed}"
            )
        full = {**self.defaults, **params}
        checked = {k: self.limits.get(k, _ANY_FINITE).check(f"activation {self.name} parameter {k}", v)
                   for k, v in full.items()}
        return BoundActivation(self, checked)


@dataclass(frozen=True)
class BoundActivation:
    """An activation with its parameters fixed: ``act(x)``, ``act.derivative(x)``."""

    activation: Activation
    params: Mapping[str, float]

    @property
    def name(self) -> str:
        return self.activation.name

    @property
    def kind(self) -> Kind:
        return self.activation.kind

    @property
    def spec(self) -> str:
        """The spec string that rebuilds this activation."""
        changed = {k: v for k, v in self.params.items() if v != self.activation.defaults[k]}
        if not changed:
            return self.name
        return self.name + ":" + ",".join(f"{k}={v:g}" for k, v in changed.items())

    def __call__(self, x: Tensor) -> Tensor:
        return self.activation.fn(x, **self.params)

    def derivative(self, x: Tensor) -> Tensor:
        return self.activation.derivative(x, **self.params)

    @property
    def has_output_derivative(self) -> bool:
        return self.activation.derivative_of_output is not None

    def derivative_of_output(self, y: Tensor) -> Tensor:
        """φ'(x) from ``y = φ(x)``; only where :attr:`has_output_derivative`."""
        return self.activation.derivative_of_output(y, **self.params)

    def max_derivative(self) -> float:
        return self.activation.max_derivative(**self.params)

    def module(self) -> nn.Module:
        return self.activation.module(**self.params)


ACTIVATIONS: Registry[Activation] = Registry("activation")


def _add(act: Activation) -> None:
    ACTIVATIONS.add(act.name, act)


# sup φ' of GELU and SiLU (maximised numerically with scipy; see tests)
_GELU_MAX = 1.1289041451851545
_SILU_MAX = 1.0998393201288565


def _phi(x: Tensor) -> Tensor:  # standard normal density
    return torch.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


_ONES: dict[tuple[torch.dtype, torch.device], Tensor] = {}


def _ones_like(y: Tensor) -> Tensor:
    """A tensor of ones shaped like ``y`` without writing one (a stride-0 view of a cached scalar)."""
    one = _ONES.get((y.dtype, y.device))
    if one is None:
        one = _ONES[(y.dtype, y.device)] = torch.ones((), dtype=y.dtype, device=y.device)
    return one.expand_as(y)


# φ' from the output through autograd's own backward kernels with an upstream gradient of ones: one
# fused pass, and the very formulas autograd uses ((1 − y)·y and 1 − y²), ~2× faster than two ops
def _sigmoid_derivative_of_output(y: Tensor) -> Tensor:
    return torch.ops.aten.sigmoid_backward.default(_ones_like(y), y)


def _tanh_derivative_of_output(y: Tensor) -> Tensor:
    return torch.ops.aten.tanh_backward.default(_ones_like(y), y)


def _Phi(x: Tensor) -> Tensor:  # standard normal CDF
    return 0.5 * (1 + torch.erf(x / math.sqrt(2)))


_add(Activation(
    "sigmoid", torch.sigmoid, lambda x: _sigmoid_derivative_of_output(torch.sigmoid(x)),
    nn.Sigmoid, "saturating", lambda: 0.25, module_type=nn.Sigmoid,
    derivative_of_output=_sigmoid_derivative_of_output))
_add(Activation(
    "tanh", torch.tanh, lambda x: _tanh_derivative_of_output(torch.tanh(x)),
    nn.Tanh, "saturating", lambda: 1.0, module_type=nn.Tanh,
    derivative_of_output=_tanh_derivative_of_output))
_add(Activation(
    "hardtanh", lambda x: torch.clamp(x, -1.0, 1.0), lambda x: x.abs().lt_(1),  # −1 < x < 1, as 0/1 floats
    nn.Hardtanh, "saturating", lambda: 1.0, module_type=nn.Hardtanh))
_add(Activation(
    "softsign", lambda x: x / (1 + x.abs()), lambda x: 1 / (1 + x.abs()) ** 2,
    nn.Softsign, "saturating", lambda: 1.0, module_type=nn.Softsign))
# masks compared straight into float tensors: a bool mask and then .to() is ~9× slower on the CPU
_add(Activation(
    "relu", torch.relu, lambda x: torch.gt(x, 0, out=torch.empty_like(x)),
    nn.ReLU, "relu_like", lambda: 1.0, module_type=nn.ReLU))
_add(Activation(
    "leaky_relu",
    lambda x, negative_slope: torch.where(x > 0, x, negative_slope * x),
    lambda x, negative_slope: torch.where(x > 0, torch.ones_like(x), torch.full_like(x, negative_slope)),
    lambda negative_slope: nn.LeakyReLU(negative_slope),
    "relu_like", lambda negative_slope: max(1.0, abs(negative_slope)),
    defaults={"negative_slope": 0.01}, limits=PARAMETER_LIMITS, module_type=nn.LeakyReLU,
    params_of_module=lambda m: {"negative_slope": float(m.negative_slope)}))
_add(Activation(
    "elu",
    lambda x, alpha: torch.where(x > 0, x, alpha * torch.expm1(torch.clamp(x, max=0))),
    lambda x, alpha: torch.where(x > 0, torch.ones_like(x), alpha * torch.exp(torch.clamp(x, max=0))),
    lambda alpha: nn.ELU(alpha), "smooth", lambda alpha: max(1.0, alpha),
    defaults={"alpha": 1.0}, limits=PARAMETER_LIMITS, module_type=nn.ELU, params_of_module=lambda m: {"alpha": float(m.alpha)}))
_add(Activation(
    "selu",
    lambda x: SELU_SCALE * torch.where(x > 0, x, SELU_ALPHA * torch.expm1(torch.clamp(x, max=0))),
    lambda x: SELU_SCALE * torch.where(x > 0, torch.ones_like(x), SELU_ALPHA * torch.exp(torch.clamp(x, max=0))),
    nn.SELU, "smooth", lambda: SELU_SCALE * SELU_ALPHA, module_type=nn.SELU))
_add(Activation(
    "gelu", lambda x: x * _Phi(x), lambda x: _Phi(x) + x * _phi(x),
    nn.GELU, "smooth", lambda: _GELU_MAX, module_type=nn.GELU))
_add(Activation(
    "silu", lambda x: x * torch.sigmoid(x),
    lambda x: torch.sigmoid(x) * (1 + x * (1 - torch.sigmoid(x))),
    nn.SiLU, "smooth", lambda: _SILU_MAX, module_type=nn.SiLU))
_add(Activation(
    "softplus",
    lambda x, beta: torch.logaddexp(beta * x, torch.zeros_like(x)) / beta,
    lambda x, beta: torch.sigmoid(beta * x),
    lambda beta: nn.Softplus(beta=beta), "smooth", lambda beta: 1.0,
    defaults={"beta": 1.0}, limits=PARAMETER_LIMITS, module_type=nn.Softplus, params_of_module=lambda m: {"beta": float(m.beta)}))
_add(Activation(
    "linear", lambda x: x, lambda x: torch.ones_like(x),
    nn.Identity, "linear", lambda: 1.0))


def get_activation(spec: str) -> BoundActivation:
    """Look up ``"name"`` or ``"name:key=value"`` (e.g. ``"leaky_relu:negative_slope=0.2"``).

    >>> act = get_activation("leaky_relu:negative_slope=0.2")
    >>> float(act.derivative(torch.tensor(-1.0)))
    0.2
    """
    parsed: Spec = parse_spec(spec, "activation")
    return ACTIVATIONS.get(parsed.name).bind(**parsed.params)


def activation_from_module(module: nn.Module) -> BoundActivation | None:
    """The registered activation that an ``nn.Module`` computes, or ``None``.

    ``nn.Identity`` is not treated as an activation (it is also used as a no-op), nor is a module
    whose parameter lies outside :data:`PARAMETER_LIMITS` (a user's ``nn.ELU(alpha=1e6)``).
    """
    for name in ACTIVATIONS:
        act = ACTIVATIONS.get(name)
        types = act.module_type if isinstance(act.module_type, tuple) else (act.module_type,)
        if type(module) in types:  # exactly: nn.ReLU6 is a subclass of nn.Hardtanh
            if isinstance(module, nn.Hardtanh) and (module.min_val, module.max_val) != (-1.0, 1.0):
                return None
            try:
                return act.bind(**act.params_of_module(module))
            except ConfigError:
                return None
    return None
