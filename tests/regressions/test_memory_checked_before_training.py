"""A run, or a batched group, that cannot fit the machine's memory is refused before anything is built."""

from __future__ import annotations

import sys

import pytest
from typer.testing import CliRunner

import vanishing.resources as resources
from vanishing.cli import app
from vanishing.config import RunConfig
from vanishing.errors import ResourceError
import vanishing.experiments.run  # noqa: F401 — the module; `vanishing.experiments.run` names the function
from vanishing.experiments.executors.batched import run_group
from vanishing.resources import estimate_run_memory

run_module = sys.modules["vanishing.experiments.run"]


def _no_build(*args, **kwargs):
    raise AssertionError("the network was built although the run cannot fit")


def test_run_is_refused_before_the_network_is_built(monkeypatch) -> None:
    config = RunConfig.make(depth=3, width=8, steps=2)
    need = estimate_run_memory(config, 64, 10, n_train=1437, n_test=360)
    monkeypatch.setattr(resources, "available_memory", lambda: need // 2)
    monkeypatch.setattr(run_module, "build_mlp", _no_build)
    with pytest.raises(ResourceError) as err:
        run_module.run(config)
    message = str(err.value)
    assert "\n" not in message and "available" in message, message


def test_batched_group_counts_every_member(monkeypatch) -> None:
    configs = [RunConfig.make(depth=3, width=8, steps=2, seed=s) for s in range(4)]
    one = estimate_run_memory(configs[0], 64, 10, n_train=1437, n_test=360)
    four = estimate_run_memory(configs[0], 64, 10, members=4, n_train=1437, n_test=360)
    assert four > one
    monkeypatch.setattr(resources, "available_memory", lambda: (one + four) // 2)  # one fits, four do not
    run_module.run(configs[0])
    with pytest.raises(ResourceError):
        run_group(configs)


def test_cli_says_it_in_one_line_with_exit_2(monkeypatch) -> None:
    monkeypatch.setattr(resources, "available_memory", lambda: 1)
    out = CliRunner().invoke(app, ["run", "--depth", "3", "--width", "8", "--steps", "2"])
    assert out.exit_code == 2, out.output
    lines = [line for line in out.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in out.output, out.output
