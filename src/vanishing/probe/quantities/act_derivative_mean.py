"""Mean φ' of the activation that follows the layer."""

import torch

from .base import Quantity, add, ratio, register


def act_derivative_mean(d, act, members=False):
    """(Σ φ', entries) of one call; a float32 (pairwise) sum is exact enough for a mean."""
    acc = None if d.dtype == torch.float64 else torch.float32
    total = d.flatten(1).sum(1, dtype=acc) if members else d.sum(dtype=acc)
    return total, (d[0].numel() if members else d.numel())


QUANTITY = register(Quantity("act_derivative_mean", "activation", __doc__.strip(), act_derivative_mean,
                             combine=add, finish=lambda r, members=False: ratio(*r)))
