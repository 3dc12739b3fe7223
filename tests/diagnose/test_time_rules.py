"""Rules through time on hand-made traces that follow the Trace.time contract (S × T, index 0 = first input)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vanishing.config import RunConfig
from vanishing.diagnose import RULES, diagnose
from vanishing.diagnose.time_rules import TIME_THRESHOLDS
from vanishing.diagnose.verify import fix_configs
from vanishing.results import LayerInfo, Trace

T, S = 100, 3
STEPS = np.array([0, 50, 100])
RNN = {"model": "rnn", "task": f"adding:T={T}", "hidden": 32, "rnn_activation": "tanh",
       "recurrent_init": "normal:std=0.177", "input_init": None, "lr": 0.01, "optimizer": "adam"}


def decay(xi: float) -> np.ndarray:
    """‖∂L/∂h_t‖ = exp(-(T-1-t)/ξ): exactly ξ steps per e-fold going back from the last step."""
    return np.exp(-(T - 1 - np.arange(T)) / xi)


def make(rows, config=None, meta=None, **time) -> Trace:
    layers = [LayerInfo("cells.0", "RNNCell", (32, 32), 2000), LayerInfo("readout", "Linear", (1, 32), 33)]
    data = {"grad_norm": np.ones((S, 2)), "signal_grad_norm": np.ones((S, 2))}
    m = {"config": dict(config or RNN), **(meta or {})}
    return Trace(STEPS, layers, data, {"loss": np.linspace(0.2, 0.17, S)}, m,
                 time={"hidden_grad_norm": np.asarray(rows, dtype=float), **time})


def finding(d, kind):
    return next(f for f in d.findings if f.kind == kind)


def test_vanishing_through_time_tells_the_numbers():
    xi = 5.0
    d = diagnose(make(np.tile(decay(xi), (S, 1))))
    f = finding(d, "vanishing_through_time")
    orders = (T - 1) / xi / math.log(10)  # a hand computation: 99 steps at 1/ξ e-folds each
    assert f.severity == "critical" and d.verdict in ("vanishing_through_time", f.kind)
    assert f.numbers["orders_through_time"] == pytest.approx(orders)
    assert f.numbers["xi"] == pytest.approx(xi)
    assert f.numbers["reach"] == math.floor(xi * math.log(1 / TIME_THRESHOLDS["reach_threshold"]))
    assert f"10^-{orders:.1f}" in f.effect and "ξ̂ = 5 steps per e-fold" in f.effect
    assert f"the task needs {T}" in f.effect
    assert f.fixes[0].name == "lstm" and f.fixes[0].changes["model"] == "lstm"
    names = [fx.name for fx in f.fixes]
    assert {"gru", "lstm_chrono", "orthogonal", "irnn"} <= set(names)


def test_task_score_and_theory_in_the_text():
    meta = {"baseline": 1 / 6, "baseline_text": "MSE of always answering 1", "input_q": 0.25, "in_features": 2}
    tr = make(np.tile(decay(4.0), (S, 1)), meta=meta)
    tr.scalars["test_loss"] = np.full(S, 1 / 6)
    f = finding(diagnose(tr), "vanishing_through_time")
    assert "100 % of the task's baseline" in f.effect
    assert "Mean-field theory for tanh" in f.reason and f.numbers["theory_xi"] > 0
    ortho = next(fx for fx in f.fixes if fx.name == "orthogonal")
    assert "predicted ξ" in ortho.text and ortho.predicted_gain is not None


def test_step_zero_is_reported_but_the_last_step_is_judged():
    rows = np.stack([decay(5.0), decay(20.0), decay(400.0)])  # training taught it to keep the gradient
    d = diagnose(make(rows))
    assert "vanishing_through_time" not in {f.kind for f in d.findings}
    rows = np.stack([decay(400.0), decay(20.0), decay(10.0)])
    f = finding(diagnose(make(rows)), "vanishing_through_time")
    assert f.numbers["step"] == 100 and f.numbers["step0"] == 0
    assert f.numbers["xi_step0"] == pytest.approx(400.0)
    assert f.severity == "critical"  # 99/10/ln10 = 4.3 orders


def test_solved_task_makes_it_info():
    tr = make(np.tile(decay(10.0), (S, 1)), meta={"solved": True})
    f = finding(diagnose(tr), "vanishing_through_time")
    assert f.severity == "info"


def test_lstm_gets_chrono_first_and_healthy_stays_quiet():
    lstm = {"model": "lstm", "task": f"adding:T={T}", "hidden": 32, "forget_bias": 1.0, "chrono": False}
    f = finding(diagnose(make(np.tile(decay(8.0), (S, 1)), config=lstm)), "vanishing_through_time")
    assert [fx.name for fx in f.fixes][:2] == ["lstm_chrono", "forget_bias"]
    d = diagnose(make(np.tile(decay(500.0), (S, 1))))
    assert not {f.kind for f in d.findings} & {"vanishing_through_time", "exploding_through_time"}


@pytest.mark.parametrize("xi, severity", [(-25.0, "warning"), (-10.0, "critical")])
def test_exploding_through_time(xi, severity):
    rows = np.tile(decay(xi), (S, 1))  # a negative ξ: the gradient grows going back
    f = finding(diagnose(make(rows)), "exploding_through_time")
    assert f.severity == severity
    assert f.numbers["orders_through_time"] == pytest.approx((T - 1) / xi / math.log(10))
    assert f.fixes[0].name == "clip" and f.fixes[0].changes == {"clip": 1.0}


def test_infinite_gradient_is_exploding_not_a_crash():
    rows = np.tile(decay(50.0), (S, 1))
    rows[2, :3] = np.inf
    f = finding(diagnose(make(rows)), "exploding_through_time")
    assert f.severity == "critical" and f.numbers["infinite_at_step"] == 100


def test_attribution_split_is_in_the_reason():
    rows = np.tile(decay(5.0), (S, 1))
    back = -np.diff(np.log10(rows), axis=1)  # log10 g_{t-1}/g_t: the factor of each step back (< 0 here)
    act = np.concatenate([np.full((S, 1), np.nan), 0.75 * back], axis=1)  # index t: the step t → t-1
    rec = np.concatenate([np.full((S, 1), np.nan), 0.25 * back], axis=1)
    f = finding(diagnose(make(rows, time_attr_activation=act, time_attr_recurrent=rec)), "vanishing_through_time")
    total = f.numbers["orders_through_time"]
    assert f.numbers["orders_from_activation"] == pytest.approx(0.75 * total)
    assert f.numbers["orders_from_recurrent"] == pytest.approx(0.25 * total)
    assert "exact split" in f.reason


def test_mlp_trace_is_untouched_and_rules_are_ranked():
    tr = make(np.tile(decay(5.0), (S, 1)))
    tr.time = {}
    assert not {f.kind for f in diagnose(tr).findings} & {"vanishing_through_time", "exploding_through_time"}
    names = [r.__name__ for r in RULES]
    assert names.index("exploding_through_time") == names.index("exploding_gradients") + 1
    assert names.index("vanishing_through_time") == names.index("vanishing_gradients") + 1


def test_every_time_fix_is_a_valid_run_config():
    config = RunConfig.make(RNN)
    d = diagnose(make(np.tile(decay(5.0), (S, 1))), config=config)
    tried = fix_configs(config, d, n=len(d.fixes))
    assert len(tried) >= 5
    for fx, fixed in tried:
        for k, v in fx.changes.items():
            assert getattr(fixed, k) == v
    by_name = {fx.name: fixed for fx, fixed in tried}
    assert by_name["lstm"].model == "lstm" and by_name["lstm"].rnn_activation is None
    assert by_name["lstm_chrono"].chrono is True
    d = diagnose(make(np.tile(decay(-10.0), (S, 1))), config=config)
    fx, fixed = fix_configs(config, d, n=1)[0]
    assert fx.name == "clip" and fixed.clip == 1.0


def test_summary_tells_the_decay_through_time_and_the_score():
    tr = make(np.tile(decay(500.0), (S, 1)), meta={"score_vs_baseline": 0.004, "solved": True})
    d = diagnose(tr)
    assert d.numbers["time_xi"] == pytest.approx(500.0) and d.numbers["time_length"] == T
    assert f"the first of {T} time steps gets {(T - 1) / 500 / math.log(10):+.2f} orders" in d.healthy_summary
    assert "Test loss 0.4 % of the task's baseline, solved." in d.healthy_summary


def test_a_loss_at_every_step_is_not_read_as_decay():
    copy = {**RNN, "task": "copy:T=80"}
    for xi in (5.0, -10.0):  # vanishing and growing norms: both are what per-step losses do to ‖∂L/∂h_t‖
        d = diagnose(make(np.tile(decay(xi), (S, 1)), config=copy))
        assert not {f.kind for f in d.findings} & {"vanishing_through_time", "exploding_through_time"}
    rows = np.tile(decay(5.0), (S, 1))
    rows[1, 0] = np.inf
    assert "exploding_through_time" in {f.kind for f in diagnose(make(rows, config=copy)).findings}
