r"""From init specs to the mean-field weight and bias variances.

The theory needs :math:`\sigma_w^2 = n_{in}\,\mathrm{Var}(W_{ij})` and :math:`\sigma_b^2 = \mathbb E[b_i^2]`.
Each registered initialiser declares its per-entry second moment next to the code that draws with
it (:attr:`vanishing.inits.Initializer.second_moment`); ``critical`` is the theory's own:
:math:`\sigma_w^2` = :func:`~vanishing.theory.critical_sigma_w2` of the activation.
"""

from __future__ import annotations

import math

from ..errors import ConfigError
from ..inits import CRITICAL, INITS, get_init
from ..spec import parse_spec
from .meanfield import critical_sigma_w2

__all__ = ["sigma_w2_of_init", "sigma_b2_of_init"]

_FAN_FREE = ("zeros", "constant", "normal", "uniform")


def _critical_sigma_w2(spec: str, activation: str | None) -> float:
    """σ_w² of ``critical[:sigma_b2=v]`` for ``activation`` (validated: one-line ConfigErrors)."""
    params = dict(parse_spec(spec, "init").params)
    for key in params:
        if key != "sigma_b2":
            raise ConfigError("init critical parameter", key, "parameters allowed: sigma_b2")
    sigma_b2 = params.get("sigma_b2", 0.0)
    if isinstance(sigma_b2, bool) or not isinstance(sigma_b2, (int, float)) or not math.isfinite(sigma_b2) \
            or sigma_b2 < 0:
        raise ConfigError("init critical sigma_b2", sigma_b2, "a finite number >= 0")
    if activation is None:
        raise ConfigError("activation", None, f"an activation spec: init {CRITICAL!r} depends on it")
    try:
        return critical_sigma_w2(activation, sigma_b2)
    except ConfigError as e:
        if e.field != "sigma_b2":
            raise
        raise ConfigError("init critical sigma_b2", e.value, e.allowed) from None


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
    parsed = parse_spec(init, "init")
    if parsed.name == CRITICAL:
        return _critical_sigma_w2(init, activation)
    # validates names and values (one-line errors) on a meta tensor: nothing is drawn
    get_init(init, "init")
    entry = INITS.get(parsed.name, "init")
    return fan_in * float(entry.second_moment(fan_in, fo, **entry.bind(dict(parsed.params))))


def sigma_b2_of_init(bias_init: str) -> float:
    """:math:`\\sigma_b^2 = \\mathbb E[b_i^2]` of a bias init spec (``constant:value=c`` counts as c²).

    >>> sigma_b2_of_init("zeros"), round(sigma_b2_of_init("normal:std=0.1"), 12)
    (0.0, 0.01)
    """
    parsed = parse_spec(bias_init, "bias_init")
    if parsed.name not in _FAN_FREE:
        raise ConfigError("bias_init", bias_init, "a bias init: " + ", ".join(_FAN_FREE))
    get_init(bias_init, "bias_init")
    entry = INITS.get(parsed.name, "bias_init")
    return float(entry.second_moment(1, 1, **entry.bind(dict(parsed.params), "bias_init")))
