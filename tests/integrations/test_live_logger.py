"""LiveLogger on a real training loop: what reaches the sink, when, and the alarms on the way."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import vanishing
from vanishing.errors import ConfigError
from vanishing.integrations import LiveLogger, MemorySink

pytestmark = pytest.mark.integrations


def _example():
    """examples/live_alarms.py, whose networks and loop these tests train."""
    path = Path(__file__).parents[2] / "examples" / "live_alarms.py"
    spec = importlib.util.spec_from_file_location("live_alarms_example", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


EXAMPLE = _example()
Scaled = EXAMPLE.Net  # fc1 → tanh → ×scale → fc2 → tanh → fc3: fc1's gradient ``scale`` times smaller
train = EXAMPLE.train


class TimedSink(MemorySink):
    """Notes the probe's step count each time it is flushed."""

    def __init__(self, probe_ref):
        super().__init__()
        self.probe_ref, self.flushed_at = probe_ref, []

    def flush(self):
        self.flushed_at.append(self.probe_ref[0].step_index)


def test_every_finished_step_is_written_once_with_the_trace_values():
    model = Scaled()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    probe = vanishing.watch(model, opt, every=[0, 1, 2, 3, 5, 8, 9])
    sink = MemorySink()
    with LiveLogger(probe, sink, every=3, alarms=[]):
        train(model, opt, 10, probe=probe)
    t = probe.trace
    assert [s for s, _ in sink.rows] == t.steps.tolist() == list(range(10))  # loss logged every step
    names = [f"{i + 1:02d}_{n}" for i, n in enumerate(t.layer_names)]
    for i, (step, row) in enumerate(sink.rows):
        assert row["vanishing/loss"] == t.scalars["loss"][i]
        for q, v in t.data.items():
            recorded = step in (0, 1, 2, 3, 5, 8, 9)
            assert (f"vanishing/nonfinite/{q}" in row) == recorded
            for layer, name in enumerate(names):
                key = f"vanishing/{q}/{name}"
                if recorded and np.isfinite(v[i, layer]):
                    assert row[key] == v[i, layer]
                else:
                    assert key not in row


def test_rows_go_out_every_n_steps_and_the_rest_on_close():
    model = Scaled()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    probe = vanishing.watch(model, opt, every=1)
    ref = [probe]
    sink = TimedSink(ref)
    live = LiveLogger(probe, sink, every=4, alarms=[])
    train(model, opt, 10)
    assert sink.flushed_at == [4, 8] and [s for s, _ in sink.rows] == list(range(8))
    live.close()
    assert sink.flushed_at == [4, 8, 10] and [s for s, _ in sink.rows] == list(range(10))


def test_close_removes_the_hook():
    model = Scaled()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    probe = vanishing.watch(model, opt, every=1)
    hooks = len(opt._optimizer_step_post_hooks)
    live = LiveLogger(probe, MemorySink(), every=1)
    assert len(opt._optimizer_step_post_hooks) == hooks + 1
    live.close()
    live.close()
    assert len(opt._optimizer_step_post_hooks) == hooks
    train(model, opt, 2)  # no error, nothing written after close
    assert [s for s, _ in live.sink.rows] == []


def test_a_vanishing_layer_raises_one_alarm_with_its_numbers_and_rows_go_out_at_once():
    model = Scaled(scale=1e-10)  # fc1's weight gradient ~1e-10 of fc3's
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    probe = vanishing.watch(model, opt, every=1)
    seen = []
    live = LiveLogger(probe, MemorySink(), every=100,
                      on_alarm=lambda a: seen.append((a, [s for s, _ in live.sink.rows])))
    train(model, opt, 3)
    live.close()
    assert [a.rule for a, _ in seen] == ["vanishing"]  # fired once, not once per step
    alarm, written = seen[0]
    assert alarm.step == 0 and written == [0]  # the row was written before the alarm was told
    g = probe.trace["grad_norm"][0]
    assert g[0] / g[2] < 1e-8
    assert alarm.message.startswith(f"layer 1 (fc1)'s weight gradient ‖∂L/∂W‖ {g[0]:.2e} fell below 1e-08 "
                                    f"of the last layer's ({g[2]:.2e}): {g[0] / g[2]:.1e}")
    assert live.sink.alerts == [(0, alarm.message)]


def test_check_every_reads_every_n_steps_and_keeps_each_alarm_at_its_own_step():
    model = Scaled()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    probe = vanishing.watch(model, opt, every=1)
    seen = []
    live = LiveLogger(probe, MemorySink(), every=100, check_every=4,
                      on_alarm=lambda a: seen.append((a.step, probe.step_index, [s for s, _ in live.sink.rows])))
    train(model, opt, 6, bad_step=1)
    live.close()
    assert seen == [(1, 4, [0, 1, 2, 3])]  # found at the read after step 3, about step 1


def test_non_finite_gradients_raise_an_alarm_at_their_step_and_are_counted():
    model = Scaled()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    probe = vanishing.watch(model, opt, every=1)
    sink = MemorySink()
    with LiveLogger(probe, sink, every=100) as live:
        train(model, opt, 4, bad_step=2)
    assert [(a.rule, a.step) for a in live.alarms][:1] == [("nonfinite", 2)]
    assert "NaN/Inf gradient entries in layer" in live.alarms[0].message
    rows = dict(sink.rows)
    t = probe.trace
    bad = int((~np.isfinite(t["grad_norm"][2])).sum())
    assert bad > 0 and rows[2]["vanishing/nonfinite/grad_norm"] == bad
    assert rows[2]["vanishing/nonfinite/any"] == 1.0 and rows[1]["vanishing/nonfinite/any"] == 0.0


def test_without_an_optimizer_update_is_called_after_each_step():
    model = Scaled()
    probe = vanishing.watch(model, every=1)
    live = LiveLogger(probe, MemorySink(), every=1, alarms=[])
    for _ in range(3):
        model(torch.randn(8, 4)).pow(2).mean().backward()
        probe.step()
        live.update()
    assert [s for s, _ in live.sink.rows] == [0, 1, 2]


def test_live_rows_reach_tensorboard_with_the_alarm_as_text(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from vanishing.integrations import TensorBoardSink

    model = Scaled(scale=1e-10)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    probe = vanishing.watch(model, opt, every=1)
    with LiveLogger(probe, TensorBoardSink(tmp_path), every=2) as live:
        train(model, opt, 3)
    ea = EventAccumulator(str(tmp_path), size_guidance={"scalars": 0, "tensors": 0})
    ea.Reload()
    g = probe.trace["grad_norm"]
    assert [(e.step, e.value) for e in ea.Scalars("vanishing/grad_norm/01_fc1")] == [
        (k, float(np.float32(g[k, 0]))) for k in range(3)]
    [text] = ea.Tensors("vanishing/alarm")
    assert text.step == 0 and text.tensor_proto.string_val[0].decode() == live.alarms[0].message


@pytest.mark.parametrize("kwargs, field", [({"every": 0}, "every"), ({"every": 2.5}, "every"),
                                           ({"check_every": 0}, "check_every"),
                                           ({"sink": object()}, "sink")])
def test_bad_arguments_name_the_field(kwargs, field):
    model = Scaled()
    probe = vanishing.watch(model, every=1)
    args = {"sink": MemorySink(), **kwargs}
    with pytest.raises(ConfigError, match=f"^invalid {field} "):
        LiveLogger(probe, **args)


@pytest.mark.slow
def test_the_example_script_prints_the_alarms_the_docs_show(tmp_path):
    root = Path(__file__).parents[2]
    out = subprocess.run([sys.executable, str(root / "examples" / "live_alarms.py")], cwd=tmp_path, check=True,
                         capture_output=True, text=True).stdout.splitlines()
    docs = (root / "docs" / "integrations.md").read_text()
    shown = docs.split("python examples/live_alarms.py", 1)[1].split("```text\n", 1)[1].split("```", 1)[0].splitlines()
    assert len(out) == len(shown) == 6
    for got, doc in zip(out, shown):
        # the numbers depend on the CPU's float32 rounding in their last digits: compare the words
        words = lambda line: [w for w in line.split() if not any(c.isdigit() for c in w.strip("(),:;"))]  # noqa: E731
        assert words(got) == words(doc)


@pytest.mark.slow
def test_the_live_logging_benchmark_runs_in_quick_mode():
    root = Path(__file__).parents[2]
    out = subprocess.run([sys.executable, str(root / "benchmarks" / "live_logging.py"), "--quick"], check=True,
                         capture_output=True, text=True, timeout=600).stdout
    assert "+ LiveLogger (memory), every step" in out and "one probe.trace read" in out
