"""Fraction of units with φ' < 10 % of sup φ' on every example of the step (ReLU-like activations)."""

import torch

from .base import SATURATION_THRESHOLD, Quantity, register, units_max


def dead_fraction(d, act, members=False):
    """Each unit's largest φ' over the batch, relative to sup φ'; None for activations that do not die."""
    if act.kind != "relu_like":
        return None
    return units_max(d, members) / act.max_derivative()


def _finish(top, members=False):
    low = (top < SATURATION_THRESHOLD).to(torch.float64)
    return low.flatten(1).mean(1) if members else low.mean()


QUANTITY = register(Quantity("dead_fraction", "activation", __doc__.strip(), dead_fraction,
                             combine=torch.maximum, finish=_finish))
