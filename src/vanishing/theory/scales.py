r"""From init specs to the mean-field weight and bias variances.

The theory needs :math:`\sigma_w^2 = n_{in}\,\mathrm{Var}(W_{ij})` and :math:`\sigma_b^2 = \mathbb E[b_i^2]`.
Each registered initialiser's per-entry second moment is written here next to its name; a test
checks every entry against the initialiser itself, so the two cannot drift apart.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

from ..errors import ConfigError
from ..nets.inits import INITS, get_init
from ..spec import parse_spec
from .meanfield import critical_sigma_w2

__all__ = ["sigma_w2_of_init", "sigma_b2_of_init"]

# per-entry E[W_ij²] of a (fan_out, fan_in) weight
_SECOND_MOMENT: dict[str, Callable[..., float]] = {
    "zeros": lambda fi, fo: 0.0,
    "constant": lambda fi, fo, value: value ** 2,  # not random: mean-field describes it only loosely
    "normal": lambda fi, fo, std, mean: std ** 2 + mean ** 2,
    "uniform": lambda fi, fo, a: a ** 2 / 3,
    "glorot_standard": lambda fi, fo: 1 / (3 * fi),
    "xavier_normal": lambda fi, fo, gain: gain ** 2 * 2 / (fi + fo),
    "xavier_uniform": lambda fi, fo, gain: gain ** 2 * 2 / (fi + fo),
    "he_normal": lambda fi, fo, a: 2 / ((1 + a * a) * fi),
    "he_uniform": lambda fi, fo, a: 2 / ((1 + a * a) * fi),
    "lecun_normal": lambda fi, fo: 1 / fi,
    "lecun_uniform": lambda fi, fo: 1 / fi,
    # (semi-)orthogonal: its squared entries sum to gain² · min(fi, fo); not Gaussian, but in a wide
    # net it preserves norms as σ_w² = gain² (square) predicts
    "orthogonal": lambda fi, fo, gain: gain ** 2 / max(fi, fo),
    "variance_scaling": lambda fi, fo, scale, mode, distribution: scale / {
        "fan_in": fi, "fan_out": fo, "fan_avg": (fi + fo) / 2}[mode],
    "critical": lambda fi, fo, activation, sigma_b2: critical_sigma_w2(activation, sigma_b2) / fi,
}

_FAN_FREE = ("zeros", "constant", "normal", "uniform")


def _second_moment(spec: str, fan_in: int, fan_out: int, activation: str | None, field: str) -> float:
    # validates names and values (one-line errors) without drawing from torch's global generator: a
    # stored run's diagnosis (theory included) is computed in a sweep's main thread while the
    # driver's slot seeds and initialises networks in another
    get_init(spec, activation=activation, field=field, check_on="meta")
    parsed = parse_spec(spec, field)
    if parsed.name not in _SECOND_MOMENT:
        raise ConfigError(field, spec, "an init whose variance the theory knows: " + ", ".join(_SECOND_MOMENT))
    fn = INITS.get(parsed.name, field).fn
    params = dict(parsed.params)
    if "activation" in inspect.signature(fn).parameters:
        if activation is None:
            raise ConfigError("activation", None, f"an activation spec: init {parsed.name!r} depends on it")
        params["activation"] = activation
    bound = inspect.signature(fn).bind(None, **params)
    bound.apply_defaults()
    kwargs: dict[str, Any] = dict(list(bound.arguments.items())[1:])
    return float(_SECOND_MOMENT[parsed.name](fan_in, fan_out, **kwargs))


def sigma_w2_of_init(init: str, fan_in: int, fan_out: int | None = None, activation: str | None = None) -> float:
    """:math:`\\sigma_w^2 = n_{in}\\,\\mathbb E[W_{ij}^2]` of a weight init spec.

    Args:
        fan_out: defaults to ``fan_in`` (a square hidden layer).
        activation: the layer's activation; needed by ``critical``.

    Example:
        >>> sigma_w2_of_init("he_normal", 64), sigma_w2_of_init("xavier_normal", 64)
        (2.0, 1.0)
    """
    for name, value in (("fan_in", fan_in), ("fan_out", fan_out if fan_out is not None else fan_in)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(name, value, "an integer >= 1")
    fo = fan_in if fan_out is None else fan_out
    return fan_in * _second_moment(init, fan_in, fo, activation, "init")


def sigma_b2_of_init(bias_init: str) -> float:
    """:math:`\\sigma_b^2 = \\mathbb E[b_i^2]` of a bias init spec (``constant:value=c`` counts as c²).

    >>> sigma_b2_of_init("zeros"), round(sigma_b2_of_init("normal:std=0.1"), 12)
    (0.0, 0.01)
    """
    name = parse_spec(bias_init, "bias_init").name
    if name not in _FAN_FREE:
        raise ConfigError("bias_init", bias_init, "a bias init: " + ", ".join(_FAN_FREE))
    return _second_moment(bias_init, 1, 1, None, "bias_init")
