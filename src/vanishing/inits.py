r"""Initialiser registry at the bottom of the package, written like ``torch.nn.init``.

Every initialiser works in place under ``torch.no_grad()``, ends in an underscore, returns its
tensor and draws from ``generator`` when given (torch's global generator otherwise). Select one
with a spec string ``"name"`` or ``"name:key=value,..."`` (see :func:`get_init`); the same grammar
serves biases. For a weight of shape ``(fan_out, fan_in, *kernel)``, ``fan_in = fan_in · prod(kernel)``.

Each registered :class:`Initializer` carries its per-entry second moment :math:`\mathbb E[W_{ij}^2]`
as a function of the fans, and the fan-based initialisers draw with exactly that variance: the
formula is written once, and both the networks (which draw) and the mean-field theory (which
reads it) use it, so neither imports the other.

``critical`` (the edge-of-chaos init) is not drawn here: its :math:`\sigma_w^2` comes from the
theory and the activation, so the config resolves it into a ``variance_scaling`` spec before a
network is built (:func:`vanishing.config.resolve_init`).
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable

import torch
from torch import Tensor

from .errors import ConfigError
from .registry import Registry
from .spec import Range, parse_spec

__all__ = [
    "CRITICAL",
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

CRITICAL = "critical"
"""The init spec name resolved by the config (σ_w² from the theory), never drawn by this module."""

Generator = torch.Generator | None

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


# Bounds of the init parameters: a std or gain of 100 already multiplies a signal by ~10³ per layer
# of width 100, far into the exploding regime; beyond, weights (float32) and their second moments
# overflow (std=1e300 draws inf, gain=1e300 squares to an OverflowError).
SCALE_LIMIT = Range(0.0, 100.0)  # std, uniform a, gain
VARIANCE_LIMIT = Range(0.0, 1e4, lo_open=True)  # variance_scaling scale = σ_w²
OFFSET_LIMIT = Range(-100.0, 100.0)  # mean, constant value, He's negative slope a


# --- per-entry second moments E[W_ij²] of a (fan_out, fan_in) weight: each formula once ---------------

def _glorot_standard_var(fan_in: int, fan_out: int) -> float:
    return 1 / (3 * fan_in)


def _xavier_var(fan_in: int, fan_out: int, gain: float) -> float:
    return gain ** 2 * 2 / (fan_in + fan_out)


def _he_var(fan_in: int, fan_out: int, a: float) -> float:
    return 2 / ((1 + a * a) * fan_in)


def _lecun_var(fan_in: int, fan_out: int) -> float:
    return 1 / fan_in


_MODES = ("fan_in", "fan_out", "fan_avg")
_DISTRIBUTIONS = ("normal", "truncated_normal", "uniform")


def _variance_scaling_var(fan_in: int, fan_out: int, scale: float, mode: str, distribution: str) -> float:
    return scale / {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]


def _normal_var_(tensor: Tensor, var: float, generator: Generator) -> Tensor:
    with torch.no_grad():
        return tensor.normal_(0.0, math.sqrt(var), generator=generator)


def _uniform_var_(tensor: Tensor, var: float, generator: Generator) -> Tensor:
    a = math.sqrt(3 * var)  # U(-a, a) has variance a²/3
    with torch.no_grad():
        return tensor.uniform_(-a, a, generator=generator)


# --- the initialisers ------------------------------------------------------------------------------

def zeros_(tensor: Tensor, *, generator: Generator = None) -> Tensor:
    """Fill with 0."""
    with torch.no_grad():
        return tensor.zero_()


def constant_(tensor: Tensor, value: float = 0.0, *, generator: Generator = None) -> Tensor:
    """Fill with ``value``."""
    OFFSET_LIMIT.check("init constant value", value)
    with torch.no_grad():
        return tensor.fill_(float(value))


def normal_(tensor: Tensor, std: float = 1.0, mean: float = 0.0, *, generator: Generator = None) -> Tensor:
    """Draw from :math:`\\mathcal{N}(\\text{mean}, \\text{std}^2)`."""
    SCALE_LIMIT.check("init normal std", std)
    OFFSET_LIMIT.check("init normal mean", mean)
    with torch.no_grad():
        return tensor.normal_(float(mean), float(std), generator=generator)


def uniform_(tensor: Tensor, a: float = 1.0, *, generator: Generator = None) -> Tensor:
    """Draw from :math:`\\mathcal{U}(-a, a)` (variance :math:`a^2/3`)."""
    SCALE_LIMIT.check("init uniform a", a)
    with torch.no_grad():
        return tensor.uniform_(-float(a), float(a), generator=generator)


def glorot_standard_(tensor: Tensor, *, generator: Generator = None) -> Tensor:
    """The "standard" init of Glorot & Bengio (2010), eq. 1:
    :math:`\\mathcal{U}[-1/\\sqrt{n_{in}}, 1/\\sqrt{n_{in}}]`, variance :math:`1/(3 n_{in})`.
    """
    return _uniform_var_(tensor, _glorot_standard_var(*fans(tensor)), generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, *, generator: Generator = None) -> Tensor:
    """Glorot & Bengio (2010) normalised init: :math:`\\mathrm{Var}(W) = g^2 \\cdot 2/(n_{in}+n_{out})`."""
    SCALE_LIMIT.check("init xavier_normal gain", gain)
    return _normal_var_(tensor, _xavier_var(*fans(tensor), gain), generator)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, *, generator: Generator = None) -> Tensor:
    """Glorot & Bengio (2010) eq. 16: :math:`\\mathcal{U}[\\pm g\\sqrt{6/(n_{in}+n_{out})}]`."""
    SCALE_LIMIT.check("init xavier_uniform gain", gain)
    return _uniform_var_(tensor, _xavier_var(*fans(tensor), gain), generator)


def he_normal_(tensor: Tensor, a: float = 0.0, *, generator: Generator = None) -> Tensor:
    """He et al. (2015), "Delving deep into rectifiers": :math:`\\mathrm{Var}(W) = 2/((1+a^2) n_{in})`,
    ``a`` the negative slope of a leaky ReLU (0 for ReLU)."""
    OFFSET_LIMIT.check("init he_normal a", a)
    return _normal_var_(tensor, _he_var(*fans(tensor), a), generator)


def he_uniform_(tensor: Tensor, a: float = 0.0, *, generator: Generator = None) -> Tensor:
    """He et al. (2015), uniform form: :math:`\\mathcal{U}[\\pm\\sqrt{6/((1+a^2) n_{in})}]`."""
    OFFSET_LIMIT.check("init he_uniform a", a)
    return _uniform_var_(tensor, _he_var(*fans(tensor), a), generator)


def lecun_normal_(tensor: Tensor, *, generator: Generator = None) -> Tensor:
    """LeCun et al. (1998), "Efficient BackProp": :math:`\\mathrm{Var}(W) = 1/n_{in}`."""
    return _normal_var_(tensor, _lecun_var(*fans(tensor)), generator)


def lecun_uniform_(tensor: Tensor, *, generator: Generator = None) -> Tensor:
    """LeCun et al. (1998), uniform form: :math:`\\mathcal{U}[\\pm\\sqrt{3/n_{in}}]`."""
    return _uniform_var_(tensor, _lecun_var(*fans(tensor)), generator)


def orthogonal_(tensor: Tensor, gain: float = 1.0, *, generator: Generator = None) -> Tensor:
    """Saxe et al. (2014): a (semi-)orthogonal matrix times ``gain`` (QR of a Gaussian matrix)."""
    SCALE_LIMIT.check("init orthogonal gain", gain)
    fans(tensor)
    with torch.no_grad():
        return torch.nn.init.orthogonal_(tensor, gain=float(gain), generator=generator)


def variance_scaling_(tensor: Tensor, scale: float = 1.0, mode: str = "fan_in", distribution: str = "normal",
                      *, generator: Generator = None) -> Tensor:
    """Keras' VarianceScaling: :math:`\\mathrm{Var}(W) = s / n` with
    :math:`n` = fan_in, fan_out or their average.

    ``truncated_normal`` cuts at two standard deviations and rescales so the variance
    is still :math:`s/n`.
    """
    VARIANCE_LIMIT.check("init variance_scaling scale", scale)
    if mode not in _MODES:
        raise ConfigError("init variance_scaling mode", mode, _MODES)
    if distribution not in _DISTRIBUTIONS:
        raise ConfigError("init variance_scaling distribution", distribution, _DISTRIBUTIONS)
    var = _variance_scaling_var(*fans(tensor), scale, mode, distribution)
    if distribution == "normal":
        return _normal_var_(tensor, var, generator)
    if distribution == "uniform":
        return _uniform_var_(tensor, var, generator)
    with torch.no_grad():
        s = math.sqrt(var) / _TRUNC_STD
        return torch.nn.init.trunc_normal_(tensor, 0.0, s, -2 * s, 2 * s, generator=generator)


# --- the registry ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Initializer:
    """A registered initialiser.

    ``fn(tensor, **params, generator=None)`` fills ``tensor`` in place;
    ``second_moment(fan_in, fan_out, **params)`` is :math:`\\mathbb E[W_{ij}^2]` of what it draws for a
    ``(fan_out, fan_in)`` weight (all params given: see :meth:`bind`).
    """

    name: str
    fn: Callable[..., Tensor]
    second_moment: Callable[..., float]

    @property
    def params(self) -> list[str]:
        """The spec keys this initialiser takes (the tensor and the generator are not spec keys)."""
        return [p for p in list(inspect.signature(self.fn).parameters)[1:] if p != "generator"]

    def bind(self, params: dict[str, Any], field: str = "init") -> dict[str, Any]:
        """``params`` with every default filled in; an unknown key raises a one-line ConfigError."""
        for key in params:
            if key not in self.params:
                raise ConfigError(f"{field} {self.name} parameter", key,
                                  f"parameters allowed: {', '.join(self.params) or 'none'}")
        bound = inspect.signature(self.fn).bind_partial(None, **params)
        bound.apply_defaults()
        return {k: v for k, v in list(bound.arguments.items())[1:] if k != "generator"}


INITS: Registry[Initializer] = Registry("init")

for _fn, _moment in (
    (zeros_, lambda fi, fo: 0.0),
    (constant_, lambda fi, fo, value: value ** 2),  # not random: mean-field describes it only loosely
    (normal_, lambda fi, fo, std, mean: std ** 2 + mean ** 2),
    (uniform_, lambda fi, fo, a: a ** 2 / 3),
    (glorot_standard_, _glorot_standard_var),
    (xavier_normal_, _xavier_var),
    (xavier_uniform_, _xavier_var),
    (he_normal_, _he_var),
    (he_uniform_, _he_var),
    (lecun_normal_, _lecun_var),
    (lecun_uniform_, _lecun_var),
    # (semi-)orthogonal: its squared entries sum to gain² · min(fi, fo); not Gaussian, but in a wide
    # net it preserves norms as σ_w² = gain² (square) predicts
    (orthogonal_, lambda fi, fo, gain: gain ** 2 / max(fi, fo)),
    (variance_scaling_, _variance_scaling_var),
):
    _name = _fn.__name__.rstrip("_")
    INITS.add(_name, Initializer(_name, _fn, _moment))


def get_init(spec: str, field: str = "init") -> Callable[..., Tensor]:
    """Resolve an init spec into ``f(tensor, generator=None) -> tensor`` (in place).

    The spec's numbers are checked now, on a ``meta`` tensor: validating draws nothing.

    >>> w = torch.empty(64, 32)
    >>> _ = get_init("variance_scaling:scale=2,mode=fan_in")(w, generator=torch.Generator().manual_seed(0))
    """
    parsed = parse_spec(spec, field)
    if parsed.name == CRITICAL and field == "init":
        raise ConfigError(field, spec, "an init spec the networks can draw: 'critical' depends on the "
                          "activation, resolve it first with vanishing.config.resolve_init(init, activation)")
    if parsed.name not in INITS:
        raise ConfigError(field, parsed.name, INITS.names() + ([CRITICAL] if field == "init" else []))
    init = INITS.get(parsed.name, field)
    fn = partial(init.fn, **init.bind(dict(parsed.params), field))
    # validate numbers now (at the boundary), not at the first layer
    try:
        fn(torch.empty(4, device="meta") if field == "bias_init" else torch.empty(4, 4, device="meta"))
    except ConfigError as e:
        if e.field != "init":  # a bad parameter value: its own message names it
            raise
        raise ConfigError(field, spec, e.allowed) from None
    return fn
