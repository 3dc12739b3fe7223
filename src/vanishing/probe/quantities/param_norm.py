"""‖W‖ of each layer's weights before the step's update."""

from .base import GradReading, Quantity, per_layer, register


def param_norm(r: GradReading):
    return per_layer(r.weights.norms(), r.weights.layer, r.layers)


QUANTITY = register(Quantity("param_norm", "grad", __doc__.strip(), param_norm, needs=("weights",),
                             norms_only=True))
