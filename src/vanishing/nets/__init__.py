"""Networks: the deep MLP builder and the recurrent nets unrolled from cells (plain torch modules), with the
activation and initialiser registries."""

from ..activations import ACTIVATIONS, Activation, BoundActivation, activation_from_module, get_activation
from ..inits import INITS, Initializer, get_init
from .mlp import NORMS, Residual, build_mlp, weight_layers
from .rnn import RecurrentNet, build_rnn

__all__ = [
    "ACTIVATIONS", "Activation", "BoundActivation", "activation_from_module", "get_activation",
    "INITS", "Initializer", "get_init", "NORMS", "Residual", "build_mlp", "weight_layers",
    "RecurrentNet", "build_rnn",
]
