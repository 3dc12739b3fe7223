"""One experiment end to end: config → network + data → training with the probe → RunResult."""

from __future__ import annotations

import copy
import functools
import json
import math
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import torch

from .._io import write_text
from ..config import RunConfig
from ..data import Dataset, load_dataset
from ..errors import ConfigError, VanishingError
from ..nets.mlp import MLP, build_mlp
from ..probe import Trace, watch
from ..probe.schedules import every_and_last
from ..train.loop import TrainOutcome, make_optimizer, resolve_device, train

if TYPE_CHECKING:
    from ..diagnose import Diagnosis

__all__ = ["RunResult", "run", "setup", "make_result", "RESULT_VERSION"]

RESULT_VERSION = 1


def _log10_ratio(a: float, b: float) -> float:
    if not (math.isfinite(a) and math.isfinite(b)) or a <= 0 or b <= 0:
        return float("nan")
    return math.log10(a / b)


@dataclass
class RunResult:
    """Everything one run produced; ``to_dict()`` is the ``--json`` format."""

    config: RunConfig
    trace: Trace
    outcome: TrainOutcome
    dataset: dict[str, Any] = field(default_factory=dict)
    duration_s: float = float("nan")

    @property
    def layers(self) -> list[str]:
        return self.trace.layer_names

    def _row(self, name: str, which: int) -> np.ndarray:
        steps, values = self.trace.recorded(name)
        if len(steps) == 0:
            return np.full(len(self.layers), np.nan)
        return values[which]

    @property
    def summary(self) -> dict[str, Any]:
        """Headline numbers (log10 orders; positive ``vanishing_orders`` = early layers get less)."""
        g0, g_end = self._row("grad_norm", 0), self._row("grad_norm", -1)
        sig0 = self._row("signal_grad_norm", 0)
        o = self.outcome
        return {
            "vanishing_orders": _log10_ratio(g0[-1], g0[0]),
            "vanishing_orders_final": _log10_ratio(g_end[-1], g_end[0]),
            "signal_vanishing_orders": _log10_ratio(sig0[-1], sig0[0]),
            "first_layer_grad_norm": float(g0[0]),
            "last_layer_grad_norm": float(g0[-1]),
            "final_loss": o.final_loss,
            "final_train_accuracy": o.final_train_accuracy,
            "final_test_accuracy": o.final_test_accuracy,
            "majority_baseline": self.dataset.get("majority_baseline"),
            "predicted_vanishing_orders": (self.trace.meta.get("theory") or {}).get("orders_lost"),
            "diverged": o.diverged,
            "diverged_step": o.diverged_step,
            "steps_done": o.steps_done,
            "interrupted": o.interrupted,
            "duration_s": self.duration_s,
        }

    @cached_property
    def diagnosis(self) -> "Diagnosis":
        """The cause → effect → reason → fix diagnosis of this run (computed once)."""
        from ..diagnose import diagnose  # diagnose reads traces; imported here to keep the layers one-way

        return diagnose(self)

    @property
    def command(self) -> str:
        return "vanishing run " + self.config.flags()

    def to_dict(self) -> dict[str, Any]:
        t = self.trace
        out: dict[str, Any] = {
            "version": RESULT_VERSION,
            "config": self.config.model_dump(),
            "command": self.command,
            "dataset": self.dataset,
            "layers": t.layer_names,
            "steps": [int(s) for s in t.steps],
        }
        for name, arr in t.data.items():
            out[name] = _jsonable(arr)
        for name, arr in t.scalars.items():
            out[name] = _jsonable(arr)
        out["summary"] = {k: _jsonable(v) for k, v in self.summary.items()}
        out["diagnosis"] = self.diagnosis.to_dict()
        out["trace"] = t.to_dict()
        return out

    def save_json(self, path: str | Path) -> Path:
        return write_text(path, json.dumps(self.to_dict(), indent=1, allow_nan=False), "result")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunResult":
        try:
            s = d["summary"]
            outcome = TrainOutcome(
                steps_done=s["steps_done"], diverged=s["diverged"], diverged_step=s.get("diverged_step"),
                final_loss=_num(s["final_loss"]), final_train_accuracy=s.get("final_train_accuracy"),
                final_test_accuracy=s.get("final_test_accuracy"), interrupted=s.get("interrupted", False))
            return cls(RunConfig.make(d["config"]), Trace.from_dict(d["trace"]), outcome,
                       d.get("dataset", {}), _num(s.get("duration_s")))
        except (KeyError, TypeError) as exc:
            raise VanishingError(f"not a vanishing run result (missing {exc})") from None

    @classmethod
    def load_json(cls, path: str | Path) -> "RunResult":
        p = Path(path)
        try:
            d = json.loads(p.read_text())
        except OSError as exc:
            raise ConfigError("result file", str(path), f"a readable file ({exc.strerror or exc})") from None
        except json.JSONDecodeError as exc:
            raise ConfigError("result file", str(path), f"valid JSON (line {exc.lineno}: {exc.msg})") from None
        if not isinstance(d, dict):
            raise ConfigError("result file", str(path), "a JSON object written by `vanishing run --json`")
        return cls.from_dict(d)


def _num(v: Any) -> float:
    return float("nan") if v is None else float(v)


def _jsonable(v: Any) -> Any:
    """NaN/Inf → None, numpy → python, recursively."""
    if isinstance(v, np.ndarray):
        return _jsonable(v.tolist())
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, np.integer):
        return int(v)
    return v


def _theory(config: RunConfig, in_features: int, out_features: int) -> dict[str, Any] | None:
    """Mean-field prediction for plain MLPs (no norm, no skips); None where it does not apply.

    The prediction depends on the architecture and the inits only: runs that differ in seed,
    learning rate or training settings share one computation (a sweep over seeds computes it once).
    """
    if config.norm != "none" or config.residual:
        return None
    key = (config.activation, config.init, config.bias_init, config.depth, config.width, in_features, out_features)
    return copy.deepcopy(_theory_of(key))


@functools.lru_cache(maxsize=1024)
def _theory_of(key: tuple) -> dict[str, Any] | None:
    activation, init, bias_init, depth, width, in_features, out_features = key
    config = RunConfig.make(activation=activation, init=init, bias_init=bias_init, depth=depth, width=width)
    from .. import theory

    try:
        p = theory.predict(config, in_features=in_features, out_features=out_features)
    except VanishingError:
        return None
    orders = p.orders_lost
    return {"orders_lost": orders if math.isfinite(orders) else None, "chi1": _jsonable(p.chi1),
            "phase": p.phase, "sigma_w2": p.sigma_w2, "sigma_b2": p.sigma_b2,
            "critical_sigma_w2": p.critical_sigma_w2}


def setup(config: RunConfig, data: Dataset | None = None) -> tuple[Dataset, MLP, torch.device]:
    """The data set and the initialised network of ``config`` (seeded exactly as :func:`run` does).

    ``data``: the data set ``load_dataset(config.dataset, seed=config.seed)`` already loaded
    (loaders draw from their own generators, so skipping the call changes no random stream).
    """
    device = resolve_device(config.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device", config.device, "auto or cpu (CUDA is not available here)")
    if device.type == "cpu":
        # the weights are drawn on the CPU: its generator is the one that matters. torch.manual_seed
        # would also queue a seeding of every accelerator type, formatting a stack trace each time
        # (76 µs a call, ~150 ms for the first, which reads source files)
        torch.default_generator.manual_seed(config.seed)
    else:
        torch.manual_seed(config.seed)
    if data is None:
        data = load_dataset(config.dataset, seed=config.seed)
    model = build_mlp(data.in_features, data.out_features, depth=config.depth, width=config.width,
                      activation=config.activation, init=config.init, bias_init=config.bias_init,
                      norm=config.norm, residual=config.residual).to(device)
    return data, model, device


def make_result(config: RunConfig, data: Dataset, trace: Trace, outcome: TrainOutcome,
                duration_s: float) -> RunResult:
    """Attach the config, the theory and the data set's description to a finished trace."""
    trace.meta["config"] = {**config.model_dump(), "in_features": data.in_features,
                            "out_features": data.out_features}
    trace.meta["theory"] = _theory(config, data.in_features, data.out_features)
    dataset = {"spec": data.spec, "description": data.describe(), "task": data.task,
               "in_features": data.in_features, "out_features": data.out_features,
               "majority_baseline": data.majority_baseline}
    return RunResult(config, trace, outcome, dataset, duration_s)


def run(config: RunConfig, on_step: Callable[[int], None] | None = None) -> RunResult:
    """Build, train and record one experiment.

    Example:
        >>> result = run(RunConfig.make(depth=5, steps=20))    # doctest: +SKIP
        >>> result.summary["vanishing_orders"]                    # doctest: +SKIP
    """
    start = time.perf_counter()
    data, model, device = setup(config)
    optimizer = make_optimizer(config.optimizer, model.parameters(), config.lr)
    schedule = every_and_last(config.record_every, config.steps)
    probe = watch(model, optimizer, every=schedule, layers=model.weight_layers())
    try:
        outcome = train(config, model, data, optimizer, probe, schedule, device, on_step)
        trace = probe.trace
    finally:
        probe.detach()
    return make_result(config, data, trace, outcome, time.perf_counter() - start)
