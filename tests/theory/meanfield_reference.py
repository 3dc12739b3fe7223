"""An independent mean-field reference for the theory tests.

Activations written out from their formulas with ``math``/``scipy.special`` (a test checks them
against the registry), expectations by ``scipy.integrate.quad`` (adaptive), fixed points by
``scipy.optimize.brentq``: nothing here shares code with ``vanishing.theory``.
"""

from __future__ import annotations

import math
import warnings
from typing import Callable

from scipy import integrate, optimize, special

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

Scalar = Callable[[float], float]


def _elu(x: float, alpha: float) -> float:
    return x if x > 0 else alpha * math.expm1(x)


def _elu_d(x: float, alpha: float) -> float:
    return 1.0 if x > 0 else alpha * math.exp(x)


def _Phi(x: float) -> float:
    return 0.5 * special.erfc(-x / math.sqrt(2))


def _phi(x: float) -> float:
    return math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def functions(spec: str) -> tuple[Scalar, Scalar]:
    """(φ, φ') of an activation spec, scalar float → float."""
    name, _, rest = spec.partition(":")
    p = {k: float(v) for k, v in (kv.split("=") for kv in rest.split(",") if kv)}
    ns, alpha, beta = p.get("negative_slope", 0.01), p.get("alpha", 1.0), p.get("beta", 1.0)
    table: dict[str, tuple[Scalar, Scalar]] = {
        "sigmoid": (special.expit, lambda x: special.expit(x) * (1 - special.expit(x))),
        "tanh": (math.tanh, lambda x: 1 - math.tanh(x) ** 2),
        "hardtanh": (lambda x: max(-1.0, min(1.0, x)), lambda x: 1.0 if -1 < x < 1 else 0.0),
        "softsign": (lambda x: x / (1 + abs(x)), lambda x: 1 / (1 + abs(x)) ** 2),
        "relu": (lambda x: max(x, 0.0), lambda x: 1.0 if x > 0 else 0.0),
        "leaky_relu": (lambda x: x if x > 0 else ns * x, lambda x: 1.0 if x > 0 else ns),
        "elu": (lambda x: _elu(x, alpha), lambda x: _elu_d(x, alpha)),
        "selu": (lambda x: SELU_SCALE * _elu(x, SELU_ALPHA), lambda x: SELU_SCALE * _elu_d(x, SELU_ALPHA)),
        "gelu": (lambda x: x * _Phi(x), lambda x: _Phi(x) + x * _phi(x)),
        "silu": (lambda x: x * special.expit(x),
                 lambda x: special.expit(x) * (1 + x * (1 - special.expit(x)))),
        "softplus": (lambda x: (max(beta * x, 0.0) + math.log1p(math.exp(-abs(beta * x)))) / beta,
                     lambda x: special.expit(beta * x)),
        "linear": (lambda x: x, lambda x: 1.0),
    }
    return table[name]


_CUTS = (0.0, 0.25, -0.25, 1.0, -1.0, 4.0, -4.0, 16.0, -16.0)  # in x: kinks (0, ±1) and feature scales


def expect(f: Scalar, q: float, mean: float = 0.0) -> float:
    """E[f(mean + √q z)] by adaptive quadrature over z, split where f may bend."""
    s = math.sqrt(q)
    zs = sorted({-12.0, 12.0} | {(x - mean) / s for x in _CUTS if abs((x - mean) / s) < 12})

    def g(z: float) -> float:
        return f(mean + s * z) * _phi(z)

    total = 0.0
    with warnings.catch_warnings():  # quad warns when 1e-11 is below what float64 round-off allows
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        for a, b in zip(zs[:-1], zs[1:]):
            total += integrate.quad(g, a, b, epsabs=0, epsrel=1e-11, limit=200)[0]
    return total


def q_star(spec: str, sw: float, sb: float, q0: float = 1.0) -> float:
    """The fixed point reached from q0: walk by factors of 2 to a sign change, then brentq."""
    phi, _ = functions(spec)

    def h(q: float) -> float:
        return sw * expect(lambda x: phi(x) ** 2, q) + sb - q

    if h(q0) > 0:
        lo = q0
        while h(2 * lo) > 0:
            lo *= 2
            if lo > 1e6:  # beyond this the library's answer (∞ above 1e12) is checked elsewhere
                return math.inf
        return optimize.brentq(h, lo, 2 * lo, xtol=1e-300, rtol=1e-13)
    hi = q0
    while h(hi / 2) <= 0:
        hi /= 2
        if hi < 1e-11:
            return 0.0
    return optimize.brentq(h, hi / 2, hi, xtol=1e-300, rtol=1e-13)


def chi1(spec: str, sw: float, q: float) -> float:
    _, dphi = functions(spec)
    if math.isinf(q):
        return sw * (dphi(1e8) ** 2 + dphi(-1e8) ** 2) / 2
    return sw * expect(lambda x: dphi(x) ** 2, q)
