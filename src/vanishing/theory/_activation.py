"""A registered activation as the theory needs it: φ and φ' on float64 arrays, plus where φ' jumps.

The functions come from the activation registry (evaluated on float64 tensors), so the theory and
the networks cannot disagree about what "elu:alpha=0.5" is.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ..activations import BoundActivation, get_activation

Fn = Callable[[np.ndarray], np.ndarray]

# Points where φ or φ' is not smooth; quadrature splits its pieces there (an integrand with a kink
# inside a piece costs Gauss rules their exponential convergence).
_KINKS: dict[str, tuple[float, ...]] = {
    "hardtanh": (-1.0, 1.0),
    "softsign": (0.0,),
    "relu": (0.0,),
    "leaky_relu": (0.0,),
    "elu": (0.0,),
    "selu": (0.0,),
}


@dataclass(frozen=True)
class MeanFieldActivation:
    """φ and φ' on float64 arrays.

    ``kinks``: where φ' jumps or bends; ``scale``: the length in x on which φ varies near 0;
    ``slopes = (a₊, a₋)`` when φ(x) = a₊x for x > 0 and a₋x for x < 0 (closed forms apply).
    """

    spec: str
    phi: Fn
    dphi: Fn
    kinks: tuple[float, ...]
    scale: float
    slopes: tuple[float, float] | None


def _on_arrays(fn: Callable[[torch.Tensor], torch.Tensor]) -> Fn:
    def apply(x: np.ndarray) -> np.ndarray:
        return fn(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))).numpy()

    return apply


def _slopes(act: BoundActivation) -> tuple[float, float] | None:
    if act.name == "linear":
        return (1.0, 1.0)
    if act.name == "relu":
        return (1.0, 0.0)
    if act.name == "leaky_relu":
        return (1.0, act.params["negative_slope"])
    return None


def mean_field_activation(spec: str) -> MeanFieldActivation:
    """The theory's view of an activation spec such as ``"elu:alpha=0.5"`` (unknown name → ConfigError)."""
    return _cached(get_activation(spec).spec)


@functools.lru_cache(maxsize=None)
def _cached(spec: str) -> MeanFieldActivation:
    act = get_activation(spec)
    scale = 1.0 / act.params["beta"] if act.name == "softplus" else 1.0
    return MeanFieldActivation(spec, _on_arrays(act), _on_arrays(act.derivative),
                               _KINKS.get(act.name, ()), scale, _slopes(act))
