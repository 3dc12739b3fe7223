"""Networks: activation and initialiser registries and the deep MLP builder."""

from ..activations import ACTIVATIONS, Activation, BoundActivation, activation_from_module, get_activation
from .inits import INITS, Initializer, get_init
from .mlp import MLP, NORMS, build_mlp

__all__ = [
    "ACTIVATIONS", "Activation", "BoundActivation", "activation_from_module", "get_activation",
    "INITS", "Initializer", "get_init", "MLP", "NORMS", "build_mlp",
]
