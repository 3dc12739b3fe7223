"""vanishing — see, measure, explain and fix the vanishing gradient problem in PyTorch.

Quick use::

    import vanishing
    result = vanishing.run(vanishing.RunConfig.make(depth=20, activation="sigmoid", init="normal:std=0.01"))
    with vanishing.watch(model, optimizer) as probe:   # any nn.Module
        ...                                            # your training loop
    probe.trace                                        # per-layer arrays, steps × layers
"""

from __future__ import annotations

from .config import RunConfig
from .diagnose import Diagnosis, Finding, diagnose
from .errors import ConfigError, DataError, VanishingError
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
    "Trace",
    "VanishingError",
    "build_mlp",
    "diagnose",
    "get_activation",
    "get_init",
    "run",
    "theory",
    "watch",
]
