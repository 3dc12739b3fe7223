"""‖∂L/∂z‖, z the layer's output (whole batch; root-sum-square over calls and micro-batches)."""

from .base import Quantity, norm, register

QUANTITY = register(Quantity("signal_grad_norm", "signal", __doc__.strip(), norm))
