"""Number of NaN/Inf entries among each layer's gradients."""

import torch

from .base import GradReading, Quantity, all_finite, nonfinite_counts, per_layer, register, zeros_where_present


def nonfinite_grads(r: GradReading):
    w, b = r.weight_grads, r.bias_grads
    layer = w.layer + b.layer
    if not r.members and w.norms().device.type == "cpu" and all_finite(w) and all_finite(b):
        # a float64 norm of finite float32/16 entries is finite: nothing to count
        return zeros_where_present(layer, r.layers, w.norms().device)
    counts = torch.cat([nonfinite_counts(w), nonfinite_counts(b)], -1)
    return per_layer(counts, layer, r.layers, "sum")


QUANTITY = register(Quantity("nonfinite_grads", "grad", __doc__.strip(), nonfinite_grads,
                             needs=("weight_grads", "bias_grads"), norms_only=True))
