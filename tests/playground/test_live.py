"""A playground run: pausing, stepping and stopping it changes nothing it computes."""

import time

import numpy as np
import pytest

from vanishing.config import RunConfig
from vanishing.experiments import run
from vanishing.playground.live import LiveRun

CONFIG = RunConfig.make(depth=4, width=8, dataset="circles", steps=30, record_every=5, seed=3)


def wait_for(condition, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.fixture(scope="module")
def reference():
    """The same config trained by the run command's own path, uninterrupted."""
    return run(CONFIG)


def test_a_run_played_to_the_end_is_the_run_commands_run(reference):
    live = LiveRun("r", CONFIG, updates_per_s=1000).start(play=True)
    assert live.join(60)
    assert live.state == "finished" and live.result.outcome.steps_done == 30
    for q in ("grad_norm", "signal_grad_norm", "update_ratio"):
        np.testing.assert_array_equal(live.result.trace[q], reference.trace[q])
    # what the page received is the whole trace, row by row
    assert [r["step"] for r in live.rows] == reference.trace.steps.tolist()
    got = np.array([r["grad_norm"] for r in live.rows], dtype=float)
    np.testing.assert_array_equal(got, reference.trace["grad_norm"])
    assert live.extras["diagnosis"]["verdict"] == reference.diagnosis["verdict"]
    assert live.extras["boundary"] is not None and live.extras["layers"] == reference.trace.layer_names


def test_pause_and_step_then_play_gives_the_same_numbers(reference):
    live = LiveRun("r", CONFIG, updates_per_s=1000).start(play=False)
    try:
        wait_for(lambda: live.state == "paused" and live.rows)
        assert [r["step"] for r in live.rows] == [0] and live.steps_done == 1
        live.control("step")  # to the next recorded step (5): steps 0..5 done
        wait_for(lambda: live.state == "paused" and len(live.rows) == 2)
        assert [r["step"] for r in live.rows] == [0, 5] and live.steps_done == 6
        time.sleep(0.2)
        assert live.steps_done == 6  # paused means paused
        live.control("play")
        assert live.join(60)
    finally:
        live.stop()
    assert live.state == "finished"
    np.testing.assert_array_equal(live.result.trace["grad_norm"], reference.trace["grad_norm"])


def test_stop_while_paused_ends_the_thread_and_keeps_what_was_recorded():
    live = LiveRun("r", CONFIG, updates_per_s=1000).start(play=False)
    wait_for(lambda: live.state == "paused")
    live.stop()
    assert live.join(30)
    assert live.state == "stopped" and live.result.outcome.interrupted
    assert live.result.trace.steps.tolist() == [0]
    live.control("play")  # an ended run ignores controls
    assert live.state == "stopped"


def test_a_run_that_fails_says_so_instead_of_dying_silently(monkeypatch):
    import vanishing.playground.live as live_mod

    def broken(*a, **k):
        raise RuntimeError("boom")

    monkeypatch.setattr(live_mod, "run", broken)
    live = LiveRun("r", CONFIG).start()
    assert live.join(10)
    assert live.state == "failed" and "boom" in live.error


def test_updates_are_throttled():
    """A fast run publishes at most about updates_per_s snapshots a second (plus the first and the last)."""
    config = CONFIG.replace(steps=300, record_every=1)
    live = LiveRun("r", config, updates_per_s=5).start()
    t0 = time.monotonic()
    assert live.join(120)
    elapsed = time.monotonic() - t0
    assert len(live.rows) == 300
    # publishes at most every 0.8 / updates_per_s (the streams hold pages to updates_per_s), each possibly
    # followed by one of the diagnosis; the start and the end add a few
    assert live.version <= 2 * (5 / 0.8 * elapsed + 1) + 4
