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
