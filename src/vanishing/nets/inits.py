"""Initialiser registry, written like ``torch.nn.init``.

Every initialiser works in place under ``torch.no_grad()``, ends in an underscore
and returns its tensor. Select one with a spec string ``"name"`` or
``"name:key=value,..."`` (see :func:`get_init`); the same grammar serves biases.
For a weight of shape ``(fan_out, fan_in, *kernel)``, ``fan_in = fan_in · prod(kernel)``.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable

import torch
from torch import Tensor

from ..errors import ConfigError
from ..registry import Registry
from ..spec import parse_spec

__all__ = [
    "Initializer",
    "INITS",
    "get_init",
    "fans",
    "zeros_",
    "constant_",
    "normal_",
    "uniform_",
    "glorot_standard_",
    "xavier_normal_",
    "xavier_uniform_",
    "he_normal_",
    "he_uniform_",
    "lecun_normal_",
    "lecun_uniform_",
    "orthogonal_",
    "variance_scaling_",
]

# std of a unit normal truncated to [-2, 2]; Keras' truncated variance scaling divides by it
_TRUNC_STD = 0.87962566103423978


def fans(tensor: Tensor) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight of shape ``(out, in, *kernel)``."""
    if tensor.dim() < 2:
        raise ConfigError("init", f"tensor of shape {tuple(tensor.shape)}",
                          "a fan-based init needs a weight with at least 2 dimensions "
                          "(for biases use zeros, constant, normal or uniform)")
    receptive = math.prod(tensor.shape[2:]) if tensor.dim() > 2 else 1
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _check_positive(name: str, value: float, allow_zero: bool = True) -> None:
    ok = value >= 0 if allow_zero else value > 0
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or not ok:
        raise ConfigError(name, value, "a finite number " + (">= 0" if allow_zero else "> 0"))


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with 0."""
    with torch.no_grad():
        return tensor.zero_()


def constant_(tensor: Tensor, value: float = 0.0) -> Tensor:
    """Fill with ``value``."""
    with torch.no_grad():
        return tensor.fill_(float(value))


def normal_(tensor: Tensor, std: float = 1.0, mean: float = 0.0) -> Tensor:
    """Draw from :math:`\\mathcal{N}(\\text{mean}, \\text{std}^2)`."""
    _check_positive("init normal std", std)
    with torch.no_grad():
        return tensor.normal_(float(mean), float(std))


def uniform_(tensor: Tensor, a: float = 1.0) -> Tensor:
    """Draw from :math:`\\mathcal{U}(-a, a)` (variance :math:`a^2/3`)."""
    _check_positive("init uniform a", a)
    with torch.no_grad():
        return tensor.uniform_(-float(a), float(a))


def glorot_standard_(tensor: Tensor) -> Tensor:
    """The "standard" init of Glorot & Bengio (2010), eq. 1:
    :math:`\\mathcal{U}[-1/\\sqrt{n_{in}}, 1/\\sqrt{n_{in}}]`, variance :math:`1/(3 n_{in})`.
    """
    fan_in, _ = fans(tensor)
    return uniform_(tensor, 1 / math.sqrt(fan_in))


def xavier_normal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot & Bengio (2010) normalised init: :math:`\\mathrm{Var}(W) = g^2 \\cdot 2/(n_{in}+n_{out})`."""
    _check_positive("init xavier_normal gain", gain)
    fan_in, fan_out = fans(tensor)
    return normal_(tensor, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def xavier_uniform_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot & Bengio (2010) eq. 16: :math:`\\mathcal{U}[\\pm g\\sqrt{6/(n_{in}+n_{out})}]`."""
    _check_positive("init xavier_uniform gain", gain)
    fan_in, fan_out = fans(tensor)
    return uniform_(tensor, gain * math.sqrt(6.0 / (fan_in + fan_out)))


def _he_gain(a: float) -> float:
    return math.sqrt(2.0 / (1 + a * a))


def he_normal_(tensor: Tensor, a: float = 0.0) -> Tensor:
    """He et al. (2015), "Delving deep into rectifiers": :math:`\\mathrm{Var}(W) = 2/((1+a^2) n_{in})`,
    ``a`` the negative slope of a leaky ReLU (0 for ReLU)."""
    fan_in, _ = fans(tensor)
    return normal_(tensor, _he_gain(a) / math.sqrt(fan_in))


def he_uniform_(tensor: Tensor, a: float = 0.0) -> Tensor:
    """He et al. (2015), uniform form: :math:`\\mathcal{U}[\\pm\\sqrt{6/((1+a^2) n_{in})}]`."""
    fan_in, _ = fans(tensor)
    return uniform_(tensor, _he_gain(a) * math.sqrt(3.0 / fan_in))


def lecun_normal_(tensor: Tensor) -> Tensor:
    """LeCun et al. (1998), "Efficient BackProp": :math:`\\mathrm{Var}(W) = 1/n_{in}`."""
    fan_in, _ = fans(tensor)
    return normal_(tensor, 1 / math.sqrt(fan_in))


def lecun_uniform_(tensor: Tensor) -> Tensor:
    """LeCun et al. (1998), uniform form: :math:`\\mathcal{U}[\\pm\\sqrt{3/n_{in}}]`."""
    fan_in, _ = fans(tensor)
    return uniform_(tensor, math.sqrt(3.0 / fan_in))


def orthogonal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Saxe et al. (2014): a (semi-)orthogonal matrix times ``gain`` (QR of a Gaussian matrix)."""
    _check_positive("init orthogonal gain", gain)
    fans(tensor)
    with torch.no_grad():
        return torch.nn.init.orthogonal_(tensor, gain=float(gain))


_MODES = ("fan_in", "fan_out", "fan_avg")
_DISTRIBUTIONS = ("normal", "truncated_normal", "uniform")


def variance_scaling_(tensor: Tensor, scale: float = 1.0, mode: str = "fan_in",
                      distribution: str = "normal") -> Tensor:
    """Keras' VarianceScaling: :math:`\\mathrm{Var}(W) = s / n` with
    :math:`n` = fan_in, fan_out or their average.

    ``truncated_normal`` cuts at two standard deviations and rescales so the variance
    is still :math:`s/n`.
    """
    _check_positive("init variance_scaling scale", scale, allow_zero=False)
    if mode not in _MODES:
        raise ConfigError("init variance_scaling mode", mode, _MODES)
    if distribution not in _DISTRIBUTIONS:
        raise ConfigError("init variance_scaling distribution", distribution, _DISTRIBUTIONS)
    fan_in, fan_out = fans(tensor)
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    std = math.sqrt(scale / n)
    if distribution == "normal":
        return normal_(tensor, std)
    if distribution == "uniform":
        return uniform_(tensor, std * math.sqrt(3))
    with torch.no_grad():
        s = std / _TRUNC_STD
        return torch.nn.init.trunc_normal_(tensor, 0.0, s, -2 * s, 2 * s)


@dataclass(frozen=True)
class Initializer:
    """A registered initialiser; ``fn(tensor, **params)`` fills ``tensor`` in place.

    An initialiser whose ``fn`` takes an ``activation`` keyword (e.g. ``critical``)
    receives the layer's activation spec from the network builder.
    """

    name: str
    fn: Callable[..., Tensor]

    @property
    def params(self) -> list[str]:
        return list(inspect.signature(self.fn).parameters)[1:]


INITS: Registry[Initializer] = Registry("init")

for _fn in (zeros_, constant_, normal_, uniform_, glorot_standard_, xavier_normal_, xavier_uniform_,
            he_normal_, he_uniform_, lecun_normal_, lecun_uniform_, orthogonal_, variance_scaling_):
    INITS.add(_fn.__name__.rstrip("_"), Initializer(_fn.__name__.rstrip("_"), _fn))


def get_init(spec: str, activation: str | None = None, field: str = "init", *,
             check_on: str = "cpu") -> Callable[[Tensor], Tensor]:
    """Resolve an init spec into ``f(tensor) -> tensor`` (in place).

    The spec's numbers are checked now by initialising a 4×4 tensor on ``check_on``: on the CPU
    (the default, which draws from torch's global generator, as networks built since the first
    release expect) or on ``"meta"``, which has no data and draws nothing (for callers that only
    validate, in a thread that must not move another thread's seeded stream).

    >>> w = torch.empty(64, 32)
    >>> _ = get_init("variance_scaling:scale=2,mode=fan_in")(w)
    """
    parsed = parse_spec(spec, field)
    init = INITS.get(parsed.name, field)
    allowed = init.params
    params: dict[str, Any] = dict(parsed.params)
    for key in params:
        if key not in allowed or key == "activation":
            raise ConfigError(f"{field} {parsed.name} parameter", key,
                              f"parameters allowed: {', '.join(a for a in allowed if a != 'activation') or 'none'}")
    if "activation" in allowed and activation is not None:
        params["activation"] = activation
    fn = partial(init.fn, **params)
    # validate numbers now (at the boundary), not at the first layer
    try:
        fn(torch.empty(4, device=check_on) if field == "bias_init" else torch.empty(4, 4, device=check_on))
    except ConfigError as e:
        if e.field != "init":  # a bad parameter value: its own message names it
            raise
        raise ConfigError(field, spec, e.allowed) from None
    return fn


def critical_(tensor: Tensor, activation: str = "tanh", sigma_b2: float = 0.0) -> Tensor:
    """Edge-of-chaos init (Poole et al. 2016; Schoenholz et al. 2017):
    :math:`\\mathcal{N}(0, \\sigma_w^2/n_{in})` with :math:`\\sigma_w^2` the value at which
    :math:`\\chi_1 = \\sigma_w^2\\,\\mathbb{E}[\\phi'(\\sqrt{q^*}z)^2] = 1` for this activation and bias
    variance ``sigma_b2`` (use it for the biases too: ``normal:std=sqrt(sigma_b2)``), so gradients
    neither vanish nor explode with depth. The network builder passes the layer's activation.
    """
    from ..theory.meanfield import critical_sigma_w2  # theory imports nets: resolve at call time

    _check_positive("init critical sigma_b2", sigma_b2)
    fan_in, _ = fans(tensor)
    try:
        sigma_w2 = critical_sigma_w2(activation, sigma_b2)
    except ConfigError as e:
        raise ConfigError("init critical sigma_b2", e.value, e.allowed) from None
    return normal_(tensor, math.sqrt(sigma_w2 / fan_in))


__all__.append("critical_")
INITS.add("critical", Initializer("critical", critical_))
