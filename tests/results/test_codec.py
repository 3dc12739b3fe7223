"""The one JSON codec: NaN, +inf, -inf and None round-trip distinctly through strict JSON."""

import json
import math

import numpy as np
import pytest

from vanishing.results import LayerInfo, Trace, codec


def _strict(text: str):
    """Python's own parser, refusing the non-standard NaN / Infinity tokens (what a browser accepts)."""
    def refuse(token):
        raise ValueError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=refuse)


def test_nan_inf_minus_inf_and_none_round_trip_distinctly():
    value = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf, "none": None, "x": 1.5,
             "list": [math.nan, 2.0, -math.inf], "np": np.float32("inf"), "i": np.int64(3), "b": np.bool_(True)}
    text = codec.dumps(value)
    raw = _strict(text)  # strict JSON: any parser reads it
    assert raw["nan"] == "nan" and raw["inf"] == "inf" and raw["-inf"] == "-inf" and raw["none"] is None
    back = codec.loads(text)
    assert math.isnan(back["nan"]) and back["inf"] == math.inf and back["-inf"] == -math.inf
    assert back["none"] is None and back["x"] == 1.5 and back["np"] == math.inf
    assert math.isnan(back["list"][0]) and back["list"][1:] == [2.0, -math.inf]
    assert back["i"] == 3 and type(back["i"]) is int and back["b"] is True


@pytest.mark.parametrize("a", [np.arange(6.0).reshape(2, 3), np.array([[np.nan, np.inf], [-np.inf, 0.5]])])
def test_arrays_encode_as_their_lists(a):
    want = [[("nan" if math.isnan(x) else "inf" if x == math.inf else "-inf" if x == -math.inf else x)
             for x in row] for row in a.tolist()]
    assert codec.encode(a) == want
    np.testing.assert_array_equal(codec.float_array(codec.encode(a)), a)


def test_older_conventions_are_read():
    # trace dicts wrote NaN as null; json.dumps' default wrote the tokens NaN / Infinity
    np.testing.assert_array_equal(codec.float_array([[None, "inf"], ["-inf", 1.0]]),
                                  np.array([[np.nan, np.inf], [-np.inf, 1.0]]))
    back = codec.loads('{"a": NaN, "b": Infinity, "c": -Infinity}')
    assert math.isnan(back["a"]) and back["b"] == math.inf and back["c"] == -math.inf


def _trace() -> Trace:
    layers = [LayerInfo("0", "Linear", (3, 2), 9, "tanh"), LayerInfo("2", "Linear", (1, 3), 4)]
    g = np.array([[1.0, np.inf], [-np.inf, np.nan], [0.25, 1e-300]])
    return Trace([0, 5, 9], layers, {"grad_norm": g}, {"loss": np.array([np.inf, np.nan, 0.1])},
                 {"note": "x", "gain": np.nan, "big": np.inf})


def test_trace_dict_and_file_round_trip_non_finite(tmp_path):
    t = _trace()
    d = _strict(json.dumps(t.to_dict(), allow_nan=False))
    for back in (Trace.from_dict(d), Trace.load(t.save(tmp_path / "t"))):
        np.testing.assert_array_equal(back["grad_norm"], t["grad_norm"])
        np.testing.assert_array_equal(back.scalars["loss"], t.scalars["loss"])
        assert back.layers == t.layers and back.meta["note"] == "x"
        assert math.isnan(back.meta["gain"]) and back.meta["big"] == math.inf


def test_a_trace_dict_of_the_previous_version_loads():
    old = {"format": "vanishing.trace/1", "steps": [0, 1], "layers": [
        {"name": "a", "type": "Linear", "shape": [2, 2], "n_params": 6, "activation": None}],
        "data": {"grad_norm": [[None], ["-inf"]]}, "scalars": {"loss": ["inf", 0.5]}, "meta": {"chi1": None}}
    t = Trace.from_dict(old)
    np.testing.assert_array_equal(t["grad_norm"], [[np.nan], [-np.inf]])
    np.testing.assert_array_equal(t.scalars["loss"], [np.inf, 0.5])
    assert t.meta == {"chi1": None}
