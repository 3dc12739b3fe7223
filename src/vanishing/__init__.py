"""vanishing — see, measure, explain and fix the vanishing gradient problem in PyTorch.

Quick use::

    import vanishing
    result = vanishing.run(vanishing.RunConfig.make(depth=20, activation="sigmoid", init="normal:std=0.01"))
    with vanishing.watch(model, optimizer) as probe:   # any nn.Module
        ...                                            # your training loop
    probe.trace                                        # per-layer arrays, steps × layers
    with vanishing.Store("results.db") as store:       # many runs: a sweep, batched, resumable
        vanishing.run_sweep(vanishing.SweepSpec.load("examples/sweeps/seed_grid.yaml"), store)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# imported now, not on first use: importing any submodule of vanishing.diagnose would otherwise leave the
# attribute ``vanishing.diagnose`` bound to the package instead of the function (it loads no torch)
from .diagnose import Diagnosis, Finding, diagnose

if TYPE_CHECKING:  # what type checkers see; at run time each name loads on first use (see __getattr__)
    from . import theory
    from .config import RunConfig
    from .errors import ConfigError, DataError, StoreError, VanishingError
    from .experiments import Store, SweepSpec, run_sweep
    from .experiments.run import run
    from .nets import build_mlp, build_rnn, get_activation, get_init
    from .data import load_task
    from .probe import Probe, watch
    from .results import LayerInfo, RunResult, Trace
    from .results.timeaxis import fit_decay

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "ConfigError",
    "Diagnosis",
    "Finding",
    "LayerInfo",
    "Probe",
    "DataError",
    "RunConfig",
    "RunResult",
    "Store",
    "StoreError",
    "SweepSpec",
    "Trace",
    "VanishingError",
    "build_mlp",
    "build_rnn",
    "diagnose",
    "fit_decay",
    "get_activation",
    "get_init",
    "load_task",
    "run",
    "run_sweep",
    "theory",
    "watch",
]

# name -> the module that defines it; importing ``vanishing`` (or the torch-free ``vanishing.results``)
# loads nothing else, and torch only when a name that needs it is first used
_LAZY = {
    "ConfigError": "errors", "DataError": "errors", "StoreError": "errors", "VanishingError": "errors",
    "RunConfig": "config",
    "Store": "experiments", "SweepSpec": "experiments", "run_sweep": "experiments", "run": "experiments.run",
    "build_mlp": "nets", "get_activation": "nets", "get_init": "nets",
    "build_rnn": "nets", "load_task": "data", "fit_decay": "results.timeaxis",
    "Probe": "probe", "watch": "probe",
    "LayerInfo": "results", "RunResult": "results", "Trace": "results",
    "theory": None,
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = _LAZY[name]
    value = (importlib.import_module(f"{__name__}.{name}") if module is None
             else getattr(importlib.import_module(f"{__name__}.{module}"), name))
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
