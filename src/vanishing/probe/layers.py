"""Which modules the probe watches, and which of their parameters are weights and biases."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable, Union

from torch import Tensor, nn

from ..errors import ConfigError
from .trace import LayerInfo

__all__ = ["ATOMIC", "FUSED", "LayerSpec", "LayerParams", "Row", "candidates", "split_params", "layer_info",
           "module_rows", "stray_params", "stray_row", "shared_rows", "tensors_in"]

# modules probed as one layer although they have parameterised children
ATOMIC: tuple[type[nn.Module], ...] = (nn.MultiheadAttention,)
# modules that fuse several stacked layers into one call: one row per stacked layer k (``*_l{k}`` parameters)
FUSED: tuple[type[nn.Module], ...] = (nn.RNNBase,)
_STACKED = re.compile(r"_l(\d+)(?:_reverse)?$")

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


@dataclass
class Row:
    """One row of the trace: a layer, one stacked layer of a fused module, or a stray parameter."""

    info: LayerInfo
    weights: list[nn.Parameter]
    biases: list[nn.Parameter]


def module_rows(name: str, module: nn.Module, activation: str | None = None) -> list[Row]:
    """The rows of one watched module: one, or one per stacked layer of a :data:`FUSED` module
    (``nn.LSTM``/``nn.GRU``/``nn.RNN`` with ``num_layers`` > 1), named ``"<name>.l<k>"``, from its
    ``*_l<k>`` parameters (a bidirectional layer's ``*_l<k>_reverse`` ones included)."""
    if isinstance(module, FUSED) and getattr(module, "num_layers", 1) > 1:
        groups: dict[int, list[tuple[str, nn.Parameter]]] = {}
        for pname, p in module.named_parameters(recurse=False):
            m = _STACKED.search(pname)
            groups.setdefault(int(m.group(1)) if m else 0, []).append((pname, p))
        base = name or type(module).__name__
        rows = []
        for k in sorted(groups):
            ws = [p for n, p in groups[k] if "bias" not in n]
            bs = [p for n, p in groups[k] if "bias" in n]
            info = LayerInfo(f"{base}.l{k}", type(module).__name__, tuple(ws[0].shape) if ws else (),
                             sum(p.numel() for _, p in groups[k]), activation if k == max(groups) else None)
            rows.append(Row(info, ws, bs))
        return rows
    params = split_params(module)
    return [Row(layer_info(name, module, activation), params.weights, params.biases)]


def stray_params(model: nn.Module, watched: Iterable[nn.Module]) -> dict[str, nn.Parameter]:
    """Full name → parameter of every parameter of ``model`` that no watched module holds
    (``cls_token``, ``pos_embed`` on a module with children), in registration order."""
    held = {id(p) for m in watched for p in m.parameters()}
    return {n: p for n, p in model.named_parameters() if id(p) not in held}


def stray_row(name: str, p: nn.Parameter) -> Row:
    """A stray parameter as a row of its own (a bias if its own name says so)."""
    info = LayerInfo(name, "Parameter", tuple(p.shape), p.numel(), None)
    bias = "bias" in name.rsplit(".", 1)[-1]
    return Row(info, [] if bias else [p], [p] if bias else [])


def shared_rows(rows: list[Row]) -> list[list[int]]:
    """Groups (sorted row indices) of rows holding the same weight tensor (tied embeddings)."""
    owners: dict[int, list[int]] = {}
    for i, r in enumerate(rows):
        for p in r.weights:
            key = id(p)
            if i not in owners.setdefault(key, []):
                owners[key].append(i)
    groups = sorted({tuple(v) for v in owners.values() if len(v) > 1})
    return [list(g) for g in groups]


def tensors_in(obj, depth: int = 0) -> list[Tensor]:
    """Floating tensors in ``obj`` (a tensor or nested tuples/lists of them, two levels deep)."""
    if isinstance(obj, Tensor):
        return [obj] if obj.is_floating_point() or obj.is_complex() else []
    if isinstance(obj, (tuple, list)) and depth < 2:
        return [t for o in obj for t in tensors_in(o, depth + 1)]
    return []
