"""run_sweep and its executors: the same stored results whichever runs them, failures recorded, resume, Ctrl-C."""

import importlib
import math

import pytest

from vanishing.errors import ConfigError, VanishingError
from vanishing.experiments import executors
from vanishing.experiments.store import Store, SweepSpecChanged, config_hash
from vanishing.experiments.sweep import SweepSpec, run_sweep

run_mod = importlib.import_module("vanishing.experiments.run")  # the module (the package exports the function)

BASE = {"dataset": "circles", "depth": 3, "width": 8, "steps": 20, "record_every": 10, "device": "cpu"}


def tiny_spec(name="t", **grid):
    return SweepSpec.parse({"base": BASE, "grid": grid or {"activation": ["tanh", "relu"], "lr": [0.1, 0.05]}},
                           name=name)


def metrics(store):
    return {r["config_hash"]: (r["final_loss"], r["vanishing_orders"], r["steps_done"]) for r in store.rows()}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The tiny spec run by the plain sequential loop."""
    with Store(tmp_path_factory.mktemp("ref") / "ref.db") as store:
        outcome = run_sweep(tiny_spec(), store, executor="sequential", progress=False)
        yield outcome, metrics(store)


def test_sequential_stores_every_config_once(reference):
    outcome, ref = reference
    assert (outcome.total, outcome.done, outcome.failed, outcome.skipped, outcome.interrupted) == (4, 4, 0, 0, False)
    assert set(ref) == {config_hash(c) for c in tiny_spec().configs()}
    assert all(steps == 20 for _, _, steps in ref.values())


@pytest.mark.parametrize("executor,workers", [
    ("batched", 1),
    # stacked groups split over a pool of 2 processes
    pytest.param("batched", 2, marks=pytest.mark.slow),
    # the driver's slot and one worker process: the whole pool path, one torch import (2-core CI)
    pytest.param("processes", 2, marks=pytest.mark.slow),
])
def test_executors_store_what_sequential_stores(executor, workers, reference, tmp_path):
    _, ref = reference
    with Store(tmp_path / "r.db") as store:
        outcome = run_sweep(tiny_spec(), store, executor=executor, workers=workers, progress=False)
        got = metrics(store)
    assert (outcome.done, outcome.failed, outcome.notes) == (4, 0, [])
    assert got.keys() == ref.keys()
    for h, (loss, orders, steps) in got.items():
        assert steps == ref[h][2]
        assert loss == pytest.approx(ref[h][0], rel=1e-4, abs=1e-6)
        assert orders == pytest.approx(ref[h][1], rel=1e-3, abs=1e-4)


def test_rerun_skips_done_and_extends_a_grown_sweep(tmp_path):
    with Store(tmp_path / "r.db") as store:
        first = run_sweep(tiny_spec(activation=["tanh"], lr=[0.1]), store, progress=False)
        finished = {r["config_hash"]: r["finished_at"] for r in store.rows()}
        again = run_sweep(tiny_spec(activation=["tanh"], lr=[0.1]), store, progress=False)
        with pytest.raises(SweepSpecChanged, match="sweep 't' is stored with another spec \\(grid differs\\)"):
            run_sweep(tiny_spec(activation=["tanh"], lr=[0.1, 0.05]), store, progress=False)
        grown = run_sweep(tiny_spec(activation=["tanh"], lr=[0.1, 0.05]), store, progress=False, replace_spec=True)
        rows = store.rows(sweep="t")
    assert (first.done, again.skipped, again.done, grown.skipped, grown.done) == (1, 1, 0, 1, 1)
    assert len(rows) == 2
    assert all(finished[h] == r["finished_at"] for r in rows for h in finished if r["config_hash"] == h)


def test_a_failing_run_is_stored_as_a_failure_and_retried(tmp_path, monkeypatch):
    real_run = run_mod.run

    def flaky(config, on_step=None):
        if config.activation == "relu":
            raise RuntimeError("boom\nsecond line")
        return real_run(config, on_step=on_step)

    monkeypatch.setattr(run_mod, "run", flaky)
    spec = tiny_spec(activation=["tanh", "relu"])
    with Store(tmp_path / "r.db") as store:
        outcome = run_sweep(spec, store, executor="sequential", progress=False)
        rows = {r["activation"]: r for r in store.rows()}
        assert (outcome.done, outcome.failed) == (1, 1)
        assert rows["relu"]["status"] == "failed" and rows["relu"]["error"] == "RuntimeError: boom second line"
        assert rows["tanh"]["status"] == "done"
        monkeypatch.setattr(run_mod, "run", real_run)
        retry = run_sweep(spec, store, executor="sequential", progress=False)
        assert (retry.skipped, retry.done, retry.failed) == (1, 1, 0)
        assert {r["status"] for r in store.rows()} == {"done"}


def test_a_diverged_run_is_a_result_not_a_failure(tmp_path):
    # a linear network cannot die (as a ReLU one may, seeds permitting): at this rate it surely diverges
    spec = SweepSpec.parse({"base": {**BASE, "lr": 1e6, "init": "normal:std=10", "activation": "linear"}})
    with Store(tmp_path / "r.db") as store:
        outcome = run_sweep(spec, store, executor="sequential", progress=False)
        (row,) = store.rows()
    assert (outcome.done, outcome.failed) == (1, 0)
    assert row["status"] == "done" and row["diverged"] is True and row["steps_done"] < 20


def test_ctrl_c_keeps_finished_runs_and_never_stores_a_cut_run(tmp_path, monkeypatch):
    real_run = run_mod.run
    calls = []

    def interrupted_third(config, on_step=None):
        calls.append(config)
        result = real_run(config, on_step=on_step)
        if len(calls) == 3:  # what run() returns when Ctrl-C lands in its training loop
            result.outcome.interrupted = True
        return result

    monkeypatch.setattr(run_mod, "run", interrupted_third)
    with Store(tmp_path / "r.db") as store:
        outcome = run_sweep(tiny_spec(), store, executor="sequential", progress=False)
        assert outcome.interrupted and (outcome.done, outcome.failed, outcome.remaining) == (2, 0, 2)
        assert len(store.rows()) == 2 and config_hash(calls[2]) not in store.done_hashes()
        monkeypatch.setattr(run_mod, "run", real_run)
        resumed = run_sweep(tiny_spec(), store, executor="sequential", progress=False)
        assert (resumed.skipped, resumed.done, resumed.interrupted) == (2, 2, False)
        assert len(store.rows()) == 4


def test_batched_falls_back_to_single_runs_when_a_group_fails(tmp_path, monkeypatch):
    batched = importlib.import_module("vanishing.experiments.executors.batched")

    def broken(configs, on_step=None):
        on_step(len(configs))
        raise RuntimeError("stacking failed")

    monkeypatch.setattr(batched, "run_group", broken)
    with Store(tmp_path / "r.db") as store:
        outcome = run_sweep(tiny_spec(activation=["tanh", "relu"]), store, executor="batched", workers=1,
                            progress=False)
        assert {r["status"] for r in store.rows()} == {"done"}
    assert outcome.done == 2
    assert outcome.notes == ["stacked training of 2 configs failed (RuntimeError: stacking failed); ran them one by one"]


def test_progress_counts_every_step(monkeypatch):
    seen = []
    configs = tiny_spec(activation=["tanh"]).configs()
    out = list(executors.sequential(configs, seen.append))
    assert sum(seen) == 20 * len(configs) and len(out) == len(configs)
    assert not isinstance(out[0][1], str) and math.isfinite(out[0][1].outcome.final_loss)


def test_bad_executor_and_workers(tmp_path):
    with Store(tmp_path / "r.db") as store:
        with pytest.raises(ConfigError, match="invalid executor 'gpu'; one of: sequential, batched, processes, ray"):
            run_sweep(tiny_spec(), store, executor="gpu")
        with pytest.raises(ConfigError, match="invalid workers 0; an integer >= 1"):
            run_sweep(tiny_spec(), store, executor="processes", workers=0)
        assert len(store) == 0


def test_ray_missing_is_one_clear_line(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(VanishingError) as info:
        executors.get_executor("ray")
    assert str(info.value) == "executor 'ray' needs Ray: pip install 'vanishing[ray]'"


def test_ctrl_c_during_a_store_write_lets_the_write_finish(tmp_path, monkeypatch):
    import os
    import signal

    with Store(tmp_path / "r.db") as store:
        real_put = store.put

        def put_then_ctrl_c(result, sweep_id=None):
            os.kill(os.getpid(), signal.SIGINT)  # lands while the run is being written
            return real_put(result, sweep_id=sweep_id)

        monkeypatch.setattr(store, "put", put_then_ctrl_c)
        outcome = run_sweep(tiny_spec(), store, executor="sequential", progress=False)
        assert outcome.interrupted and outcome.done == 1 and outcome.remaining == 3
        assert len(store.done_hashes()) == 1


def _slow_part(group, advance, notes):
    """A stand-in task for the driver's slot: part 0 finishes at once, the others step until stopped."""
    import time

    if group[0].activation == "tanh" and group[0].lr == 0.1:  # part 0
        advance(5)
        yield 0, "done 0"
        return
    for _ in range(10_000):
        advance(1)
        time.sleep(0.01)
    raise AssertionError("never stopped")


def test_the_driver_slot_stops_at_its_next_step_and_restores_torch_threads():
    """The driver trains one slot in a thread; closing the executor (Ctrl-C) stops that thread at its
    next step, without waiting for its part, and gives torch back its thread count."""
    import threading
    import time

    import torch

    configs = tiny_spec(activation=["tanh"]).configs()  # 2 configs: a part each
    seen: list[int] = []
    threads = torch.get_num_threads()
    gen = executors._pooled(configs, [[0], [1]], 1, _slow_part, seen.append, executors.ExecutorOptions())
    assert next(gen) == (0, "done 0")
    assert torch.get_num_threads() == 1  # the driver's slot runs single-threaded, like a worker
    time.sleep(0.2)  # part 1 is stepping in the driver's thread
    t = time.perf_counter()
    gen.close()  # what Ctrl-C does to the generator
    assert time.perf_counter() - t < 2
    assert not [th for th in threading.enumerate() if th.name.startswith("vanishing-sweep")]
    assert torch.get_num_threads() == threads
    assert seen[0] == 5 and sum(seen) < 1000  # part 0's steps; part 1 never ran to its end


def test_the_driver_slot_takes_the_next_part_when_free():
    """With one slot (the driver) every part runs there, in order, each result yielded as it finishes."""
    order = []

    configs = tiny_spec().configs()

    def task(group, advance, notes):
        part = configs.index(group[0])
        order.append(part)
        advance(2)
        yield 0, f"part {part}"

    steps: list[int] = []
    out = list(executors._pooled(configs, [[i] for i in range(4)], 1, task, steps.append,
                                 executors.ExecutorOptions()))
    assert out == [(i, f"part {i}") for i in range(4)] and order == [0, 1, 2, 3]
    assert sum(steps) == sum(c.steps for c in configs)  # progress topped up to each part's steps
