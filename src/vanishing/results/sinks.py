"""Where metric rows go: TensorBoard event files, an MLflow run, a W&B run — torch-free.

A sink takes rows of :mod:`~vanishing.results.metrics` with explicit steps, one-line alarm messages,
and flushes. :meth:`Trace.to_tensorboard <vanishing.results.Trace.to_tensorboard>` and its siblings
write a whole trace through one; :class:`vanishing.integrations.LiveLogger` writes a training run's
new rows through the same ones while it trains. Each optional package is imported when a sink is
made; when it is missing, the error names the extra to install.
"""

from __future__ import annotations

import importlib
import time
from pathlib import Path
from typing import Any, Mapping, Protocol, runtime_checkable

from .._io import _writing
from ..errors import VanishingError
from .metrics import PREFIX, MetricRow, metric_key

__all__ = ["Sink", "TensorBoardSink", "MlflowSink", "WandbSink", "MemorySink", "write_rows", "require"]


def require(module: str, extra: str, who: str) -> Any:
    """``import module``, or a one-line error saying which extra of vanishing brings it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise VanishingError(f"{who} needs {extra}: pip install 'vanishing[{extra}]'") from None


@runtime_checkable
class Sink(Protocol):
    """Takes metric rows with explicit steps and alarm messages."""

    def write(self, step: int, metrics: Mapping[str, float]) -> None:
        """Log ``metrics`` (key → finite float) at optimizer step ``step``."""

    def alert(self, step: int, message: str) -> None:
        """Log a one-line alarm raised at ``step``."""

    def flush(self) -> None:
        """Make everything written so far visible to readers."""

    def close(self) -> None:
        """Flush and release the destination."""


def write_rows(sink: Sink, rows: list[MetricRow]) -> int:
    """Write ``rows`` to ``sink`` and flush; returns the number of rows written."""
    for step, metrics in rows:
        sink.write(step, metrics)
    sink.flush()
    return len(rows)


class MemorySink:
    """Keeps what it is given (``rows``, ``alerts``): for tests, notebooks and custom destinations."""

    def __init__(self) -> None:
        self.rows: list[MetricRow] = []
        self.alerts: list[tuple[int, str]] = []

    def write(self, step: int, metrics: Mapping[str, float]) -> None:
        self.rows.append((step, dict(metrics)))

    def alert(self, step: int, message: str) -> None:
        self.alerts.append((step, message))

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


class TensorBoardSink:
    """One TensorBoard event file in ``logdir``: one scalar summary per key (its tag) at each step, and
    alarms as text summaries under ``<prefix>/alarm``. Written with tensorboard's own event writer and
    protos (no torch, no TensorFlow); one run per logdir, never one per key as ``add_scalars`` makes.

    Scalar summaries hold float32: 7 significant digits, and a value below 1.4e-45 reads 0.
    """

    def __init__(self, logdir: str | Path, prefix: str = PREFIX):
        require("tensorboard", "tensorboard", "writing TensorBoard event files")
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.proto.summary_pb2 import Summary
        from tensorboard.plugins.text.summary_v2 import text_pb
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        self.logdir = Path(logdir)
        self._event, self._summary, self._text = Event, Summary, text_pb
        with _writing(self.logdir / "events.out.tfevents", "TensorBoard events"):
            self._writer = EventFileWriter(str(self.logdir))
        self._alarm_tag = metric_key(prefix, "alarm")

    def write(self, step: int, metrics: Mapping[str, float]) -> None:
        values = [self._summary.Value(tag=k, simple_value=v) for k, v in metrics.items()]
        self._writer.add_event(self._event(wall_time=time.time(), step=int(step), summary=self._summary(value=values)))

    def alert(self, step: int, message: str) -> None:
        self._writer.add_event(self._event(wall_time=time.time(), step=int(step),
                                           summary=self._text(self._alarm_tag, message)))

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


_MLFLOW_BATCH = 10_000  # metrics held before a send (MLflow's REST API takes 1000 per request)


class MlflowSink:
    """Metrics of the MLflow run ``run_id`` (default: the active run, started if there is none, as
    ``mlflow.log_metrics`` does), sent in batches with explicit steps; alarms as run tags
    ``<prefix>/alarm/<n>``. The tracking URI is MLflow's own (``mlflow.set_tracking_uri``,
    ``MLFLOW_TRACKING_URI``)."""

    def __init__(self, run_id: str | None = None, prefix: str = PREFIX):
        mlflow = require("mlflow", "mlflow", "logging to MLflow")
        from mlflow.entities import Metric

        if run_id is None:
            run_id = (mlflow.active_run() or mlflow.start_run()).info.run_id
        self.run_id = run_id
        self._client = mlflow.MlflowClient()
        self._metric = Metric
        self._pending: list[Any] = []
        self._prefix, self._alarms = prefix, 0

    def write(self, step: int, metrics: Mapping[str, float]) -> None:
        now = int(time.time() * 1000)
        self._pending += [self._metric(k, float(v), now, int(step)) for k, v in metrics.items()]
        if len(self._pending) >= _MLFLOW_BATCH:  # a long trace is sent in parts, not held whole
            self.flush()

    def alert(self, step: int, message: str) -> None:
        self._alarms += 1
        self._client.set_tag(self.run_id, metric_key(self._prefix, "alarm", f"{self._alarms:04d}"),
                             f"step {step}: {message}")

    def flush(self) -> None:
        if self._pending:  # log_batch splits into MLflow's batches of 1000
            pending, self._pending = self._pending, []
            self._client.log_batch(self.run_id, metrics=pending)

    def close(self) -> None:
        self.flush()


class WandbSink:
    """Rows of the W&B ``run`` (default: ``wandb.run``). Every key is plotted against
    ``<prefix>/step`` (``define_metric``), so a chart's x-axis is the optimizer step whatever W&B's
    own step counter says, and rows of earlier steps are never dropped. Alarms go to ``run.alert``."""

    def __init__(self, run: Any = None, prefix: str = PREFIX):
        if run is None:
            run = require("wandb", "wandb", "logging to W&B").run
            if run is None:
                raise VanishingError("no active W&B run: call wandb.init() first or pass run=")
        self.run = run
        self._step_key = metric_key(prefix, "step")
        self._title = prefix
        run.define_metric(self._step_key)
        run.define_metric(f"{self._step_key.rpartition('/')[0]}/*", step_metric=self._step_key)

    def write(self, step: int, metrics: Mapping[str, float]) -> None:
        self.run.log({**metrics, self._step_key: int(step)})

    def alert(self, step: int, message: str) -> None:
        self.run.alert(title=self._title, text=f"step {step}: {message}")

    def flush(self) -> None:
        pass  # wandb sends in the background; run.finish() waits for it

    def close(self) -> None:
        pass  # the run belongs to the caller
