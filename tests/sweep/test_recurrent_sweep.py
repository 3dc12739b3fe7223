"""Sweeps over recurrent settings: validated, run one config at a time, stored with the new fields."""

import pytest

from vanishing import RunConfig, run
from vanishing.experiments.executors.batched import groups, run_group, stackable
from vanishing.experiments.store import Store
from vanishing.experiments.sweep import SweepSpec, run_sweep

BASE = {"model": "rnn", "task": "adding:T=4,n=16,n_test=10", "hidden": 4, "steps": 2, "record_every": 1,
        "batch_size": 8, "device": "cpu"}


def test_sweep_stores_the_recurrent_fields_and_scores(tmp_path):
    spec = SweepSpec.parse({"base": BASE, "grid": {"model": ["rnn", "gru"],
                                                   "task": ["adding:T=4,n=16,n_test=10", "adding:T=6,n=16,n_test=10"]}},
                           name="rnn")
    assert len(spec.configs()) == 4
    with Store(tmp_path / "r.db") as store:
        run_sweep(spec, store, executor="batched")
        rows = store.rows(sweep="rnn")
        assert {(r["model"], r["task"]) for r in rows} == {(m, f"adding:T={t},n=16,n_test=10")
                                                           for m in ("rnn", "gru") for t in (4, 6)}
        for r in rows:
            assert r["status"] == "done" and r["score_vs_baseline"] == pytest.approx(r["final_test_loss"] * 6)
            assert r["xi_steps"] is not None
        got = store.get(rows[0]["config_hash"][:12])
        assert "hidden_grad_norm" in got.trace.time
        assert len(store.rows(where="model=gru")) == 2


def test_recurrent_configs_are_not_stacked_and_equal_single_runs():
    cs = [RunConfig.make(BASE, lr=lr) for lr in (0.1, 0.05)]
    assert not any(stackable(c) for c in cs)
    assert groups(cs) == [[0], [1]]
    got = run_group([cs[0]])[0]
    want = run(cs[0])
    assert got.summary["final_test_loss"] == want.summary["final_test_loss"]


def test_bad_recurrent_grid_value_names_the_spec_path():
    from vanishing.errors import ConfigError

    with pytest.raises(ConfigError, match=r"grid.model\[1\]"):
        SweepSpec.parse({"base": BASE, "grid": {"model": ["rnn", "transformer"]}}, name="x")
