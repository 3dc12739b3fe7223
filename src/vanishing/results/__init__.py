"""Results as data — torch-free: what a run produced, and the one JSON codec that writes it.

Reports and the store read these records; the probe, the training loop and the experiments make
them. Importing this package loads numpy, never torch.
"""

from . import codec
from .outcome import TrainOutcome
from .run_result import RESULT_VERSION, RunResult
from .trace import FORMAT as TRACE_FORMAT
from .trace import LayerInfo, Trace
from .timeaxis import Decay, fit_decay

__all__ = ["RunResult", "TrainOutcome", "Trace", "LayerInfo", "codec", "RESULT_VERSION", "TRACE_FORMAT", "Decay",
           "fit_decay"]
