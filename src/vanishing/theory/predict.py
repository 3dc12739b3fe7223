r"""Predicted gradient flow of a deep MLP config, layer by layer, before any training.

Weight layer :math:`l` (input side first, :math:`l = 0 \dots L-1`) outputs :math:`z_l` with per-unit
variance :math:`q_l`: :math:`q_0 = \sigma_{w,0}^2 q_x + \sigma_b^2` from the inputs' mean square
:math:`q_x`, then :math:`q_{l+1} = \sigma_w^2\,\mathbb E[\phi(\sqrt{q_l}z)^2] + \sigma_b^2`. Backwards,

.. math::

    \frac{\|\partial L/\partial z_l\|^2}{\|\partial L/\partial z_{l+1}\|^2} \approx
    \chi_l = \sigma_{w,l+1}^2\,\mathbb E[\phi'(\sqrt{q_l}z)^2],

the squared gain of one layer (its norm gain is :math:`\sqrt{\chi_l}`). Starting from the input's q
rather than :math:`q^*` matters in the first layers, before q settles.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass
from typing import Any, Mapping

import numpy as np

from ..errors import ConfigError, VanishingError
from ._activation import mean_field_activation
from .meanfield import Phase, chi1, critical_sigma_w2, depth_scale, phase, q_star, variance_map
from .scales import sigma_b2_of_init, sigma_w2_of_init

__all__ = ["Prediction", "predict_gains", "predict"]


@dataclass(frozen=True)
class Prediction:
    """Mean-field prediction for one network config; arrays are input side first."""

    activation: str
    depth: int
    sigma_w2: float
    """σ_w² of the hidden (width → width) layers."""
    sigma_b2: float
    sigma_w2_first: float
    sigma_w2_readout: float
    q: np.ndarray
    """(L,) pre-activation variance per unit of each weight layer's output."""
    chi: np.ndarray
    """(L-1,) predicted squared gain ‖∂L/∂z_l‖² / ‖∂L/∂z_{l+1}‖²."""
    log10_grad_norm: np.ndarray
    """(L,) predicted log10 ‖∂L/∂z_l‖ / ‖∂L/∂z_{L-1}‖ (0 at the read-out)."""
    orders_lost: float
    """log10 of ‖∂L/∂z‖ at the read-out over that at the first layer (> 0: vanishing)."""
    q_star: float
    chi1: float
    depth_scale: float
    phase: Phase
    critical_sigma_w2: float | None
    """σ_w² that would make χ₁ = 1 at this σ_b², or None where no critical point exists."""

    @property
    def gain(self) -> np.ndarray:
        """(L-1,) predicted per-layer norm gain √χ."""
        return np.sqrt(self.chi)

    def to_dict(self) -> dict[str, Any]:
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in asdict(self).items()}


def _positive_int(name: str, value: Any) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ConfigError(name, value, "an integer >= 1")
    return int(value)


def predict_gains(activation: str, init: str, bias_init: str, depth: int, width: int, in_features: int,
                  q0: float = 1.0, out_features: int | None = None) -> Prediction:
    """Predict every layer's squared gradient gain of ``build_mlp(in_features, out_features, depth, width, ...)``.

    A prediction is a pure function of its arguments: the last few thousand are kept (their arrays are
    read-only), since a diagnosis asks for the same fix configs several times and runs that differ only
    in seed or learning rate share one.

    Args:
        q0: mean square of the input features (1 for standardised inputs).
        out_features: read-out width; only the read-out's σ_w² (fan-averaging inits) depends on it.
            Defaults to ``width``.

    Example:
        >>> p = predict_gains("tanh", "xavier_normal", "zeros", depth=20, width=256, in_features=256)
        >>> p.phase, round(p.orders_lost, 1)
        ('critical', 0.7)
    """
    args = (activation, init, bias_init, depth, width, in_features, q0, out_features)
    try:
        hash(args)
    except TypeError:  # not a cacheable argument: validated (and refused) below
        return _predict_gains(*args)
    return _cached_gains(*args)


def _predict_gains(activation: str, init: str, bias_init: str, depth: int, width: int, in_features: int,
                   q0: float = 1.0, out_features: int | None = None) -> Prediction:
    act = mean_field_activation(activation)
    depth, width, in_features = (_positive_int(n, v) for n, v in
                                 (("depth", depth), ("width", width), ("in_features", in_features)))
    out = width if out_features is None else _positive_int("out_features", out_features)
    if isinstance(q0, bool) or not isinstance(q0, (int, float)) or not math.isfinite(q0) or q0 < 0:
        raise ConfigError("q0", q0, "a finite number >= 0 (mean square of the input features)")
    sw_first = sigma_w2_of_init(init, in_features, width, act.spec)
    sw = sigma_w2_of_init(init, width, width, act.spec)
    sw_out = sigma_w2_of_init(init, width, out, act.spec)
    sb = sigma_b2_of_init(bias_init)

    # weight layer l + 1 reads layer l's activations: σ_w² of the layer above, q of this one
    sw_above = np.array([sw] * (depth - 2) + [sw_out])[: depth - 1]
    q = np.empty(depth)
    q[0] = sw_first * q0 + sb
    for l in range(depth - 1):
        q[l + 1] = variance_map(act.spec, sw_above[l], sb, q[l])
    chi = np.asarray(chi1(act.spec, sw_above, sb, q=q[:-1]), dtype=float).reshape(depth - 1)
    with np.errstate(divide="ignore"):
        log10_norm = np.append(np.cumsum(np.log10(chi)[::-1])[::-1] / 2, 0.0)
    qs = float(q_star(act.spec, sw, sb))
    x1 = float(chi1(act.spec, sw, sb, q=qs))
    try:
        crit: float | None = critical_sigma_w2(act.spec, sb)
    except ConfigError:
        crit = None
    for array in (q, chi, log10_norm):
        array.setflags(write=False)  # shared by every caller of the cache
    return Prediction(act.spec, depth, sw, sb, sw_first, sw_out, q, chi, log10_norm,
                      0.0 - float(log10_norm[0]), qs, x1, float(depth_scale(x1)), phase(x1), crit)


_cached_gains = functools.lru_cache(maxsize=4096)(_predict_gains)


_KEYS = ("activation", "init", "bias_init", "depth", "width", "in_features")


def predict(config: Mapping[str, Any] | Any, q0: float = 1.0, **overrides: Any) -> Prediction:
    """:func:`predict_gains` for a config given as a mapping or an object with those attributes
    (``RunConfig``, ``trace.meta["config"]``); ``overrides`` fill in or replace keys
    (e.g. ``in_features=64``, ``out_features=10``).
    """
    get = config.get if isinstance(config, Mapping) else (lambda k, d=None: getattr(config, k, d))
    if get("model") not in (None, "mlp"):
        raise VanishingError(f"the layer-by-layer prediction covers MLPs, not model {get('model')!r}; a vanilla "
                             "RNN's time scale is theory.predict_rnn_config")
    values = {k: get(k) for k in (*_KEYS, "out_features")}
    values.update(overrides)
    missing = [k for k in _KEYS if values.get(k) is None]
    if missing:
        raise ConfigError("config", f"missing {', '.join(missing)}", "a config with " + ", ".join(_KEYS))
    return predict_gains(values["activation"], values["init"], values["bias_init"], values["depth"],
                         values["width"], values["in_features"], q0=q0, out_features=values["out_features"])
