"""Diagnose a user's model: import a factory, train a few steps with the probe, diagnose the trace.

A factory is ``package.module:function`` (or ``path/to/file.py:function``) returning a model, or
``(model, batch)``, or ``(model, batch, loss_fn)``; ``batch`` is ``(inputs, targets)`` or an iterable of
such pairs (a ``DataLoader``).
"""

from __future__ import annotations

import collections
import importlib
import importlib.util
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch import Tensor, nn

from ..errors import ConfigError, VanishingError
from ..probe import Trace, watch
from ..probe.schedules import every_and_last
from . import diagnose
from .findings import Diagnosis

__all__ = ["load_factory", "ModelCase", "resolve_factory", "diagnose_model"]

LossFn = Callable[[Tensor, Tensor], Tensor]
_ALLOWED = "package.module:function or path/to/file.py:function, returning a model, (model, batch) or (model, batch, loss_fn)"


def load_factory(spec: str) -> Callable[[], Any]:
    """Import ``module:function`` and return the function."""
    if not isinstance(spec, str) or spec.count(":") != 1 or not all(spec.split(":")):
        raise ConfigError("factory", spec, _ALLOWED)
    mod_name, fn_name = spec.split(":")
    try:
        if mod_name.endswith(".py"):
            path = Path(mod_name)
            if not path.is_file():
                raise ConfigError("factory", spec, f"{_ALLOWED} (no file {mod_name})")
            loader_spec = importlib.util.spec_from_file_location(path.stem, path)
            module = importlib.util.module_from_spec(loader_spec)  # type: ignore[arg-type]
            loader_spec.loader.exec_module(module)  # type: ignore[union-attr]
        else:
            if "" not in sys.path and str(Path.cwd()) not in sys.path:
                sys.path.insert(0, str(Path.cwd()))  # so `vanishing diagnose mymodel:make` finds ./mymodel.py
            module = importlib.import_module(mod_name)
    except ImportError as exc:
        raise ConfigError("factory", spec, f"{_ALLOWED} (cannot import {mod_name}: {exc})") from None
    fn = getattr(module, fn_name, None)
    if not callable(fn):
        raise ConfigError("factory", spec, f"{_ALLOWED} ({mod_name} has no function {fn_name})")
    return fn


@dataclass
class ModelCase:
    model: nn.Module
    batches: Callable[[], Iterator[tuple[Tensor, Tensor]]]
    loss_fn: LossFn | None
    first: tuple[Tensor, Tensor]


def _pair(b: Any) -> tuple[Tensor, Tensor]:
    if isinstance(b, (tuple, list)) and len(b) == 2 and all(isinstance(t, Tensor) for t in b):
        return b[0], b[1]
    raise ConfigError("batch", type(b).__name__, "(inputs, targets) tensors, or a DataLoader of such pairs")


def resolve_factory(out: Any) -> ModelCase:
    """Normalise what a factory returned; without a batch, random inputs are made from the first layer."""
    items = out if isinstance(out, tuple) else (out,)
    if not items or not isinstance(items[0], nn.Module) or len(items) > 3:
        raise ConfigError("factory result", type(out).__name__, "a model, (model, batch) or (model, batch, loss_fn)")
    model = items[0]
    loss_fn = items[2] if len(items) == 3 else None
    if len(items) == 1:
        batch: Any = _random_batch(model)
    else:
        batch = items[1]
    if isinstance(batch, (tuple, list)) and len(batch) == 2 and isinstance(batch[0], Tensor):
        pair = _pair(batch)

        def batches() -> Iterator[tuple[Tensor, Tensor]]:
            while True:
                yield pair
        return ModelCase(model, batches, loss_fn, pair)
    try:
        first = _pair(next(iter(batch)))
    except TypeError:
        raise ConfigError("batch", type(batch).__name__, "(inputs, targets) tensors, or a DataLoader of such pairs") from None
    except StopIteration:
        raise ConfigError("batch", "an empty data loader", "a data loader with at least one batch") from None

    def cycle() -> Iterator[tuple[Tensor, Tensor]]:
        while True:
            n = 0
            for b in batch:
                n += 1
                yield _pair(b)
            if n == 0:
                return
    return ModelCase(model, cycle, loss_fn, first)


def _random_batch(model: nn.Module, n: int = 64) -> tuple[Tensor, Tensor]:
    first = next((m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d))), None)
    if isinstance(first, nn.Linear):
        x = torch.randn(n, first.in_features)
    elif isinstance(first, nn.Conv2d):
        x = torch.randn(n, first.in_channels, 28, 28)
    elif isinstance(first, nn.Conv1d):
        x = torch.randn(n, first.in_channels, 64)
    else:
        raise ConfigError("factory result", "a model without a batch",
                          "(model, batch): inputs cannot be guessed for this model")
    with torch.no_grad():
        out = model(x)
    return x, torch.randint(0, out.shape[-1], (n,))


def default_loss(targets: Tensor) -> LossFn:
    """Cross-entropy for integer targets, mean squared error otherwise."""
    if not targets.is_floating_point() and not targets.is_complex():
        return nn.functional.cross_entropy
    return nn.functional.mse_loss


def _accuracy(out: Tensor, y: Tensor) -> float | None:
    if y.is_floating_point() or out.dim() < 2 or out.shape[0] != y.shape[0] or out.dim() != y.dim() + 1:
        return None
    return float((out.argmax(1) == y).float().mean())


def diagnose_model(case: ModelCase, steps: int = 50, lr: float = 1e-3, record_every: int | None = None,
                   optimizer: torch.optim.Optimizer | None = None) -> tuple[Diagnosis, Trace]:
    """Train ``steps`` steps (Adam, ``lr``, unless an optimizer is given) with the probe; diagnose the trace."""
    if steps < 2:
        raise ConfigError("steps", steps, "an integer >= 2")
    model = case.model
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    opt = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = case.loss_fn or default_loss(case.first[1])
    # about 25 records by default
    schedule = every_and_last(record_every or max(1, steps // 25), steps)
    model.train()
    diverged: int | None = None
    seen: collections.Counter = collections.Counter()  # class counts of every target trained on
    probe = watch(model, opt, every=schedule)
    try:
        it = case.batches()
        for step in range(steps):
            x, y = next(it)
            if not y.is_floating_point():
                seen.update(y.reshape(-1).tolist())
            x, y = x.to(device), y.to(device)
            opt.zero_grad(set_to_none=True)
            out = model(x)
            loss = loss_fn(out, y)
            value = float(loss.detach())
            if schedule(step):
                acc = _accuracy(out.detach(), y)
                probe.log(loss=value, **({} if acc is None else {"train_accuracy": acc}))
            if not math.isfinite(value):
                diverged = step
                break
            loss.backward()
            opt.step()
        trace = probe.trace
    except StopIteration:
        raise VanishingError("the data loader yielded no batch") from None
    finally:
        probe.detach()
    trace.meta["diverged_step"] = diverged
    base = max(seen.values()) / sum(seen.values()) if seen else None
    trace.meta["majority_baseline"] = base
    return diagnose(trace, majority_baseline=base), trace
