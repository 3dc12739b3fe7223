"""Result and trace files are read with bounds (size, nesting, decompressed size) and every part is checked
against the steps and layers, never reshaped to fit."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from vanishing._io import read_text_bounded
from vanishing.errors import ConfigError, VanishingError
from vanishing.results import codec, trace as trace_module
from vanishing.results.trace import LayerInfo, Trace

pytestmark = pytest.mark.hardening


def _trace() -> Trace:
    layers = [LayerInfo("0", "Linear", (4, 3), 16, "tanh"), LayerInfo("2", "Linear", (2, 4), 10, None)]
    return Trace(np.array([0, 5, 9]), layers, {"grad_norm": np.arange(6.0).reshape(3, 2)},
                 {"loss": np.array([1.0, np.nan, 0.5])}, {"note": "x"})


@pytest.mark.parametrize("value,depth", [(1, 0), ([], 1), ([1, [2, [3]]], 3), ({"a": {"b": [1]}}, 3),
                                         ([[[[[]]]]], 5)])
def test_nesting_depth_hand_counted(value, depth):
    assert codec.nesting_depth(value, 10) == depth
    assert codec.nesting_depth(value, depth - 1) == depth if depth else True


def test_nesting_depth_stops_early_without_recursion():
    deep: list = []
    node = deep
    for _ in range(100_000):  # far beyond Python's recursion limit
        node.append([])
        node = node[0]
    assert codec.nesting_depth(deep, 32) == 33


def test_read_text_bounded_never_reads_more_than_the_limit(tmp_path):
    with pytest.raises(ConfigError, match="at most 1000 bytes"):
        read_text_bounded("/dev/zero", 1000, "config", "file")
    big = tmp_path / "big"
    with open(big, "wb") as f:
        f.truncate(1 << 40)  # sparse: refused by its size, not read
    with pytest.raises(ConfigError, match=r"at most 1 MiB \(it has 1099511627776 bytes\)"):
        read_text_bounded(big, 1 << 20, "config", "file")
    (tmp_path / "ok").write_text("é", encoding="utf-8")
    assert read_text_bounded(tmp_path / "ok", 2, "config", "file") == "é"


def test_trace_dict_round_trip_and_each_part_checked():
    t = _trace()
    back = Trace.from_dict(json.loads(codec.dumps(t.to_dict())))
    np.testing.assert_array_equal(back["grad_norm"], t["grad_norm"])
    np.testing.assert_array_equal(back.scalars["loss"], t.scalars["loss"])
    assert back.layers == t.layers and back.meta == t.meta
    d = json.loads(codec.dumps(t.to_dict()))
    for change, field in ((dict(steps=[0, 5]), "trace.data.grad_norm shape"),
                          (dict(data={"grad_norm": np.arange(6.0).reshape(2, 3).tolist()}), "trace.data.grad_norm shape"),
                          (dict(scalars={"loss": [1.0]}), "trace.scalars.loss shape"),
                          (dict(steps=[0, -5, 9]), "trace.steps"),
                          (dict(layers=[{"name": 1}]), "trace.layers entry")):
        with pytest.raises(ConfigError) as err:
            Trace.from_dict({**d, **change})
        assert err.value.field == field, str(err.value)


def test_trace_file_round_trip(tmp_path):
    t = _trace()
    back = Trace.load(t.save(tmp_path / "t"))
    np.testing.assert_array_equal(back["grad_norm"], t["grad_norm"])
    assert back.layers == t.layers


def test_trace_file_refused_by_its_stated_size_before_inflating(tmp_path, monkeypatch):
    path = _trace().save(tmp_path / "t")
    with zipfile.ZipFile(path) as zf:
        stated = sum(i.file_size for i in zf.infolist())
    monkeypatch.setattr(trace_module, "MAX_TRACE_BYTES", stated - 1)
    with pytest.raises(VanishingError, match=f"its arrays take {stated} bytes"):
        Trace.load(path)


def test_trace_file_with_shapes_that_do_not_match_its_layers(tmp_path):
    t = _trace()
    header = {"format": trace_module.FORMAT, "layers": t.to_dict()["layers"], "meta": {},
              "data": ["grad_norm"], "scalars": []}
    path = tmp_path / "bad.npz"
    np.savez(path, steps=t.steps, header=np.array(json.dumps(header)), **{"data/grad_norm": np.zeros((3, 5))})
    with pytest.raises(VanishingError, match=r"invalid trace.data.grad_norm shape \(3, 5\); \(3, 2\)"):
        Trace.load(path)
