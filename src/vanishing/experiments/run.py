"""One experiment end to end: config → network + data → training with the probe → RunResult."""

from __future__ import annotations

import copy
import functools
import math
import time
from typing import Any, Callable

import torch

from ..config import RunConfig
from ..data import Dataset, load_dataset
from ..data.sequence import SequenceData, load_task, task_length
from ..diagnose import diagnose
from ..errors import ConfigError, VanishingError
from ..nets.mlp import build_mlp, weight_layers
from ..nets.rnn import RecurrentNet, build_rnn
from ..probe import Probe, Trace, watch
from ..probe.schedules import every_and_last
from ..resources import check_fits, check_run_fits
from ..results import RESULT_VERSION, RunResult, TrainOutcome
from ..train.loop import make_optimizer, resolve_device, train

__all__ = ["RunResult", "run", "setup", "make_result", "RESULT_VERSION"]


def _theory(config: RunConfig, in_features: int, out_features: int) -> dict[str, Any] | None:
    """Mean-field prediction for plain MLPs (no norm, no skips); None where it does not apply.

    The prediction depends on the architecture and the inits only: runs that differ in seed,
    learning rate or training settings share one computation (a sweep over seeds computes it once).
    """
    if config.recurrent or config.norm != "none" or config.residual:
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
    return {"orders_lost": orders if math.isfinite(orders) else None, "chi1": float(p.chi1),
            "phase": p.phase, "sigma_w2": p.sigma_w2, "sigma_b2": p.sigma_b2,
            "critical_sigma_w2": p.critical_sigma_w2}


def setup(config: RunConfig, data: Dataset | None = None,
          members: int = 1) -> tuple[Dataset, torch.nn.Sequential, torch.device]:
    """The data set and the initialised network of ``config`` (seeded exactly as :func:`run` does).

    ``data``: the data set ``load_dataset(config.dataset, seed=config.seed)`` already loaded
    (loaders draw from their own generators, so skipping the call changes no random stream).
    Before the network is built, the memory of ``members`` such runs trained together is estimated
    and a run that cannot fit this machine is refused (:class:`~vanishing.errors.ResourceError`).
    """
    device = resolve_device(config.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device", config.device, "auto or cpu (CUDA is not available here)")
    if config.recurrent:
        return _setup_recurrent(config, data, members, device)
    if data is None:
        data = load_dataset(config.dataset, seed=config.seed)
    check_run_fits(config, data.in_features, data.out_features, members=members,
                   n_train=len(data.x_train), n_test=len(data.x_test))
    model = build_mlp(data.in_features, data.out_features, depth=config.depth, width=config.width,
                      activation=config.activation, init=config.network_init(), bias_init=config.bias_init,
                      norm=config.norm, residual=config.residual, seed=config.seed).to(device)
    return data, model, device


def _setup_recurrent(config: RunConfig, data: Dataset | None, members: int,
                     device: torch.device) -> tuple[SequenceData, RecurrentNet, torch.device]:
    """:func:`setup` of a recurrent model: its sequence task and its unrolled net."""
    if data is None:
        data = load_task(config.task, seed=config.seed)
    assert isinstance(data, SequenceData)
    check_fits(_recurrent_memory(config, data) * members,
               f"run ({config.model}, hidden {config.hidden}, {config.rnn_layers} layer(s), "
               f"{data.length} steps, batch size {config.batch_size})",
               advice="reduce hidden, rnn_layers, the task's T or batch size")
    model = build_rnn(config.model, data.in_features, data.out_features, hidden=config.hidden,
                      layers=config.rnn_layers, activation=config.rnn_activation,
                      recurrent_init=config.recurrent_init, input_init=config.input_init,
                      forget_bias=config.forget_bias, chrono=task_length(config.task) if config.chrono else None,
                      per_step=data.per_step, seed=config.seed).to(device)
    return data, model, device


def _recurrent_memory(config: RunConfig, data: SequenceData) -> int:
    """Bytes a recurrent run needs, roughly: the data, and per sample of the largest forward pass (a batch,
    or the evaluation of the test set / 2048 training samples) every step's states, gates and gradients."""
    from ..nets.rnn import GATES
    from ..train.loop import EVAL_TRAIN_SAMPLES

    per_step = config.rnn_layers * config.hidden * (GATES[config.model] + 3) * 4  # float32
    largest = max(config.batch_size * 3, min(len(data.x_train), EVAL_TRAIN_SAMPLES), len(data.x_test))
    data_bytes = sum(t.numel() * t.element_size() for t in (data.x_train, data.y_train, data.x_test, data.y_test))
    return data_bytes + largest * data.length * per_step


def make_result(config: RunConfig, data: Dataset, trace: Trace, outcome: TrainOutcome,
                duration_s: float) -> RunResult:
    """Attach the config, the theory, the data set's description and the diagnosis to a finished trace."""
    trace.meta["config"] = {**config.model_dump(), "in_features": data.in_features,
                            "out_features": data.out_features}
    trace.meta["theory"] = _theory(config, data.in_features, data.out_features)
    if isinstance(data, SequenceData):
        dataset = data.as_dict()
    else:
        dataset = {"spec": data.spec, "description": data.describe(), "task": data.task,
                   "in_features": data.in_features, "out_features": data.out_features,
                   "majority_baseline": data.majority_baseline}
    result = RunResult(config.model_dump(), trace, outcome, dataset, duration_s,
                       command="vanishing run " + config.flags())
    result.diagnosis = diagnose(result).to_dict()
    return result


def run(config: RunConfig, on_step: Callable[[int], None] | None = None,
        on_start: Callable[[Dataset, torch.nn.Module, Probe], None] | None = None) -> RunResult:
    """Build, train and record one experiment.

    ``on_step(k)`` is called after each of the ``k`` optimizer steps; ``on_start(data, model, probe)`` once
    before the first, so that a live view (the playground) can read the probe's trace from ``on_step``
    in the training thread. Raising ``KeyboardInterrupt`` in ``on_step`` stops training and keeps what
    was recorded, as Ctrl-C does.

    Example:
        >>> result = run(RunConfig.make(depth=5, steps=20))    # doctest: +SKIP
        >>> result.summary["vanishing_orders"]                    # doctest: +SKIP
    """
    start = time.perf_counter()
    data, model, device = setup(config)
    optimizer = make_optimizer(config.optimizer, model.parameters(), config.lr)
    schedule = every_and_last(config.record_every, config.steps)
    if isinstance(model, RecurrentNet):  # the cells and the readout; ∂L/∂x_t on the time axis too
        probe = watch(model, optimizer, every=schedule, layers=[*model.cells, model.readout], time_axis=1)
    else:
        probe = watch(model, optimizer, every=schedule, layers=weight_layers(model))
    try:
        if on_start is not None:
            on_start(data, model, probe)
        outcome = train(config, model, data, optimizer, probe, schedule, device, on_step)
        trace = probe.trace
    finally:
        probe.detach()
    return make_result(config, data, trace, outcome, time.perf_counter() - start)
