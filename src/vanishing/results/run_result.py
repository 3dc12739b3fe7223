"""One finished run as data: config, trace, training outcome, data set, diagnosis — torch-free.

:class:`RunResult` is what :func:`vanishing.run` returns, what ``vanishing run --json`` writes and
what reports and the store read. Its file format (``to_dict``/``save_json``), version 2::

    {"version": 2, "config": {...}, "command": "vanishing run ...", "dataset": {...},
     "summary": {...}, "diagnosis": {...} | null, "trace": <Trace.to_dict()>}

Every per-layer quantity and scalar is in ``trace`` once; non-finite numbers follow
:mod:`vanishing.results.codec`. Version 1 (the quantities also at the top level, NaN and ±inf in the
summary written as ``null``) is still read.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .._io import read_text_bounded, write_text
from ..errors import ConfigError, VanishingError, safe_repr
from . import codec
from .outcome import TrainOutcome
from .trace import Trace

__all__ = ["RunResult", "RESULT_VERSION", "MAX_RESULT_BYTES", "MAX_RESULT_NESTING", "WEIGHT_GRAD_ORDERS", "SIGNAL_ORDERS", "SUMMARY_LABELS", "orders_lost"]

RESULT_VERSION = 2
_READS = (1, 2)

# The two measures of "orders lost", named once and used by the summary, the diagnosis and the reports.
# Both are log10(last layer / first layer): > 0 means the early layers get less (vanishing), < 0 more.
WEIGHT_GRAD_ORDERS = "weight-gradient orders"  # of ‖∂L/∂W_l‖, what the optimizer sees
SIGNAL_ORDERS = "signal orders"  # of ‖∂L/∂z_l‖, the backward signal that theory predicts

SUMMARY_LABELS: dict[str, str] = {
    "vanishing_orders": f"{WEIGHT_GRAD_ORDERS} at step 0 (log10 ‖∂L/∂W‖ last / first layer)",
    "vanishing_orders_final": f"{WEIGHT_GRAD_ORDERS} at the last recorded step",
    "signal_vanishing_orders": f"{SIGNAL_ORDERS} at step 0 (log10 ‖∂L/∂z‖ last / first layer)",
    "predicted_vanishing_orders": f"{SIGNAL_ORDERS} at step 0 predicted by mean-field theory",
    "first_layer_grad_norm": "first-layer ‖∂L/∂W‖ (step 0)",
    "last_layer_grad_norm": "last-layer ‖∂L/∂W‖ (step 0)",
    "final_loss": "final loss",
    "final_train_accuracy": "final train accuracy",
    "final_test_accuracy": "final test accuracy",
    "final_test_loss": "final test loss",
    "baseline": "test loss of the task's memoryless answer (sequence tasks)",
    "score_vs_baseline": "final test loss / baseline (1 = learned nothing a memoryless answer does not know)",
    "solved": "final test loss below the task's solved line",
    "clipped_steps": "steps whose gradient norm was clipped",
    "time_orders": "orders through time at step 0 (log10 ‖∂L/∂h_t‖ last / first time step)",
    "xi_steps": "measured decay time ξ̂ at step 0 (time steps per e-fold of ‖∂L/∂h_t‖, Theil–Sen)",
    "reach_steps": "longest dependency whose ‖∂L/∂h_t‖ stays ≥ 1e-6 × the last step's (step 0)",
    "majority_baseline": "accuracy of always guessing the commonest class",
    "diverged": "diverged",
    "diverged_step": "diverged at step",
    "steps_done": "steps done",
    "interrupted": "interrupted",
    "duration_s": "duration (s)",
}
"""summary key → what it measures, with the measure's name and its step (reports and tables show these)."""


TIME_SUMMARY_SOURCES = ("hidden_grad_norm", "input_grad_norm_t")
"""The time-axis quantities the summary's ξ̂, reach and orders through time are read from, first found first."""


def orders_lost(row: Any) -> float:
    """log10(last / first) over the first and last layers with a recorded norm (NaN = not recorded).

    +inf when only the first is exactly 0 (nothing reaches it), -inf when only the last is; NaN when
    both are 0, either is ±inf, a norm is negative, or fewer than two layers were recorded.
    """
    row = np.asarray(row, dtype=float)
    idx = np.flatnonzero(~np.isnan(row))
    if idx.size < 2:
        return math.nan
    first, last = float(row[idx[0]]), float(row[idx[-1]])
    if not (math.isfinite(first) and math.isfinite(last)) or first < 0 or last < 0 or first == last == 0:
        return math.nan
    if first == 0:
        return math.inf
    if last == 0:
        return -math.inf
    return math.log10(last / first)


@dataclass
class RunResult:
    """Everything one run produced; ``to_dict()`` is the ``--json`` format.

    Attributes:
        config: the run's settings as a plain dict (``RunConfig.model_dump()``); a
            :class:`~vanishing.config.RunConfig` given here is stored as its dict.
            ``RunConfig.make(result.config)`` rebuilds the validated config.
        trace: the per-layer record.
        outcome: what the training loop observed.
        dataset: the data set's description (spec, sizes, majority baseline).
        duration_s: wall time of the run.
        diagnosis: the diagnosis as a JSON record (``Diagnosis.to_dict()``), made by whoever made the
            result (:func:`vanishing.run`, the store); ``None`` when none was made.
            ``vanishing.diagnose(result)`` gives the :class:`~vanishing.diagnose.Diagnosis` itself.
        command: the ``vanishing run`` command line that reproduces the run ("" when unknown).
    """

    config: dict[str, Any]
    trace: Trace
    outcome: TrainOutcome
    dataset: dict[str, Any] = field(default_factory=dict)
    duration_s: float = float("nan")
    diagnosis: dict[str, Any] | None = None
    command: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.config, Mapping):  # a RunConfig (pydantic), read without importing it
            self.config = self.config.model_dump()
        self.config = dict(self.config)

    @property
    def layers(self) -> list[str]:
        return self.trace.layer_names

    @property
    def verdict(self) -> str | None:
        """The diagnosis' verdict (``None`` when no diagnosis was made)."""
        return None if self.diagnosis is None else self.diagnosis.get("verdict")

    def _row(self, name: str, which: int) -> np.ndarray:
        steps, values = self.trace.recorded(name) if name in self.trace else ([], None)
        if len(steps) == 0:
            return np.full(len(self.layers), np.nan)
        return values[which]

    @property
    def baseline(self) -> float | None:
        """The sequence task's baseline test loss (its memoryless answer's); ``None`` for other data sets."""
        return self.dataset.get("baseline")

    @property
    def score_vs_baseline(self) -> float | None:
        """Final test loss / :attr:`baseline` (1 = learned nothing a memoryless answer does not know)."""
        b, loss = self.baseline, self.outcome.final_test_loss
        return None if b is None or loss is None or not b > 0 else loss / b

    @property
    def solved(self) -> bool | None:
        """Final test loss below the task's solved line (``None`` where the task has none)."""
        line, loss = self.dataset.get("solved_below"), self.outcome.final_test_loss
        return None if self.baseline is None or line is None or loss is None else bool(loss < line)

    @property
    def summary(self) -> dict[str, Any]:
        """Headline numbers; :data:`SUMMARY_LABELS` says what each measures. The ``*_orders`` keys are
        :func:`orders_lost` (log10 last / first layer; > 0 = early layers get less) of the weight
        gradients (``vanishing_orders*``) or of the backward signal (``signal_vanishing_orders``)."""
        g0, g_end = self._row("grad_norm", 0), self._row("grad_norm", -1)
        sig0 = self._row("signal_grad_norm", 0)
        o = self.outcome
        out = {
            "vanishing_orders": orders_lost(g0),
            "vanishing_orders_final": orders_lost(g_end),
            "signal_vanishing_orders": orders_lost(sig0),
            "first_layer_grad_norm": float(g0[0]),
            "last_layer_grad_norm": float(g0[-1]),
            "final_loss": o.final_loss,
            "final_test_loss": o.final_test_loss,
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
        baseline = self.baseline
        if baseline is not None:  # a sequence task: its score against the memoryless answer
            out.update(baseline=baseline, score_vs_baseline=self.score_vs_baseline, solved=self.solved)
        if baseline is not None or self.config.get("clip") is not None:
            out["clipped_steps"] = o.clipped_steps
        out.update(self._time_summary())
        return out

    def _time_summary(self) -> dict[str, Any]:
        """ξ̂, reach and orders through time of the first recorded row of ``hidden_grad_norm`` (else
        ``input_grad_norm_t``); empty for a trace without a time axis."""
        name = next((n for n in TIME_SUMMARY_SOURCES if n in self.trace.time), None)
        if name is None:
            return {}
        from .timeaxis import fit_decay  # timeaxis reads orders_lost from this module

        steps, rows = self.trace.recorded_time(name)
        if len(steps) == 0:
            return {"time_orders": None, "xi_steps": None, "reach_steps": None}
        d = fit_decay(rows[0])
        return {"time_orders": d.orders_through_time, "xi_steps": d.xi, "reach_steps": d.reach}

    # --- JSON ----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` format (see the module docstring), JSON-ready."""
        return codec.encode({
            "version": RESULT_VERSION,
            "config": self.config,
            "command": self.command,
            "dataset": self.dataset,
            "summary": self.summary,
            "diagnosis": self.diagnosis,
            "trace": self.trace.to_dict(),
        })

    def save_json(self, path: str | Path) -> Path:
        return write_text(path, codec.dumps(self.to_dict(), indent=1), "result")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "RunResult":
        """Inverse of :meth:`to_dict`; reads versions 1 and 2. Data read from a file is checked part by
        part (the trace's shapes against its steps and layers, the summary's types); a bad part is a
        one-line :class:`~vanishing.errors.VanishingError` naming it."""
        if not isinstance(d, Mapping):
            raise ConfigError("result", d, "a JSON object written by `vanishing run --json`")
        version = d.get("version", 1)
        if isinstance(version, bool) or version not in _READS:
            raise VanishingError(f"result version {safe_repr(version)}; this version of vanishing reads "
                                 f"{', '.join(map(str, _READS))}")
        for key in ("config", "summary", "trace"):
            if key not in d:
                raise VanishingError(f"not a vanishing run result (missing {key!r})")
        s = codec.decode(d["summary"])
        if not isinstance(s, Mapping):
            raise ConfigError("summary", s, "a JSON object of headline numbers")
        for key, kind in _SUMMARY_TYPES.items():
            if key not in s and key in _SUMMARY_REQUIRED:
                raise VanishingError(f"not a vanishing run result (missing 'summary.{key}')")
            if not _is_a(s.get(key), kind):
                raise ConfigError(f"summary.{key}", s.get(key), _KIND_WORDS[kind])
        config, dataset, diagnosis, command = (d["config"], codec.decode(d.get("dataset", {})),
                                               codec.decode(d.get("diagnosis")), d.get("command", ""))
        for key, value, ok, words in (("config", config, isinstance(config, Mapping), "a JSON object"),
                                      ("dataset", dataset, isinstance(dataset, Mapping), "a JSON object"),
                                      ("diagnosis", diagnosis, diagnosis is None or isinstance(diagnosis, Mapping),
                                       "a JSON object or null"),
                                      ("command", command, isinstance(command, str), "text")):
            if not ok:
                raise ConfigError(key, value, words)
        outcome = TrainOutcome(
            steps_done=s["steps_done"], diverged=s["diverged"], diverged_step=s.get("diverged_step"),
            final_loss=_num(s["final_loss"]), final_train_accuracy=s.get("final_train_accuracy"),
            final_test_accuracy=s.get("final_test_accuracy"), interrupted=s.get("interrupted", False),
            final_test_loss=s.get("final_test_loss"), clipped_steps=int(s.get("clipped_steps") or 0))
        return cls(dict(config), Trace.from_dict(d["trace"]), outcome, dict(dataset), _num(s.get("duration_s")),
                   diagnosis, command)

    @classmethod
    def load_json(cls, path: str | Path) -> "RunResult":
        """Read a ``--json`` result file: at most :data:`MAX_RESULT_BYTES`, JSON nested at most
        :data:`MAX_RESULT_NESTING` deep, every part checked (:meth:`from_dict`); anything else is a
        one-line :class:`~vanishing.errors.VanishingError` naming the file."""
        text = read_text_bounded(path, MAX_RESULT_BYTES, "result file", "file")
        try:
            d = json.loads(text)
        except ValueError as exc:  # json.JSONDecodeError
            where = f"line {exc.lineno}: {exc.msg}" if hasattr(exc, "lineno") else str(exc)
            raise ConfigError("result file", str(path), f"valid JSON ({where})") from None
        except RecursionError:  # the parser recurses once per level
            d = None
            depth = MAX_RESULT_NESTING + 1
        else:
            depth = codec.nesting_depth(d, MAX_RESULT_NESTING)
        if depth > MAX_RESULT_NESTING:
            raise ConfigError("result file", str(path), f"JSON nested at most {MAX_RESULT_NESTING} deep "
                                                        "(a result of `vanishing run --json`)")
        if not isinstance(d, dict):
            raise ConfigError("result file", str(path), "a JSON object written by `vanishing run --json`")
        try:
            return cls.from_dict(d)
        except VanishingError as exc:
            raise VanishingError(f"result file {safe_repr(str(path), 400)}: {exc}") from None


MAX_RESULT_BYTES = 512 << 20
"""The largest result file :meth:`RunResult.load_json` reads (a depth-10 000 run recorded 50 times
writes about 60 MB)."""
MAX_RESULT_NESTING = 32
"""How deep JSON may nest in a result file (the format itself nests 5 deep; diagnoses a few more)."""

_NUMBER, _INT, _BOOL = "number", "int", "bool"
_SUMMARY_TYPES = {"steps_done": _INT, "diverged": _BOOL, "diverged_step": _INT, "final_loss": _NUMBER,
                  "final_train_accuracy": _NUMBER, "final_test_accuracy": _NUMBER, "interrupted": _BOOL,
                  "duration_s": _NUMBER, "final_test_loss": _NUMBER, "clipped_steps": _INT}
_SUMMARY_REQUIRED = ("steps_done", "diverged", "final_loss")
_KIND_WORDS = {_NUMBER: "a number or null", _INT: "an integer >= 0 or null", _BOOL: "true, false or null"}


def _is_a(v: Any, kind: str) -> bool:
    """``v`` (or a missing value, None) is of ``kind``."""
    if v is None:
        return True
    if kind == _BOOL:
        return isinstance(v, bool)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    if kind == _INT:
        return isinstance(v, int) and 0 <= v < 2**63
    return isinstance(v, float) or abs(v) < 2**1023  # an int that float() can hold


def _num(v: Any) -> float:
    return float("nan") if v is None else float(v)
