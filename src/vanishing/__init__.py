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

from .config import RunConfig
from .diagnose import Diagnosis, Finding, diagnose
from .errors import ConfigError, DataError, StoreError, VanishingError
from .experiments import Store, SweepSpec, run_sweep
from .experiments.run import RunResult, run
from .nets import build_mlp, get_activation, get_init
from . import theory
from .probe import LayerInfo, Probe, Trace, watch

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
    "diagnose",
    "get_activation",
    "get_init",
    "run",
    "run_sweep",
    "theory",
    "watch",
]
