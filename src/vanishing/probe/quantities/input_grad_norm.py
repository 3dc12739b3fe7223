"""‖∂L/∂x‖ sent through this layer only, x the layer's input (NaN where x needs no gradient)."""

from .base import Quantity, norm, register

QUANTITY = register(Quantity("input_grad_norm", "input", __doc__.strip(), norm))
