r"""Each layer's log10 backward gain split exactly into an activation part and a weight part.

With :math:`s_l = \|\partial L/\partial z_l\|` and :math:`g_l = \|\partial L/\partial x_l\|`
(``signal_grad_norm`` and ``input_grad_norm``, (S, L)):

.. math::
    \log_{10}\frac{s_{l-1}}{s_l} = \underbrace{\log_{10}\frac{s_{l-1}}{g_l}}_{\text{activation}}
    + \underbrace{\log_{10}\frac{g_l}{s_l}}_{\text{weights}}

The activation part of layer 0 is NaN.
"""

from __future__ import annotations

import numpy as np

from .base import Quantity, register

__all__ = ["attribution"]

_NEEDS = ("signal_grad_norm", "input_grad_norm")


def attribution(signal: np.ndarray, inp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(activation, weights)`` parts, each (S, L), from ``signal`` and ``inp`` (S, L)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        weights = np.log10(inp) - np.log10(signal)
        act = np.full_like(signal, np.nan)
        act[:, 1:] = np.log10(signal[:, :-1]) - np.log10(inp[:, 1:])
    return act, weights


register(Quantity("attribution_activation", "derived", "log10(signal_grad_norm[l-1] / input_grad_norm[l])",
                  lambda data: attribution(data[_NEEDS[0]], data[_NEEDS[1]])[0], requires=_NEEDS))
register(Quantity("attribution_weights", "derived", "log10(input_grad_norm[l] / signal_grad_norm[l])",
                  lambda data: attribution(data[_NEEDS[0]], data[_NEEDS[1]])[1], requires=_NEEDS))
