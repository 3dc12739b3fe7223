"""Deep fully connected networks for reproducing vanishing gradients: plain ``nn.Sequential`` stacks.

A network of :func:`build_mlp` is made of torch's own modules only (plus :class:`Residual` for skips),
so ``torch.export``, ``torch.jit`` and ``state_dict`` work on it as on any hand-written model.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from ..activations import get_activation
from ..errors import ConfigError
from ..inits import get_init

__all__ = ["NORMS", "Residual", "build_mlp", "weight_layers"]

NORMS = ("none", "batch", "layer")
Norm = Literal["none", "batch", "layer"]


class Residual(nn.Module):
    """An identity skip around a block whose input and output widths agree: ``x + body(x)``."""

    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def weight_layers(model: nn.Module) -> list[nn.Linear]:
    """The ``nn.Linear`` modules of ``model`` in registration order (input side first for
    :func:`build_mlp`'s networks): layer ``l`` of every recorded quantity is ``weight_layers(model)[l]``."""
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def _norm(kind: str, width: int) -> list[nn.Module]:
    if kind == "batch":
        return [nn.BatchNorm1d(width)]
    if kind == "layer":
        return [nn.LayerNorm(width)]
    return []


def build_mlp(
    in_features: int,
    out_features: int,
    depth: int = 10,
    width: int = 64,
    activation: str = "relu",
    init: str = "he_normal",
    bias_init: str = "zeros",
    norm: Norm = "none",
    residual: bool = False,
    seed: int | None = None,
) -> nn.Sequential:
    """Build a deep MLP whose ``depth`` counts weight layers (hidden layers + read-out).

    The result is a flat ``nn.Sequential``: for each of the ``depth - 1`` hidden blocks ``nn.Linear``,
    then ``nn.BatchNorm1d``/``nn.LayerNorm`` if ``norm``, then the activation's torch module; then the
    read-out ``nn.Linear``. With ``residual``, a hidden block whose input and output widths agree is one
    ``Residual(nn.Sequential(linear, [norm], act))`` instead. Inputs are ``(batch, in_features)``.

    Args:
        activation: a registered activation spec, e.g. ``"sigmoid"`` or ``"leaky_relu:negative_slope=0.2"``.
        init: weight init spec, e.g. ``"normal:std=0.01"``, ``"he_normal"``. ``critical`` depends on the
            activation through the theory: pass ``vanishing.config.resolve_init("critical", activation)``.
        bias_init: bias init spec in the same grammar (default zeros).
        norm: ``none`` | ``batch`` | ``layer`` normalisation after each hidden linear layer.
        residual: identity skip around every hidden block whose input and output width agree.
        seed: draw every weight and bias from ``torch.Generator().manual_seed(seed)``, layer by layer
            input side first, weight then bias; torch's global generator is left untouched.
            ``None`` draws from the global generator.

    Example:
        >>> net = build_mlp(64, 10, depth=20, activation="sigmoid", init="normal:std=0.01", seed=0)
        >>> len(weight_layers(net))
        20
    """
    for field, value in (("in_features", in_features), ("out_features", out_features),
                         ("depth", depth), ("width", width)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(field, value, "an integer >= 1")
    if norm not in NORMS:
        raise ConfigError("norm", norm, NORMS)
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise ConfigError("seed", seed, "an integer or None")
    act = get_activation(activation)
    w_init = get_init(init, "init")
    b_init = get_init(bias_init, "bias_init")
    generator = None if seed is None else torch.Generator().manual_seed(seed)

    def linear(n_in: int, n_out: int) -> nn.Linear:
        layer = nn.utils.skip_init(nn.Linear, n_in, n_out)  # no default init: nothing else draws
        w_init(layer.weight, generator=generator)
        b_init(layer.bias, generator=generator)
        return layer

    modules: list[nn.Module] = []
    n_in = in_features
    for _ in range(depth - 1):
        block = [linear(n_in, width), *_norm(norm, width), act.module()]
        if residual and n_in == width:
            modules.append(Residual(nn.Sequential(*block)))
        else:
            modules.extend(block)
        n_in = width
    modules.append(linear(n_in, out_features))
    return nn.Sequential(*modules)
