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
from ..resources import MAX_DEPTH
from ..probe import Trace, watch
from ..probe.schedules import every_and_last
from . import diagnose
from .findings import Diagnosis

__all__ = ["load_factory", "call_factory", "UserCodeError", "ModelCase", "resolve_factory", "diagnose_model"]

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
    except (KeyboardInterrupt, VanishingError):
        raise
    except (Exception, SystemExit) as exc:  # the module's own code failed (SyntaxError, sys.exit(), ...)
        raise UserCodeError(f"importing {mod_name}", exc, hint="Fix the module, then run again.") from exc
    fn = getattr(module, fn_name, None)
    if not callable(fn):
        raise ConfigError("factory", spec, f"{_ALLOWED} ({mod_name} has no function {fn_name})")
    return fn


_HOW_TO_GIVE_DATA = ("Give a batch by returning (model, (inputs, targets)) or (model, data_loader) from the factory, "
                     "with inputs shaped as the model's first layer expects.")


class UserCodeError(VanishingError):
    """The user's factory, model, loss or data loader raised: which call, the exception, what was passed.

    ``original`` is the exception raised by the user's code (its traceback is on it).
    """

    def __init__(self, call: str, original: BaseException, passed: str = "", hint: str = _HOW_TO_GIVE_DATA):
        self.call, self.original = call, original
        text = f"{call} raised {type(original).__name__}: {original}".rstrip(": ")
        if passed:
            text += f". It was given {passed}"
        super().__init__(f"{text}. {hint} (--traceback shows the full trace.)")


def _describe(*tensors: Any) -> str:
    """``"inputs float32 (16, 7), targets int64 (16,)"`` for (name, tensor) pairs."""
    parts = []
    for name, t in tensors:
        parts.append(f"{name} {str(t.dtype).removeprefix('torch.')} {tuple(t.shape)}" if isinstance(t, Tensor)
                     else f"{name} of type {type(t).__name__}")
    return ", ".join(parts)


def call_factory(fn: Callable[[], Any], spec: str) -> Any:
    """``fn()``; an exception in it becomes a :class:`UserCodeError` naming ``spec``."""
    try:
        return fn()
    except (KeyboardInterrupt, VanishingError):
        raise
    except Exception as exc:
        raise UserCodeError(f"the factory {spec}()", exc, hint="Fix the factory, then run again.") from exc


@dataclass
class ModelCase:
    model: nn.Module
    batches: Callable[[], Iterator[tuple[Tensor, Tensor]]]
    loss_fn: LossFn | None
    first: tuple[Tensor, Tensor]
    random_inputs: str | None = None
    """What the inputs are when the factory gave none (random), else None."""


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
    random_inputs = None
    if len(items) == 1:
        batch, random_inputs = _random_batch(model)
    else:
        batch = items[1]
    if isinstance(batch, (tuple, list)) and len(batch) == 2 and isinstance(batch[0], Tensor):
        pair = _pair(batch)

        def batches() -> Iterator[tuple[Tensor, Tensor]]:
            while True:
                yield pair
        return ModelCase(model, batches, loss_fn, pair, random_inputs)
    try:
        first = _pair(next(iter(batch)))
    except TypeError:
        raise ConfigError("batch", type(batch).__name__, "(inputs, targets) tensors, or a DataLoader of such pairs") from None
    except StopIteration:
        raise ConfigError("batch", "an empty data loader", "a data loader with at least one batch") from None
    except (KeyboardInterrupt, VanishingError):
        raise
    except Exception as exc:
        raise UserCodeError("reading the first batch of the data loader", exc,
                            hint="Check the data set and the loader.") from exc

    def cycle() -> Iterator[tuple[Tensor, Tensor]]:
        while True:
            n = 0
            for b in batch:
                n += 1
                yield _pair(b)
            if n == 0:
                return
    return ModelCase(model, cycle, loss_fn, first)


def _random_batch(model: nn.Module, n: int = 64) -> tuple[tuple[Tensor, Tensor], str]:
    """Random inputs shaped for the first layer, random class targets, and a sentence saying so."""
    first = next((m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d))), None)
    g = torch.Generator().manual_seed(0)  # not torch's global generator
    if isinstance(first, nn.Linear):
        x = torch.randn(n, first.in_features, generator=g)
    elif isinstance(first, nn.Conv2d):
        x = torch.randn(n, first.in_channels, 28, 28, generator=g)
    elif isinstance(first, nn.Conv1d):
        x = torch.randn(n, first.in_channels, 64, generator=g)
    else:
        raise ConfigError("factory result", "a model without a batch",
                          "(model, batch): inputs cannot be guessed for this model")
    with torch.no_grad():
        out = _forward(model, x, None, "random inputs")
    k = out.shape[-1]
    return (x, torch.randint(0, k, (n,), generator=g)), (
        f"random inputs (standard normal, shape {tuple(x.shape)}) and random targets (uniform over {k} classes)")


def _forward(model: nn.Module, x: Tensor, y: Tensor | None, what: str = "the inputs") -> Tensor:
    """``model(x)``; an exception becomes a :class:`UserCodeError` with the shapes that were passed."""
    try:
        return model(x)
    except (KeyboardInterrupt, VanishingError):
        raise
    except Exception as exc:
        passed = _describe(("inputs", x)) if y is None else _describe(("inputs", x), ("targets", y))
        raise UserCodeError(f"the forward pass model(inputs) on {what}", exc, passed) from exc


def _user_call(call: str, fn: Callable[[], Any], passed: str, hint: str) -> Any:
    """``fn()``; an exception in the user's code becomes a :class:`UserCodeError` saying which call failed."""
    try:
        return fn()
    except (KeyboardInterrupt, VanishingError, StopIteration):
        raise
    except Exception as exc:
        raise UserCodeError(call, exc, passed, hint) from exc


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
    layers = sum(1 for m in model.modules() if next(m.parameters(recurse=False), None) is not None)
    if layers > MAX_DEPTH:  # a graph that deep overflows the C stack in backward: refused, not a segfault
        raise ConfigError("model", f"{layers} modules with weights", f"at most {MAX_DEPTH} (deeper stacks crash torch)")
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
            x, y = _user_call(f"reading batch {step} from the data loader", lambda: next(it), "",
                              "Check the data set and the loader.")
            if not y.is_floating_point():
                seen.update(y.reshape(-1).tolist())
            x, y = x.to(device), y.to(device)
            opt.zero_grad(set_to_none=True)
            out = _forward(model, x, y, f"the batch of step {step}")
            loss = _user_call(f"the loss {getattr(loss_fn, '__name__', type(loss_fn).__name__)}(outputs, targets)",
                              lambda: loss_fn(out, y), _describe(("outputs", out), ("targets", y)),
                              "Give targets that fit the loss, or a loss as the factory's third item: "
                              "(model, batch, loss_fn).")
            value = float(loss.detach())
            if schedule(step):
                acc = _accuracy(out.detach(), y)
                probe.log(loss=value, **({} if acc is None else {"train_accuracy": acc}))
            if not math.isfinite(value):
                diverged = step
                break
            _user_call("the backward pass loss.backward()", loss.backward, "", "The loss must be a scalar "
                       "tensor that depends on the model's parameters.")
            opt.step()
        trace = probe.trace
    except StopIteration:
        raise VanishingError("the data loader yielded no batch") from None
    finally:
        probe.detach()
    trace.meta["diverged_step"] = diverged
    if case.random_inputs:
        trace.meta["random_inputs"] = case.random_inputs
    base = max(seen.values()) / sum(seen.values()) if seen else None
    trace.meta["majority_baseline"] = base
    return diagnose(trace, majority_baseline=base), trace
