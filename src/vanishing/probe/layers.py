"""Which modules the probe watches, and which of their parameters are weights and biases."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Union

from torch import Tensor, nn

from ..errors import ConfigError
from .trace import LayerInfo

__all__ = ["ATOMIC", "LayerSpec", "LayerParams", "candidates", "split_params", "layer_info", "tensors_in"]

# modules probed as one layer although they have parameterised children
ATOMIC: tuple[type[nn.Module], ...] = (nn.MultiheadAttention,)

LayerSpec = Union[None, Iterable[Union[nn.Module, str]], Callable[[str, nn.Module], bool]]


def _has_params(m: nn.Module, recurse: bool) -> bool:
    return next(iter(m.parameters(recurse=recurse)), None) is not None


def _default_layers(model: nn.Module) -> dict[nn.Module, str]:
    """Leaf modules with parameters (no parameterised children) and ATOMIC modules, not inside an ATOMIC one."""
    found: dict[nn.Module, str] = {}
    atomic_prefixes: list[str] = []
    for name, m in model.named_modules():
        if any(name.startswith(p + ".") for p in atomic_prefixes):
            continue
        if isinstance(m, ATOMIC):
            atomic_prefixes.append(name)
            found[m] = name
        elif _has_params(m, recurse=False) and not any(_has_params(c, True) for c in m.children()):
            found[m] = name
    return found


def candidates(model: nn.Module, layers: LayerSpec = None) -> dict[nn.Module, str]:
    """Module → name of every module the probe may watch; the order is fixed later by the forward pass.

    ``layers``: ``None`` (default layers), a callable filter ``(name, module) -> bool`` over the
    default layers, or a list of modules / module names (any module, probed as a whole).
    """
    if layers is None:
        return _default_layers(model)
    if callable(layers) and not isinstance(layers, nn.Module):
        return {m: n for m, n in _default_layers(model).items() if layers(n, m)}
    names = {m: n for n, m in model.named_modules()}
    by_name = dict(model.named_modules())
    chosen: dict[nn.Module, str] = {}
    if isinstance(layers, (nn.Module, str)):
        layers = [layers]
    for item in layers:
        if isinstance(item, str):
            if item not in by_name:
                valid = [n for n in _default_layers(model).values()]
                raise ConfigError("layers", item, "module names of the model, e.g. " + ", ".join(valid[:8]))
            chosen[by_name[item]] = item
        elif isinstance(item, nn.Module):
            if item not in names:
                raise ConfigError("layers", type(item).__name__, "modules of the watched model")
            chosen[item] = names[item]
        else:
            raise ConfigError("layers", item, "a list of modules or module names, or a filter (name, module) -> bool")
    return chosen


@dataclass
class LayerParams:
    weights: list[nn.Parameter]
    biases: list[nn.Parameter]


def split_params(module: nn.Module) -> LayerParams:
    """Biases are parameters whose own name contains "bias"; all others are weights."""
    weights, biases = [], []
    for name, p in module.named_parameters():
        (biases if "bias" in name.rsplit(".", 1)[-1] else weights).append(p)
    return LayerParams(weights, biases)


def layer_info(name: str, module: nn.Module, activation: str | None = None) -> LayerInfo:
    params = split_params(module)
    shape = tuple(params.weights[0].shape) if params.weights else ()
    n = sum(p.numel() for p in module.parameters())
    return LayerInfo(name or type(module).__name__, type(module).__name__, shape, n, activation)


def tensors_in(obj, depth: int = 0) -> list[Tensor]:
    """Floating tensors in ``obj`` (a tensor or nested tuples/lists of them, two levels deep)."""
    if isinstance(obj, Tensor):
        return [obj] if obj.is_floating_point() or obj.is_complex() else []
    if isinstance(obj, (tuple, list)) and depth < 2:
        return [t for o in obj for t in tensors_in(o, depth + 1)]
    return []
