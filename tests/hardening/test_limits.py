"""Limits checked before work starts: a sweep's size (counted, never expanded), parallel workers' memory,
and the depth a run may have."""

from __future__ import annotations

import itertools
import time

import pytest
import yaml
from typer.testing import CliRunner

import vanishing.resources as resources
from vanishing.cli import app
from vanishing.config import RunConfig
from vanishing.data import load_dataset
from vanishing.errors import ConfigError, ResourceError
from vanishing.experiments.executors.batched import split_groups
from vanishing.experiments.store import Store
from vanishing.experiments.memory import check_sweep_fits, sweep_units
from vanishing.experiments.sweep import MAX_RUNS, SweepSpec
from vanishing.resources import check_parallel_fits, estimate_run_memory

pytestmark = pytest.mark.hardening

runner = CliRunner()

SPECS = [
    {"grid": {"depth": [2, 3], "width": [4, 8, 16]}},
    {"grid": {"activation": ["tanh", "relu"]}, "seeds": 3},
    {"grid": {"depth": [2, 3]}, "random": {"n": 4, "fields": {"lr": {"uniform": [0.01, 1]}}}, "seeds": [0, 7]},
    {"seeds": 5},
    {},
]


@pytest.mark.parametrize("raw", SPECS)
def test_size_is_the_number_of_configs_expanded(raw):
    """Reference: the expansion itself (these specs have no identical configs)."""
    spec = SweepSpec.parse(raw)
    assert spec.size() == len(spec.configs()) == sum(1 for _ in spec.points())


def _huge_spec(tmp_path, values: int = 100, keys=("depth", "width", "batch_size", "steps", "record_every", "seed")):
    path = tmp_path / "huge.yaml"
    path.write_text(yaml.safe_dump({"grid": {k: list(range(1, values + 1)) for k in keys}}))
    return path


def test_a_spec_of_10_to_the_12_is_counted_in_well_under_a_second(tmp_path, monkeypatch):
    path = _huge_spec(tmp_path)

    def never(self):
        raise AssertionError("the spec was expanded")

    monkeypatch.setattr(SweepSpec, "points", never)
    start = time.perf_counter()
    res = runner.invoke(app, ["sweep", str(path), "--dry-run", "--store", str(tmp_path / "s.db")])
    took = time.perf_counter() - start
    assert res.exit_code == 0, res.output
    assert "1000000000000 configs at most, above --max-runs 100000 (not expanded)" in res.stdout
    assert took < 1.0, took
    assert not (tmp_path / "s.db").exists()


def test_a_run_above_the_limit_is_refused_in_one_line(tmp_path):
    path = _huge_spec(tmp_path)
    res = runner.invoke(app, ["sweep", str(path), "--store", str(tmp_path / "s.db")])
    assert res.exit_code == 2 and res.stdout == ""
    (line,) = res.stderr.splitlines()
    assert line == (f"error: invalid sweep size of huge 1000000000000; at most {MAX_RUNS} runs (--max-runs; "
                    "--yes runs it anyway)")


def test_max_runs_and_yes(tmp_path):
    path = tmp_path / "three.yaml"
    path.write_text(yaml.safe_dump({"base": {"dataset": "circles", "depth": 2, "width": 4, "steps": 2,
                                             "record_every": 1}, "grid": {"lr": [0.1, 0.2, 0.3]}}))
    store = str(tmp_path / "s.db")
    refused = runner.invoke(app, ["sweep", str(path), "--store", store, "--max-runs", "2"])
    assert refused.exit_code == 2 and "invalid sweep size of three 3; at most 2 runs" in refused.stderr
    ran = runner.invoke(app, ["sweep", str(path), "--store", store, "--max-runs", "2", "--yes",
                              "--executor", "sequential"])
    assert ran.exit_code == 0, ran.output
    assert "3 configs, 0 already done (skipped), 3 to run" in ran.stdout
    with pytest.raises(ConfigError):
        SweepSpec.load(path).check_size(2)
    assert SweepSpec.load(path).check_size(3) == 3


def test_a_count_of_seeds_is_never_listed():
    spec = SweepSpec.parse({"seeds": 10**15})
    assert spec.size() == 10**15 and spec.raw["seeds"] == 10**15


# --- parallel workers' memory ----------------------------------------------------------------------

def _configs(n: int, **kw) -> list[RunConfig]:
    return [RunConfig.make(dataset="circles", depth=3, width=16, steps=2, seed=s, **kw) for s in range(n)]


def _one(config: RunConfig, members: int = 1) -> int:
    data = load_dataset(config.dataset, seed=0)
    return estimate_run_memory(config, data.in_features, data.out_features, members=members,
                               n_train=len(data.x_train), n_test=len(data.x_test))


def test_processes_need_workers_times_one_run():
    configs = _configs(6)
    one = _one(configs[0])
    assert check_sweep_fits(configs, "processes", workers=4, available=10 * one) == 4 * one
    assert check_sweep_fits(configs, "sequential", workers=4, available=10 * one) == one
    assert check_sweep_fits(configs, "processes", workers=16, available=10 * one) == 6 * one  # 6 runs at most
    with pytest.raises(ResourceError) as err:
        check_sweep_fits(configs, "processes", workers=4, available=3 * one)
    msg = str(err.value)
    assert "sweep on 4 workers (4 at once" in msg and "use fewer --workers" in msg and "\n" not in msg


def test_batched_needs_the_largest_stacked_groups_at_once():
    configs = _configs(12) + _configs(3, norm="layer")
    workers = 2
    units = split_groups(configs, workers)
    assert sweep_units(configs, "batched", workers) == units
    sizes = sorted((_one(configs[u[0]], members=len(u)) for u in units), reverse=True)
    assert check_sweep_fits(configs, "batched", workers=workers, available=10**12) == sizes[0] + sizes[1]


def test_check_parallel_fits_hand_computed():
    assert check_parallel_fits([5, 1, 3], slots=2, available=100) == 8
    assert check_parallel_fits([5, 1, 3], slots=9, available=100) == 9
    with pytest.raises(ResourceError, match="needs ~8 bytes, this machine has 7 bytes available"):
        check_parallel_fits([5, 1, 3], slots=2, available=7)


def test_cli_refuses_a_sweep_whose_workers_cannot_fit(tmp_path, monkeypatch):
    path = tmp_path / "two.yaml"
    path.write_text(yaml.safe_dump({"base": {"dataset": "circles", "depth": 2, "width": 4, "steps": 2},
                                    "grid": {"lr": [0.1, 0.2]}}))
    one = _one(RunConfig.make(dataset="circles", depth=2, width=4, steps=2))
    monkeypatch.setattr(resources, "available_memory", lambda: one + one // 2)  # one run fits, two do not
    res = runner.invoke(app, ["sweep", str(path), "--store", str(tmp_path / "s.db"), "--executor", "processes",
                              "--workers", "2"])
    assert res.exit_code == 2, res.output
    (line,) = res.stderr.splitlines()
    assert line.startswith("error: sweep on 2 workers (2 at once") and "available" in line
    with Store(tmp_path / "s.db", create=False) as store:
        assert len(store) == 0  # refused before any run


# --- depth -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("depth", [100_000, 10**9])
def test_depth_beyond_the_limit_is_refused_before_anything_is_built(depth):
    res = runner.invoke(app, ["run", "--depth", str(depth), "--steps", "1"])
    assert res.exit_code == 2
    assert res.stderr.strip() == (f"error: invalid depth {depth}; an integer >= 1 and <= {resources.MAX_DEPTH} "
                                  "(deeper stacks crash torch)")


def test_diagnose_refuses_a_user_model_deeper_than_the_limit(tmp_path, monkeypatch):
    """A user's model is not a RunConfig: its depth is counted (modules holding weights) before training."""
    (tmp_path / "deep_factory.py").write_text(
        "import torch\n"
        f"def make():\n    return torch.nn.Sequential(*[torch.nn.Linear(1, 1) for _ in range({resources.MAX_DEPTH + 1})])\n")
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["diagnose", "deep_factory.py:make", "--steps", "2"])
    assert res.exit_code == 2, res.output
    assert res.stderr.strip() == (f"error: invalid model '{resources.MAX_DEPTH + 1} modules with weights'; at most "
                                  f"{resources.MAX_DEPTH} (deeper stacks crash torch)")


def test_runs_whose_data_cannot_load_are_left_to_fail_on_their_own(tmp_path):
    good = _configs(2)
    bad = [RunConfig.make(dataset=f"idx:path={tmp_path / 'missing'}", depth=3, width=16, steps=2)]
    assert check_sweep_fits(good + bad, "processes", workers=4, available=10**12) == 2 * _one(good[0])
