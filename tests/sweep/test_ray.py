"""The Ray executor against a local 2-CPU Ray instance the test starts (loopback, temp dir) and stops."""

import importlib
import shutil
import tempfile

import pytest

from vanishing.experiments.store import Store, config_hash
from vanishing.experiments.sweep import SweepSpec, run_sweep

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'vanishing[ray]')")

pytestmark = pytest.mark.slow

BASE = {"dataset": "circles", "depth": 3, "width": 8, "steps": 20, "record_every": 10, "device": "cpu"}


@pytest.fixture(scope="module")
def local_ray():
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    ray.init(num_cpus=2, include_dashboard=False, _temp_dir=temp, _node_ip_address="127.0.0.1",
             log_to_driver=False, configure_logging=False)
    try:
        yield
    finally:
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)


def summaries(store):
    return {r["config_hash"]: (r["status"], r["final_loss"], r["steps_done"]) for r in store.rows()}


def test_ray_tasks_return_results_the_driver_stores(local_ray, tmp_path):
    spec = SweepSpec.parse({"base": BASE, "grid": {"activation": ["tanh", "relu"], "lr": [0.1, 0.05]}}, name="r")
    with Store(tmp_path / "ray.db") as store:
        outcome = run_sweep(spec, store, executor="ray")
        got = summaries(store)
        again = run_sweep(spec, store, executor="ray")
    assert (outcome.done, outcome.failed, again.skipped, again.done) == (4, 0, 4, 0)
    assert set(got) == {config_hash(c) for c in spec.configs()}
    assert ray.is_initialized()  # the executor used the instance it found and left it running

    with Store(tmp_path / "seq.db") as store:
        run_sweep(spec, store, executor="sequential")
        ref = summaries(store)
    for h, (status, loss, steps) in got.items():
        assert (status, steps) == (ref[h][0], ref[h][2])
        assert loss == pytest.approx(ref[h][1], rel=1e-5)


def test_a_run_failing_on_a_ray_worker_is_a_stored_failure(local_ray, tmp_path):
    missing = tmp_path / "no-such-folder"
    spec = SweepSpec.parse({"base": {**BASE, "dataset": f"idx:path={missing}"}}, name="f")
    with Store(tmp_path / "ray.db") as store:
        outcome = run_sweep(spec, store, executor="ray")
        (row,) = store.rows()
    assert (outcome.done, outcome.failed) == (0, 1)
    assert row["status"] == "failed" and str(missing) in row["error"] and "\n" not in row["error"]
