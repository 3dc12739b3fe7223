"""‖∂L/∂W‖ of each layer's weights (root-sum-square over its weight tensors)."""

from .base import GradReading, Quantity, per_layer, register


def grad_norm(r: GradReading):
    return per_layer(r.weight_grads.norms(), r.weight_grads.layer, r.layers)


QUANTITY = register(Quantity("grad_norm", "grad", __doc__.strip(), grad_norm, needs=("weight_grads",),
                             norms_only=True))
