"""Fraction of φ' < 10 % of sup φ' (saturating activations: sigmoid, tanh, ...)."""

from .base import SATURATION_THRESHOLD, Quantity, add, count_below, ratio, register


def saturation(d, act, members=False):
    """(low entries, entries) of one call; None for activations that do not saturate."""
    if act.kind != "saturating":
        return None
    n = d[0].numel() if members else d.numel()
    return count_below(d, SATURATION_THRESHOLD * act.max_derivative(), members), n


QUANTITY = register(Quantity("saturation", "activation", __doc__.strip(), saturation,
                             combine=add, finish=lambda r, members=False: ratio(*r)))
