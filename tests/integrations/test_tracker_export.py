"""A trace exported to TensorBoard, MLflow and W&B, read back with each tool's own reader and compared
with series taken straight from the trace's arrays: finite values at their steps, NaN/Inf as counts."""

import math
import subprocess
import sys

import numpy as np
import pytest

from vanishing.errors import VanishingError
from vanishing.results import LayerInfo, Trace

pytestmark = pytest.mark.integrations

nan, inf = math.nan, math.inf
# names no tracker takes as they are: '/', '<>', ':' and an empty name
NAMES = ["blocks.0/attn<q>", "", "head:out"]
PARTS = ["01_blocks.0_attn_q_", "02", "03_head_out"]


def trace() -> Trace:
    return Trace(
        steps=np.array([0, 5, 10, 15]),
        layers=[LayerInfo(n, "Linear", (2, 2), 6) for n in NAMES],
        data={"grad_norm": [[1e-30, 2e-2, 0.5], [inf, nan, 1.0], [nan, nan, nan], [1.0, -inf, 3.0]],
              "nonfinite_grads": [[0, 0, 0], [3, 1, 0], [8, 16, 4], [0, 2, 0]]},
        scalars={"loss": [0.5, inf, nan, 0.25]},
    )


def series(t: Trace) -> dict[str, list[tuple[int, float]]]:
    """Straight from the arrays: each layer's finite values at their steps, and the loss's."""
    out = {}
    for q, v in t.data.items():
        for layer, part in enumerate(PARTS):
            out[f"vanishing/{q}/{part}"] = [(int(s), float(x)) for s, x in zip(t.steps, v[:, layer]) if np.isfinite(x)]
    out["vanishing/loss"] = [(int(s), float(x)) for s, x in zip(t.steps, t.scalars["loss"]) if np.isfinite(x)]
    return out


# counted by hand: layers with NaN/±Inf at each step (all four steps are due: nonfinite_grads has values)
COUNTS = {"vanishing/nonfinite/grad_norm": [(0, 0.0), (5, 2.0), (10, 3.0), (15, 1.0)],
          "vanishing/nonfinite/nonfinite_grads": [(0, 0.0), (5, 0.0), (10, 0.0), (15, 0.0)],
          "vanishing/nonfinite/loss": [(0, 0.0), (5, 1.0), (15, 0.0)],
          "vanishing/nonfinite/any": [(0, 0.0), (5, 1.0), (10, 1.0), (15, 1.0)]}


def test_tensorboard_event_file_holds_one_scalar_tag_per_quantity_and_layer(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    t = trace()
    assert t.to_tensorboard(tmp_path / "run") == tmp_path / "run"
    ea = EventAccumulator(str(tmp_path / "run"), size_guidance={"scalars": 0})
    ea.Reload()
    expected = {**series(t), **COUNTS}
    assert sorted(ea.Tags()["scalars"]) == sorted(expected)
    for tag, points in expected.items():
        # scalar summaries hold float32
        assert [(e.step, e.value) for e in ea.Scalars(tag)] == [(s, float(np.float32(x))) for s, x in points], tag
    assert len(list((tmp_path / "run").iterdir())) == 1  # one run, not one per key


def test_mlflow_run_holds_every_series_at_its_steps(tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    from vanishing.results import sinks

    monkeypatch.setattr(sinks, "_MLFLOW_BATCH", 7)  # sent in parts along the way, and the rest at the end
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri((tmp_path / "mlruns").as_uri())
    try:
        with mlflow.start_run() as run:
            t = trace()
            assert t.to_mlflow() == run.info.run_id
        client = mlflow.MlflowClient()
        expected = {**series(t), **COUNTS}
        assert sorted(client.get_run(run.info.run_id).data.metrics) == sorted(expected)
        for key, points in expected.items():
            history = sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, key))
            assert history == points, key
    finally:
        mlflow.set_tracking_uri(previous)


class FakeRun:
    """Captures what a W&B run is given."""

    def __init__(self):
        self.defined, self.logged, self.alerts = [], [], []

    def define_metric(self, name, step_metric=None, **_):
        self.defined.append((name, step_metric))

    def log(self, data, step=None, commit=None):
        assert step is None and commit is None  # W&B's own step counter is left alone
        self.logged.append(dict(data))

    def alert(self, title, text, level=None, wait_duration=None):
        self.alerts.append((title, text))


def test_wandb_rows_are_plotted_against_the_optimizer_step():
    run = FakeRun()
    t = trace()
    assert t.to_wandb(run) == 4
    assert run.defined == [("vanishing/step", None), ("vanishing/*", "vanishing/step")]
    assert [row["vanishing/step"] for row in run.logged] == [0, 5, 10, 15]
    got: dict[str, list] = {}
    for row in run.logged:
        for key, value in row.items():
            if key != "vanishing/step":
                got.setdefault(key, []).append((row["vanishing/step"], value))
    assert got == {**series(t), **COUNTS}
    assert all(math.isfinite(v) for row in run.logged for v in row.values())


def test_wandb_offline_run_takes_the_trace(tmp_path):
    wandb = pytest.importorskip("wandb")
    run = wandb.init(mode="offline", dir=str(tmp_path), project="vanishing-test",
                     settings=wandb.Settings(silent=True, console="off"))
    try:
        t = trace()
        assert t.to_wandb() == 4  # the active run
        last = {key: points[-1][1] for key, points in {**series(t), **COUNTS}.items()}
        assert {k: run.summary[k] for k in last} == last
    finally:
        run.finish()


@pytest.mark.parametrize("method, extra", [("to_tensorboard", "tensorboard"), ("to_mlflow", "mlflow"),
                                           ("to_wandb", "wandb")])
def test_a_missing_package_names_the_extra(method, extra, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, extra, None)  # import fails
    args = (tmp_path,) if method == "to_tensorboard" else ()
    with pytest.raises(VanishingError, match=rf"^\S.*pip install 'vanishing\[{extra}\]'$"):
        getattr(trace(), method)(*args)


def test_an_unwritable_logdir_is_a_one_line_error(tmp_path):
    pytest.importorskip("tensorboard")
    (tmp_path / "file").write_text("")
    with pytest.raises(VanishingError, match=r"^cannot write TensorBoard events .*file"):
        trace().to_tensorboard(tmp_path / "file")


def test_wandb_without_an_active_run_says_so(monkeypatch):
    wandb = pytest.importorskip("wandb")
    monkeypatch.setattr(wandb, "run", None)
    with pytest.raises(VanishingError, match="no active W&B run"):
        trace().to_wandb()


def test_exports_load_no_torch(tmp_path):
    pytest.importorskip("tensorboard")
    code = ("import sys, numpy as np\n"
            "from vanishing.results import Trace, LayerInfo\n"
            "t = Trace(np.arange(2), [LayerInfo('a', 'Linear', (1, 1), 1)], data={'grad_norm': [[1.0], [np.inf]]})\n"
            f"t.to_tensorboard({str(tmp_path)!r})\n"
            "assert 'torch' not in sys.modules, 'torch'\n")
    subprocess.run([sys.executable, "-c", code], check=True)
