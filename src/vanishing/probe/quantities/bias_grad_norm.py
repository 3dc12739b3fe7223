"""‖∂L/∂b‖ of each layer's biases."""

from .base import GradReading, Quantity, per_layer, register


def bias_grad_norm(r: GradReading):
    return per_layer(r.bias_grads.norms(), r.bias_grads.layer, r.layers)


QUANTITY = register(Quantity("bias_grad_norm", "grad", __doc__.strip(), bias_grad_norm, needs=("bias_grads",),
                             norms_only=True))
