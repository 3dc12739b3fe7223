"""‖W_after − W_before‖ / ‖W_before‖ of each layer across the optimizer step."""

from .base import Quantity, UpdateReading, per_layer, register


def update_ratio(r: UpdateReading):
    return (per_layer(r.delta.norms(), r.delta.layer, r.layers)
            / per_layer(r.before.norms(), r.before.layer, r.layers))


QUANTITY = register(Quantity("update_ratio", "update", __doc__.strip(), update_ratio, needs=("before", "delta"),
                             norms_only=True))
