"""One run of the playground: :func:`vanishing.experiments.run` in a background thread that a page
plays, pauses, steps and stops, publishing what it recorded at most ``updates_per_s`` times a second.

The training thread does all the reading (the probe's trace, the decision boundary, the diagnosis)
between two optimizer steps, so nothing touches the model or the probe while it trains; the server's
streams only read the published snapshot.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Literal

from torch import nn

from ..config import RunConfig
from ..data import Dataset
from ..diagnose import diagnose
from ..errors import VanishingError
from ..experiments.run import run
from ..probe import Probe
from ..probe.schedules import every_and_last
from ..results import RunResult
from .views import decision_boundary, diagnosis_view, points, step_row, trace_rows

__all__ = ["LiveRun", "State", "ACTIVE_STATES", "DIAGNOSIS_EVERY_S", "BOUNDARY_EVERY_S"]

State = Literal["paused", "running", "finished", "stopped", "failed"]
ACTIVE_STATES: tuple[str, ...] = ("paused", "running")
DIAGNOSIS_EVERY_S = 2.0  # the live diagnosis is redone at most this often (it reads the whole trace)
BOUNDARY_EVERY_S = 0.5  # the decision boundary is redrawn at most this often


class LiveRun:
    """A run that trains while ``play``\\ ed, waits while paused, and stops on ``stop``.

    ``version`` grows with every published snapshot; :meth:`message` gives what a page has not seen yet.
    """

    def __init__(self, run_id: str, config: RunConfig, updates_per_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic):
        self.id, self.config = run_id, config
        # a little more often than the streams send (they hold each page to updates_per_s): a step time
        # just under 1 / updates_per_s then still gives every send a new row instead of every other one
        self.min_interval = 0.8 / updates_per_s
        self.clock = clock
        self.state: State = "paused"
        self.error: str | None = None
        self.result: RunResult | None = None
        self.steps_done = 0
        self.version = 0
        self.listeners = 0
        self.orphan_since: float | None = clock()
        self.started_at: float | None = None
        self.first_update_at: float | None = None
        self.rows: list[dict[str, Any]] = []
        self.extras: dict[str, Any] = {"boundary": None, "diagnosis": None, "points": None,
                                       "layers": None, "majority_baseline": None}
        self.extras_version: dict[str, int] = {k: 0 for k in self.extras}
        self._cond = threading.Condition()
        self._until: int | None = 0  # train until this many steps are done (None: to the end)
        self._stop = False
        self._data: Dataset | None = None
        self._model: nn.Module | None = None
        self._probe: Probe | None = None
        self._recorded = every_and_last(config.record_every, config.steps)
        self._last_publish = -float("inf")
        self._last = {"boundary": -float("inf"), "diagnosis": -float("inf")}
        self._thread = threading.Thread(target=self._main, name=f"vanishing-playground-{run_id}", daemon=True)

    # --- control (any thread) -------------------------------------------------------------
    def start(self, play: bool = True) -> "LiveRun":
        self._until = None if play else 0
        self.state = "running" if play else "paused"
        self.started_at = self.clock()
        self._thread.start()
        return self

    def control(self, action: str) -> None:
        """``play`` | ``pause`` | ``step`` (to the next recorded step) | ``stop``."""
        with self._cond:
            if self.done:
                return
            if action == "play":
                self._until, self.state = None, "running"
            elif action == "pause":
                self._until = self.steps_done
            elif action == "step":
                k = self.steps_done  # steps 0 .. k-1 are done: train up to the next recorded one
                while k < self.config.steps - 1 and not self._recorded(k):
                    k += 1
                self._until, self.state = k + 1, "running"
            elif action == "stop":
                self._stop = True
            else:
                raise VanishingError(f"unknown action {action!r}; one of: play, pause, step, stop")
            self._cond.notify_all()

    def stop(self) -> None:
        self.control("stop")

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the training thread; True when it has ended."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def done(self) -> bool:
        return self.state not in ACTIVE_STATES

    def attach_listener(self) -> None:
        with self._cond:
            self.listeners += 1
            self.orphan_since = None

    def detach_listener(self) -> None:
        with self._cond:
            self.listeners -= 1
            if self.listeners <= 0:
                self.listeners, self.orphan_since = 0, self.clock()

    def message(self, sent_rows: int, sent_extras: dict[str, int]) -> dict[str, Any]:
        """What a page that has ``sent_rows`` rows and the extras of versions ``sent_extras`` is missing
        (``sent_extras`` is updated in place)."""
        with self._cond:
            msg: dict[str, Any] = {"id": self.id, "state": self.state, "step": self.steps_done,
                                   "steps": self.config.steps, "version": self.version,
                                   "rows": self.rows[sent_rows:], "error": self.error}
            for key, v in self.extras_version.items():
                if sent_extras.get(key, 0) != v:
                    msg[key] = self.extras[key]
                    sent_extras[key] = v
        return msg

    # --- the training thread ---------------------------------------------------------------
    def _main(self) -> None:
        try:
            result = run(self.config, on_step=self._on_step, on_start=self._on_start)
        except Exception as exc:  # noqa: BLE001 - never a silent dead thread: the page shows what broke
            # a VanishingError (a run refused for memory, ...) is one line already
            error = str(exc) if isinstance(exc, VanishingError) else f"{type(exc).__name__}: {exc}"
            self._publish(state="failed", error=error)
            return
        updates: dict[str, Any] = {"diagnosis": diagnosis_view(diagnose(result), self.config),
                                   "layers": result.trace.layer_names}
        if self._data is not None and self._model is not None:
            updates["boundary"] = decision_boundary(self._model, self._data)
        self._publish(rows=trace_rows(result.trace, start=len(self.rows)), updates=updates, result=result,
                      steps_done=result.outcome.steps_done,
                      state="stopped" if result.outcome.interrupted else "finished")
        self._model = self._probe = None  # the result holds the trace; the network is no longer needed

    def _on_start(self, data: Dataset, model: nn.Module, probe: Probe) -> None:
        self._data, self._model, self._probe = data, model, probe
        self._publish(updates={"points": points(data), "majority_baseline": data.majority_baseline,
                               "boundary": decision_boundary(model, data)})

    def _on_step(self, k: int) -> None:
        self.steps_done = k
        # the first row goes out at once (the page's first picture), later ones at most min_interval apart
        if self._recorded(k - 1) and (not self.rows or self.clock() - self._last_publish >= self.min_interval):
            self._snapshot()
        waited = False
        with self._cond:
            while not self._stop and self._until is not None and k >= self._until:
                if not waited:
                    self._cond.release()
                    try:
                        self._snapshot("paused")  # with whatever the throttle held back
                    finally:
                        self._cond.acquire()
                    waited = True
                    continue
                self._cond.wait(0.5)
            if self._stop:
                raise KeyboardInterrupt  # train() stops here and keeps what was recorded, as on Ctrl-C
            self.state = "running"

    def _snapshot(self, state: State | None = None) -> None:
        """Read the probe between two steps (in the training thread itself) and publish: the new rows
        first, then (when due) the diagnosis, which reads the whole trace and takes longer."""
        assert self._probe is not None and self._data is not None and self._model is not None
        now = self.clock()
        updates: dict[str, Any] = {}
        if now - self._last["boundary"] >= BOUNDARY_EVERY_S:
            self._last["boundary"] = now
            updates["boundary"] = decision_boundary(self._model, self._data)
        if self.extras["layers"] is None and self._probe.layers:
            updates["layers"] = [layer.name for layer in self._probe.layers]
        self._publish(rows=self._new_rows(), updates=updates, state=state)
        if (state is not None or now - self._last["diagnosis"] >= DIAGNOSIS_EVERY_S) and self.rows:
            self._last["diagnosis"] = now
            config = {**self.config.model_dump(), "in_features": self._data.in_features,
                      "out_features": self._data.out_features}
            d = diagnose(self._probe.trace, config, majority_baseline=self._data.majority_baseline)
            self._publish(updates={"diagnosis": diagnosis_view(d, self.config)})

    def _new_rows(self) -> list[dict[str, Any]]:
        """The steps recorded since the last snapshot, read from the probe's recorder (host copies)
        rather than a whole new trace: a snapshot costs the new rows, not every row so far."""
        assert self._probe is not None
        recorder = self._probe.recorder
        recorder.flush()
        last = self.rows[-1]["step"] if self.rows else -1
        steps = sorted(k for k in set(recorder.host) | set(recorder.host_scalars) if k > last)
        return [step_row(k, recorder.host.get(k, {}), recorder.host_scalars.get(k, {})) for k in steps]

    def _publish(self, rows: list[dict[str, Any]] | None = None, updates: dict[str, Any] | None = None,
                 state: State | None = None, **fields: Any) -> None:
        """Make a new snapshot visible to the streams: new rows, changed extras, state."""
        with self._cond:
            for key, value in (updates or {}).items():
                self.extras[key] = value
                self.extras_version[key] += 1
            self.rows.extend(rows or [])
            for key, value in fields.items():
                setattr(self, key, value)
            if state is not None:
                self.state = state
            now = self.clock()
            self._last_publish = now
            if self.first_update_at is None and self.rows:
                self.first_update_at = now
            self.version += 1
            self._cond.notify_all()
