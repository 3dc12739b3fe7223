"""RunResult files: version 2 stores each quantity once; version-1 files (tests/fixtures) still load."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from vanishing.errors import VanishingError
from vanishing.results import RESULT_VERSION, RunResult

V1 = Path(__file__).parents[1] / "fixtures" / "result_v1.json"  # written by vanishing before the codec change


def test_a_version_1_file_loads_with_its_non_finite_values():
    raw = json.loads(V1.read_text())
    assert raw["version"] == 1
    r = RunResult.load_json(V1)
    # the fixture's step-3 row of grad_norm was set to (inf, -inf, nan) before it was written
    np.testing.assert_array_equal(r.trace["grad_norm"][1], [np.inf, -np.inf, np.nan])
    np.testing.assert_array_equal(r.trace["grad_norm"][[0, 2]], np.array(raw["grad_norm"])[[0, 2]])
    assert r.config == raw["config"] and r.dataset == raw["dataset"] and r.command == raw["command"]
    assert r.diagnosis == raw["diagnosis"] and r.verdict == raw["diagnosis"]["verdict"]
    assert math.isnan(r.outcome.final_loss)  # version 1 wrote the fixture's inf as null: it reads as NaN
    assert r.outcome.steps_done == raw["summary"]["steps_done"]


def test_version_2_keeps_each_quantity_once_and_round_trips(tmp_path):
    r = RunResult.load_json(V1)
    r.outcome.final_loss = math.inf  # version 1 lost this; version 2 keeps it
    d = json.loads(r.save_json(tmp_path / "r.json").read_text(),
                   parse_constant=lambda t: pytest.fail(f"non-standard token {t}"))
    assert d["version"] == RESULT_VERSION == 2
    assert set(d) == {"version", "config", "command", "dataset", "summary", "diagnosis", "trace"}
    assert set(d["trace"]["data"]) == set(r.trace.data) and set(d["trace"]["scalars"]) == set(r.trace.scalars)
    assert d["trace"]["data"]["grad_norm"][1] == ["inf", "-inf", "nan"] and d["summary"]["final_loss"] == "inf"
    back = RunResult.load_json(tmp_path / "r.json")
    for name in r.trace.data:
        np.testing.assert_array_equal(back.trace[name], r.trace[name])
    assert back.outcome == r.outcome and back.config == r.config and back.diagnosis == r.diagnosis
    assert back.command == r.command and back.dataset == r.dataset


def test_a_run_config_is_held_as_its_dict():
    from vanishing.config import RunConfig

    r = RunResult.load_json(V1)
    again = RunResult(RunConfig.make(r.config), r.trace, r.outcome)
    assert again.config == r.config and RunConfig.make(again.config) == RunConfig.make(r.config)


def test_unknown_versions_and_non_results_are_one_line_errors(tmp_path):
    d = json.loads(V1.read_text())
    with pytest.raises(VanishingError, match="result version 99"):
        RunResult.from_dict({**d, "version": 99})
    with pytest.raises(VanishingError, match="not a vanishing run result"):
        RunResult.from_dict({"version": 2})


@pytest.mark.parametrize("row,want", [
    ([1.0, 10.0, 100.0], 2.0),                 # log10(last / first)
    ([np.nan, 1.0, 0.1, np.nan], -1.0),        # NaN = not recorded: the first and last recorded layers
    ([0.0, 1.0], math.inf),                    # nothing reaches the first layer
    ([1.0, 0.0], -math.inf),
    ([0.0, 0.0], math.nan),                    # both exactly 0: undefined
    ([math.inf, 1.0], math.nan),               # overflow: no number of orders
    ([1.0], math.nan),
])
def test_orders_lost_is_last_over_first_in_log10(row, want):
    from vanishing.results.run_result import orders_lost

    got = orders_lost(np.array(row))
    assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want)


def test_every_summary_key_is_labelled_with_its_measure_and_step():
    from vanishing.results.run_result import SIGNAL_ORDERS, SUMMARY_LABELS, WEIGHT_GRAD_ORDERS

    result = RunResult.load_json(V1)
    assert set(result.summary) <= set(SUMMARY_LABELS)
    for key in ("vanishing_orders", "vanishing_orders_final", "signal_vanishing_orders", "predicted_vanishing_orders"):
        label = SUMMARY_LABELS[key]
        assert (SIGNAL_ORDERS if "signal" in key or "predicted" in key else WEIGHT_GRAD_ORDERS) in label
        assert "step" in label
    _, g = result.trace.recorded("grad_norm")
    assert result.summary["vanishing_orders"] == pytest.approx(math.log10(g[0, -1] / g[0, 0]))
