"""Live logging: a probe's new rows go to a sink every N steps, and at once when an alarm fires.

>>> import torch, vanishing
>>> from vanishing.integrations import LiveLogger, MemorySink
>>> model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
>>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
>>> probe = vanishing.watch(model, opt, every=1)
>>> with LiveLogger(probe, MemorySink(), every=2) as live:
...     for _ in range(3):
...         opt.zero_grad(); model(torch.randn(16, 4)).pow(2).mean().backward(); opt.step()
>>> [step for step, _ in live.sink.rows]
[0, 1, 2]
"""

from __future__ import annotations

from typing import Callable, Sequence

from ..errors import ConfigError
from ..probe import Probe
from ..results import Trace
from ..results.metrics import PREFIX, MetricRow, applicable, due_mask, metric_rows, span
from ..results.sinks import Sink, write_rows
from .alarms import ALARMS, Alarm, AlarmRule, Reading

__all__ = ["LiveLogger"]


class LiveLogger:
    """Logs what ``probe`` records to ``sink`` while a model trains, and checks alarm rules on the way.

    After each ``optimizer.step()`` (a step post-hook on ``probe.optimizer``; without an optimizer, or
    from a framework's callback, call :meth:`update` after each step) it reads the steps finished since
    its last read (the first: since it was made) from ``probe.trace`` — only when the probe recorded
    something on them, so a step where nothing is due costs a few Python calls — and checks ``alarms``
    (default :data:`~.alarms.ALARMS`) on each recorded step. Rows go to the sink every ``every``
    steps, and immediately when an alarm fires; the alarm follows as ``sink.alert`` and
    ``on_alarm(alarm)``. A rule fires when its condition starts to hold and again only after it has
    stopped holding. :meth:`close` (or leaving the ``with`` block) writes the rest, removes the hook
    and closes the sink.

    Reading ``probe.trace`` rebuilds it, a cost that grows with the steps recorded so far. With the
    probe's default schedule (log-spaced early, then every 50 steps) that is a read every 50 steps; with a probe
    recording every step of a long run, check every ``check_every`` steps instead (alarms then come
    up to that many steps late).

    Keys and the treatment of NaN/Inf are those of :mod:`vanishing.results.metrics`; which steps a
    quantity was due on comes from the probe's own schedules.
    """

    def __init__(self, probe: Probe, sink: Sink, every: int = 50, alarms: Sequence[AlarmRule] | None = None,
                 on_alarm: Callable[[Alarm], None] | None = None, check_every: int = 1, prefix: str = PREFIX):
        for name, n in (("every", every), ("check_every", check_every)):
            if not isinstance(n, int) or isinstance(n, bool) or n < 1:
                raise ConfigError(name, n, "an integer >= 1 (steps)")
        if not isinstance(sink, Sink):
            raise ConfigError("sink", type(sink).__name__, "an object with write, alert, flush and close "
                                                           "(TensorBoardSink, MlflowSink, WandbSink, MemorySink)")
        self.probe, self.sink, self.every, self.check_every, self.prefix = probe, sink, every, check_every, prefix
        self.rules = list(ALARMS if alarms is None else alarms)
        self.on_alarm = on_alarm
        self.alarms: list[Alarm] = []
        """Every alarm fired so far."""
        self._read = self._written = probe.step_index  # steps below these are read / written
        self._pending: list[MetricRow] = []
        self._active: set[str] = set()
        self._closed = False
        opt = getattr(probe, "optimizer", None)
        self._handle = opt.register_step_post_hook(lambda *_: self.update()) if opt is not None else None

    def update(self) -> list[Alarm]:
        """Read the steps finished since the last read; write if due; returns the alarms that fired now."""
        done = self.probe.step_index  # steps below it are complete
        if self._closed or done <= self._read:
            return []
        write = done - self._written >= self.every
        check = self.rules and done - self._read >= self.check_every and self._recorded(self._read, done)
        if not (write or check):
            return []
        fired = self._read_until(done)
        if fired or write:
            self._write(done)
        self._tell(fired)
        return fired

    def close(self) -> None:
        """Write every finished step, remove the hook, close the sink (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
        done = self.probe.step_index
        fired = self._read_until(done) if done > self._read else []
        self._write(done)
        self._tell(fired)
        self.sink.close()

    def __enter__(self) -> "LiveLogger":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- reading -------------------------------------------------------------------------
    def _due(self, q: str, k: int) -> bool:
        s = getattr(self.probe, "schedules", {}).get(q)
        return bool(s is not None and s(k))

    def _recorded(self, a: int, b: int) -> bool:
        """Was any quantity due on a step ``a <= k < b``? (True when the probe does not say.)"""
        schedules = getattr(self.probe, "schedules", None)
        if schedules is None:
            return True
        return any(s(k) for k in range(a, b) for s in schedules.values())

    def _read_until(self, done: int) -> list[Alarm]:
        trace = self.probe.trace
        due = self._due if hasattr(self.probe, "schedules") else None
        self._pending += metric_rows(trace, self._read, done, self.prefix, due)
        fired = self._check(trace, span(trace, self._read, done), due) if self.rules else []
        self._read = done
        return fired

    def _check(self, trace: Trace, where: slice, due: Callable[[str, int], bool] | None) -> list[Alarm]:
        when = due_mask(trace, due, where)
        counted = {q: applicable(v) for q, v in trace.data.items()}
        fired = []
        for i, step in enumerate(trace.steps[where].tolist()):
            values = {q: v[where][i] for q, v in trace.data.items() if when[q][i]}
            if not values:
                continue  # only scalars on this step: nothing to judge
            reading = Reading(int(step), values, counted, trace.layers)
            now = {a.rule: a for a in (rule(reading) for rule in self.rules) if a is not None}
            fired += [a for name, a in now.items() if name not in self._active]
            self._active = set(now)
        self.alarms += fired
        return fired

    def _tell(self, fired: list[Alarm]) -> None:
        for a in fired:
            self.sink.alert(a.step, a.message)
            if self.on_alarm is not None:
                self.on_alarm(a)

    def _write(self, done: int) -> None:
        rows, self._pending = self._pending, []
        write_rows(self.sink, rows)
        self._written = done
