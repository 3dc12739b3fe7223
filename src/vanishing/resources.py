"""What a run needs in memory, and whether this machine has it: checked before any work starts.

:func:`estimate_run_memory` adds up what one run (or ``members`` stacked runs of the batched executor)
holds at its peak, from the config alone: parameters, their gradients and optimizer state, the
activations autograd keeps for the backward pass of one mini-batch, the transient activations of an
evaluation pass, the data set and the recorded trace. :func:`check_run_fits` compares it with
:func:`available_memory` and refuses, with both numbers, a run that cannot fit. Everything is float32, as the networks are.

The estimate is meant to be within a factor of 2 of what the tensors really take (the tests compare it
with the tensors of a built network and with what autograd saves), not to the byte.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ResourceError

if TYPE_CHECKING:
    from .config import RunConfig

__all__ = ["MAX_DEPTH", "estimate_run_memory", "run_memory_parts", "available_memory", "check_fits",
           "check_run_fits", "check_parallel_fits", "format_bytes"]

MAX_DEPTH = 10_000
"""The deepest network a run may build. ``vanishing run --depth 20000`` crashes the process with a
segmentation fault inside the training loop (minutes in, at 2.4 GB: a C stack overflow, not memory)
with the default 8 MiB stack; depths 10 000 and 14 000 run. 10 000 keeps a margin."""

FLOAT_BYTES = 4  # the networks are float32
# tensors the optimizer keeps per parameter tensor (momentum buffer; Adam's two moments)
OPTIMIZER_STATE = {"sgd": 0, "momentum": 1, "adam": 2}
# tensors autograd keeps per hidden block and sample: the linear layer's output and the activation's
# (the next linear layer saves the activation's output, which is the same tensor); a norm adds its
# normalised output and its input; a residual its sum
SAVED_PER_BLOCK = 2
SAVED_PER_NORM = 2
SAVED_PER_RESIDUAL = 1
# an evaluation pass keeps at most a layer's input, output and activation alive at once
EVAL_LIVE_LAYERS = 3
EVAL_TRAIN_SAMPLES = 2048  # the train loop evaluates on at most this many training samples
# per recorded step and layer: ~12 quantities as float64, held once while recording and once in the trace
TRACE_BYTES_PER_LAYER = 12 * 8 * 2
# per hidden block: the Python objects of three modules, their probe hooks and per-layer records
OVERHEAD_PER_BLOCK = 16 * 1024
BASE_OVERHEAD = 0  # the interpreter and torch themselves are already running when this is checked


def _parameters(config: "RunConfig", in_features: int, out_features: int) -> int:
    """Number of trainable parameters of ``build_mlp`` for this config (weights, biases, norm scales)."""
    w, hidden = config.width, config.depth - 1
    if hidden == 0:
        return (in_features + 1) * out_features
    linear = (in_features + 1) * w + (hidden - 1) * (w + 1) * w + (w + 1) * out_features
    norm = 2 * w * hidden if config.norm != "none" else 0
    return linear + norm


def run_memory_parts(config: "RunConfig", in_features: int, out_features: int, members: int = 1,
                     n_train: int = 0, n_test: int = 0) -> dict[str, int]:
    """The bytes of each part of :func:`estimate_run_memory` (same arguments), by name."""
    params = _parameters(config, in_features, out_features) * FLOAT_BYTES
    hidden = config.depth - 1
    per_block = SAVED_PER_BLOCK + SAVED_PER_NORM * (config.norm != "none") + SAVED_PER_RESIDUAL * config.residual
    batch = min(config.batch_size, n_train) if n_train else config.batch_size
    saved = (hidden * per_block * config.width + in_features + 2 * out_features) * batch * FLOAT_BYTES
    eval_rows = max(min(n_train, EVAL_TRAIN_SAMPLES), n_test)
    evaluation = EVAL_LIVE_LAYERS * max(config.width, in_features, out_features) * eval_rows * FLOAT_BYTES
    records = config.steps // config.record_every + 2
    parts = {
        "parameters": params,
        "gradients": params,
        "optimizer": OPTIMIZER_STATE[config.optimizer] * params,
        "activations": saved,
        "evaluation": evaluation,
        "trace": records * config.depth * TRACE_BYTES_PER_LAYER,
        "overhead": hidden * OVERHEAD_PER_BLOCK,
    }
    parts = {k: v * members for k, v in parts.items()}  # stacked members hold one of each
    parts["data"] = (n_train + n_test) * (in_features + 2) * FLOAT_BYTES  # shared; labels int64
    return parts


def estimate_run_memory(config: "RunConfig", in_features: int, out_features: int, members: int = 1,
                        n_train: int = 0, n_test: int = 0) -> int:
    """Bytes one run of ``config`` holds at its peak (``members`` stacked runs: the batched executor).

    ``n_train`` and ``n_test`` (the data set's sizes, 0 where unknown) add the data and the evaluation pass.

    >>> from vanishing.config import RunConfig
    >>> estimate_run_memory(RunConfig.make(depth=10, width=64), 64, 10) < 2**20
    True
    """
    return sum(run_memory_parts(config, in_features, out_features, members, n_train, n_test).values())


def _meminfo_available(path: str = "/proc/meminfo") -> int | None:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_available() -> int | None:
    """What the container's memory limit leaves (cgroup v2, then v1); None without a limit."""
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            limit = Path(limit_file).read_text().strip()
            usage = int(Path(usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < 1 << 60:  # "max" or a page-rounded 2**63: no limit
            return max(int(limit) - usage, 0)
    return None


def available_memory() -> int | None:
    """Bytes of memory this process can still get without swapping; None where it cannot be told.

    Linux' MemAvailable (or psutil's, where installed), bounded by a container's cgroup limit;
    the free physical pages elsewhere.
    """
    found = _meminfo_available()
    if found is None:
        try:
            import psutil  # optional
        except ImportError:
            psutil = None
        if psutil is not None:
            found = int(psutil.virtual_memory().available)
    if found is None:
        try:
            found = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
        except (AttributeError, ValueError, OSError):
            found = None
    cgroup = _cgroup_available()
    if cgroup is not None:
        found = cgroup if found is None else min(found, cgroup)
    return found


def format_bytes(n: float) -> str:
    """``1.5 GiB``, ``320 MiB``, ``12 KiB``."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}" if n < 10 * size else f"{n / size:.0f} {unit}"
    return f"{int(n)} bytes"


def check_fits(estimate: int, what: str = "run", available: int | None = None,
               advice: str = "reduce depth, width or batch size") -> None:
    """Raise :class:`ResourceError` when ``estimate`` bytes exceed ``available`` (default
    :func:`available_memory`); nothing when the available memory cannot be told.

    >>> check_fits(2**40, available=2**33)
    Traceback (most recent call last):
    ...
    vanishing.errors.ResourceError: run needs ~1024 GiB, this machine has 8.0 GiB available; reduce depth, width or batch size
    """
    if available is None:
        available = available_memory()
    if available is not None and estimate > available:
        raise ResourceError(f"{what} needs ~{format_bytes(estimate)}, this machine has "
                            f"{format_bytes(available)} available; {advice}")


def check_run_fits(config: "RunConfig", in_features: int, out_features: int, members: int = 1,
                   n_train: int = 0, n_test: int = 0, available: int | None = None) -> int:
    """Refuse, with :class:`ResourceError`, a run whose estimate exceeds the available memory, before
    anything is built; return the estimate in bytes. (:class:`~vanishing.config.RunConfig` itself
    refuses a depth above :data:`MAX_DEPTH`.)

    Call it where the data set's sizes are known, before the network is built (see
    :func:`estimate_run_memory` for the arguments).
    """
    parts = run_memory_parts(config, in_features, out_features, members, n_train, n_test)
    estimate = sum(parts.values())
    label = "run" if members == 1 else f"batch of {members} runs"
    check_fits(estimate, f"{label} (depth {config.depth}, width {config.width}, batch size {config.batch_size})",
               available, advice=ADVICE[max(parts, key=parts.__getitem__)])
    return estimate


# what to reduce, by the largest part of the estimate
ADVICE = {
    "parameters": "reduce depth or width", "gradients": "reduce depth or width",
    "optimizer": "reduce depth or width, or use sgd", "activations": "reduce depth, width or batch size",
    "evaluation": "reduce width", "trace": "reduce steps, or record less often (--record-every)",
    "overhead": "reduce depth", "data": "use a smaller data set",
}


def check_parallel_fits(estimates: "list[int]", slots: int, what: str = "sweep",
                        available: int | None = None) -> int:
    """Refuse work whose ``slots`` largest units, held at once, exceed the available memory.

    ``estimates``: bytes of each unit of work (a run, or a stacked group of runs) from
    :func:`estimate_run_memory`; ``slots`` of them run at the same time (parallel workers). Returns the
    bytes needed at the peak.

    >>> check_parallel_fits([3 * 2**30, 2**30, 2**30], slots=2, available=2**32)
    4294967296
    """
    need = sum(sorted(estimates, reverse=True)[:max(slots, 1)])
    check_fits(need, f"{what} ({min(slots, len(estimates))} at once, the largest ~{format_bytes(max(estimates, default=0))} "
                     "each)", available, advice="use fewer --workers, or reduce depth, width or batch size")
    return need
