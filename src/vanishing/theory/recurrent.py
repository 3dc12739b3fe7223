r"""Mean-field theory through time: how fast a vanilla RNN forgets, before any training.

A vanilla RNN computes :math:`z_t = W h_{t-1} + U x_t + b`, :math:`h_t = \phi(z_t)`, :math:`h_0 = 0`, with
:math:`W_{ij} \sim \mathcal N(0, \sigma_w^2/n)`, :math:`U_{ij} \sim \mathcal N(0, \sigma_u^2/n_{in})` and
:math:`\mathbb E[b_i^2] = \sigma_b^2`. In the wide limit the input enters every step like extra bias
noise (Chen, Pennington & Schoenholz 2018), so the time steps follow the layer map of
:mod:`~vanishing.theory.meanfield` with an effective bias variance:

.. math::

    q_t = \sigma_w^2\,\mathbb E[\phi(\sqrt{q_{t-1}}z)^2] + \sigma_u^2 q_x + \sigma_b^2,
    \qquad q_1 = \sigma_u^2 q_x + \sigma_b^2,

with :math:`q_x` the mean square of the input features. Backwards, the gradient of a loss read at the
last step passes from :math:`h_t` to :math:`h_{t-1}` through :math:`W^\top \mathrm{diag}(\phi'(z_t))`:

.. math::

    \frac{\|\partial L/\partial h_{t-1}\|^2}{\|\partial L/\partial h_t\|^2} \approx
    \chi_1 = \sigma_w^2\,\mathbb E[\phi'(\sqrt{q^*}z)^2], \qquad
    \xi = -\frac{2}{\ln\chi_1}\ \text{time steps per e-fold of } \|\partial L/\partial h_t\|.

:math:`\xi` is twice the layer depth scale :math:`\xi_\nabla` of :func:`~vanishing.theory.depth_scale`
because it counts e-folds of the norm, as :func:`vanishing.results.timeaxis.fit_decay` measures it.
An orthogonal :math:`W` (gain g) has the same first moments as a Gaussian one with
:math:`\sigma_w^2 = g^2`; an identity :math:`W` does not give Gaussian pre-activations, and gated cells
(LSTM, GRU) are not this map: for those no prediction is made.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Mapping

import numpy as np

from ..errors import ConfigError, VanishingError
from ..spec import parse_spec
from ._activation import mean_field_activation
from .meanfield import Phase, chi1, depth_scale, phase, q_star, variance_map
from .scales import sigma_b2_of_init, sigma_w2_of_init

__all__ = ["RecurrentPrediction", "time_scale", "predict_recurrent", "predict_rnn_config",
           "NO_RECURRENT_THEORY"]

NO_RECURRENT_THEORY = ("lstm", "gru")
"""Cells whose gates are not the vanilla map: the theory makes no prediction for them."""


def time_scale(chi: float | np.ndarray) -> float | np.ndarray:
    r""":math:`\xi = -2/\ln\chi_1`: time steps per e-fold of the gradient *norm* (``inf`` at χ₁ = 1,
    negative when it grows).

    >>> round(time_scale(math.exp(-0.2)), 9)
    10.0
    """
    xi = depth_scale(chi)
    return 2.0 * xi


@dataclass(frozen=True)
class RecurrentPrediction:
    """Mean-field prediction for a vanilla RNN at init; arrays are indexed by time step, 0 = first input."""

    activation: str
    sigma_w2: float
    """Recurrent σ_w² = n · E[W_ij²]."""
    sigma_u2: float
    """Input σ_u² = n_in · E[U_ij²]."""
    sigma_b2: float
    """E[b_i²] (both biases of an ``nn.RNNCell`` together: b_ih + b_hh)."""
    input_q: float
    """Mean square of the input features, q_x."""
    q_star: float
    chi1: float
    """Per-step factor on ‖∂L/∂h_t‖² at q*."""
    xi: float
    """Time steps per e-fold of ‖∂L/∂h_t‖ (``inf``: critical; < 0: exploding)."""
    phase: Phase
    q: np.ndarray
    """(T,) pre-activation variance q_t from h_0 = 0; empty when no length was given."""
    log10_grad_norm: np.ndarray
    """(T,) predicted log10 ‖∂L/∂h_t‖ / ‖∂L/∂h_{T-1}‖ for a loss read at the last step (0 there)."""

    @property
    def sigma_b2_effective(self) -> float:
        """σ_u² q_x + σ_b²: what the input adds to every step's pre-activation variance."""
        return self.sigma_u2 * self.input_q + self.sigma_b2

    @property
    def gain(self) -> float:
        """Per-step norm gain √χ₁."""
        return math.sqrt(self.chi1)

    def reach(self, threshold: float = 1e-6) -> float:
        """Steps back from the last step at which the gradient norm falls to ``threshold`` of its size
        there: ξ · ln(1/threshold); ``inf`` when it does not shrink."""
        if not 0 < threshold < 1:
            raise ConfigError("threshold", threshold, "a number between 0 and 1")
        return self.xi * math.log(1 / threshold) if 0 < self.xi < math.inf else math.inf

    def orders_through_time(self, length: int) -> float:
        """log10 of ‖∂L/∂h‖ at the last step over that ``length - 1`` steps earlier (> 0: vanishing)."""
        return (length - 1) * -math.log10(self.chi1) / 2 if self.chi1 > 0 else math.inf

    def to_dict(self) -> dict[str, Any]:
        d = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in asdict(self).items()}
        d["sigma_b2_effective"] = self.sigma_b2_effective
        return d


def _number(name: str, value: Any, allowed: str = "a finite number >= 0") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) \
            or not math.isfinite(value) or value < 0:
        raise ConfigError(name, value, allowed)
    return float(value)


def predict_recurrent(activation: str, sigma_w2: float, sigma_b2: float = 0.0, sigma_u2: float = 1.0,
                      input_q: float = 1.0, length: int | None = None) -> RecurrentPrediction:
    """Predict q*, χ₁ and ξ of a vanilla RNN, and with ``length`` the per-step q_t and gradient profile.

    Example:
        >>> p = predict_recurrent("tanh", sigma_w2=1.1, sigma_b2=0.0, sigma_u2=1.0, input_q=0.05)
        >>> p.phase, round(p.xi, 2)
        ('ordered', 9.23)
    """
    act = mean_field_activation(activation)
    sw = _number("sigma_w2", sigma_w2)
    sb = _number("sigma_b2", sigma_b2)
    su = _number("sigma_u2", sigma_u2)
    qx = _number("input_q", input_q)
    eff = su * qx + sb
    qs = float(q_star(act.spec, sw, eff, q0=max(eff, 1e-12)))
    x1 = float(chi1(act.spec, sw, eff, q=qs))
    q = np.zeros(0)
    log_norm = np.zeros(0)
    if length is not None:
        if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 1:
            raise ConfigError("length", length, "an integer >= 1 (time steps)")
        q = np.empty(int(length))
        q[0] = eff
        for t in range(1, len(q)):
            q[t] = float(variance_map(act.spec, sw, eff, q[t - 1]))
        # h_t → h_{t-1} passes through φ'(z_t): the factor of step t uses q_t, t = 1 … T-1
        chi = np.asarray(chi1(act.spec, sw, eff, q=q[1:]), dtype=float).reshape(-1)
        with np.errstate(divide="ignore"):
            log_norm = np.append(np.cumsum(np.log10(chi)[::-1])[::-1] / 2, 0.0)
        for array in (q, log_norm):
            array.setflags(write=False)
    return RecurrentPrediction(act.spec, sw, su, sb, qx, qs, x1, float(time_scale(x1)), phase(x1), q, log_norm)


def predict_rnn_config(config: Mapping[str, Any] | Any, input_q: float, in_features: int,
                       length: int | None = None) -> RecurrentPrediction:
    """:func:`predict_recurrent` for a run config of a vanilla RNN (``model`` ``rnn`` or ``irnn``).

    Reads ``model``, ``hidden``, ``rnn_activation``, ``recurrent_init`` and ``input_init`` (a mapping or an
    object with those attributes), with the defaults of :func:`vanishing.nets.rnn.build_rnn`: an init left
    ``None`` is PyTorch's own U(−1/√H, 1/√H) (σ_w² = 1/3, σ_u² = n_in/(3H)); both biases are drawn from
    it too (σ_b² = 2/(3H)), except an ``irnn``'s, which are 0. Raises :class:`VanishingError` where the
    theory does not apply: gated cells, an identity recurrent init (the ``irnn`` default).
    """
    get = config.get if isinstance(config, Mapping) else (lambda k, d=None: getattr(config, k, d))
    model = get("model", "rnn") or "rnn"
    if model in NO_RECURRENT_THEORY:
        raise VanishingError(f"no mean-field time scale for model {model!r}: its gates are not the vanilla "
                             "map (theory covers model rnn and irnn with a random recurrent init)")
    hidden = get("hidden")
    if not isinstance(hidden, int) or isinstance(hidden, bool) or hidden < 1:
        raise ConfigError("hidden", hidden, "an integer >= 1")
    if not isinstance(in_features, int) or isinstance(in_features, bool) or in_features < 1:
        raise ConfigError("in_features", in_features, "an integer >= 1")
    activation = get("rnn_activation") or ("relu" if model == "irnn" else "tanh")
    rec = get("recurrent_init") or ("identity" if model == "irnn" else None)
    if rec is not None and parse_spec(str(rec), "recurrent_init").name == "identity":
        raise VanishingError("no mean-field time scale for an identity recurrent init: W h is not a Gaussian "
                             "field, so the mean-field map does not describe it (theory covers random inits)")
    torch_default = 1.0 / 3.0  # n · E[U(−1/√H, 1/√H)²] = n / (3H), per fan-in n = H
    sw = torch_default if rec is None else sigma_w2_of_init(str(rec), hidden, hidden, activation)
    inp = get("input_init") or ("normal:std=0.001" if model == "irnn" else None)
    su = in_features / (3.0 * hidden) if inp is None else sigma_w2_of_init(str(inp), in_features, hidden, activation)
    sb = 0.0 if model == "irnn" else 2.0 / (3.0 * hidden)
    return predict_recurrent(activation, sw, sb, su, input_q, length)
