"""Thin adapters between vanishing and the tools practitioners train and watch with: callbacks for
Lightning (:mod:`.lightning`) and the Hugging Face Trainer (:mod:`.transformers`), each imported from its
own module so that neither optional package is needed by the other; and live logging with alarms to
TensorBoard, MLflow or W&B (:class:`LiveLogger`), with the sinks it writes through.

A whole trace is exported with :meth:`Trace.to_tensorboard <vanishing.results.Trace.to_tensorboard>`,
``to_mlflow`` and ``to_wandb``; the sinks and the metric keys live in the torch-free
:mod:`vanishing.results` so those methods need no torch.
"""

from ..results.sinks import MemorySink, MlflowSink, Sink, TensorBoardSink, WandbSink
from . import alarms
from .alarms import ALARMS, Alarm, Reading
from .live import LiveLogger

__all__ = ["LiveLogger", "Alarm", "Reading", "ALARMS", "alarms", "Sink", "TensorBoardSink", "MlflowSink",
           "WandbSink", "MemorySink"]
