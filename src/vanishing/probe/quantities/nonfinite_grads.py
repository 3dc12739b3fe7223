"""Number of NaN/Inf entries among each layer's gradients."""

import torch

from .base import GradReading, Quantity, nonfinite_counts, per_layer, register


def nonfinite_grads(r: GradReading):
    w, b = r.weight_grads, r.bias_grads
    counts = torch.cat([nonfinite_counts(w), nonfinite_counts(b)], -1)
    return per_layer(counts, w.layer + b.layer, r.layers, "sum")


QUANTITY = register(Quantity("nonfinite_grads", "grad", __doc__.strip(), nonfinite_grads,
                             needs=("weight_grads", "bias_grads")))
