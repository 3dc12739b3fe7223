import json
import math

import numpy as np
import pytest

from vanishing.errors import VanishingError
from vanishing.probe import LayerInfo, Trace


@pytest.fixture
def trace():
    layers = [LayerInfo("0", "Linear", (4, 3), 16, "tanh"), LayerInfo("2", "Linear", (2, 4), 10, None)]
    g = np.array([[1.0, 2e-30], [np.nan, np.nan], [np.inf, -np.inf]])
    return Trace(steps=np.array([0, 1, 5]), layers=layers,
                 data={"grad_norm": g, "saturation": np.array([[0.5, np.nan]] * 3)},
                 scalars={"loss": np.array([1.5, np.nan, 0.25])}, meta={"config": {"depth": 2}})


def _same(a: Trace, b: Trace):
    assert a.steps.dtype == b.steps.dtype == np.int64
    np.testing.assert_array_equal(a.steps, b.steps)
    assert a.layers == b.layers and a.meta == b.meta
    assert set(a.data) == set(b.data) and set(a.scalars) == set(b.scalars)
    for k in a.data:
        np.testing.assert_array_equal(a.data[k], b.data[k])  # NaN == NaN here
        assert b.data[k].dtype == np.float64
    for k in a.scalars:
        np.testing.assert_array_equal(a.scalars[k], b.scalars[k])


def test_save_load_round_trip(trace, tmp_path):
    path = trace.save(tmp_path / "run")
    assert path.suffix == ".npz"
    _same(trace, Trace.load(path))


def test_dict_round_trip_through_json(trace):
    d = json.loads(json.dumps(trace.to_dict(), allow_nan=False))
    assert d["data"]["grad_norm"][1] == ["nan", "nan"]  # the codec's convention (vanishing.results.codec)
    _same(trace, Trace.from_dict(d))


def test_recorded_skips_steps_without_values(trace):
    steps, values = trace.recorded("grad_norm")
    assert steps.tolist() == [0, 5] and values.shape == (2, 2)
    steps, values = trace.recorded("loss")
    assert steps.tolist() == [0, 5] and values.tolist() == [1.5, 0.25]


def test_getitem_and_names(trace):
    assert trace["grad_norm"].shape == (3, 2)
    assert trace.layer_names == ["0", "2"]
    with pytest.raises(VanishingError, match="grad_norm"):
        trace["nope"]


def test_to_pandas_long_table(trace):
    pd = pytest.importorskip("pandas")
    df = trace.to_pandas()
    assert list(df.columns) == ["step", "layer", "layer_index", "quantity", "value"]
    g = df[df.quantity == "grad_norm"]
    assert len(g) == 4 and g.step.tolist() == [0, 0, 5, 5]
    assert g.value.iloc[1] == 2e-30 and math.isinf(g.value.iloc[2])
    loss = df[df.quantity == "loss"]
    assert loss.layer_index.tolist() == [-1, -1] and loss.value.tolist() == [1.5, 0.25]


def test_to_pandas_without_pandas(trace, monkeypatch):
    import builtins
    real = builtins.__import__

    def fake(name, *a, **k):
        if name == "pandas":
            raise ImportError(name)
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(VanishingError, match="pandas"):
        trace.to_pandas()


def test_load_rejects_other_files(tmp_path):
    p = tmp_path / "x.npz"
    np.savez(p, a=np.zeros(2))
    with pytest.raises(VanishingError, match="cannot read trace"):
        Trace.load(p)
