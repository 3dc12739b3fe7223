"""Fixes are config changes, ranked by what theory predicts, never the config itself."""

from __future__ import annotations

import pytest

from vanishing import RunConfig
from vanishing.diagnose import fixes as F
from vanishing.diagnose.findings import Diagnosis, Finding
from vanishing.diagnose.verify import fix_configs

BASE = dict(bias_init="zeros", depth=10, width=32, in_features=64, out_features=10, lr=0.1, optimizer="sgd",
            norm="none", residual=False)


def test_vanishing_fixes_for_tanh_rank_flow_keeping_fixes_first():
    fx = F.vanishing_fixes({**BASE, "activation": "tanh", "init": "normal:std=0.05"}, measured_gain=0.29)
    theory_backed = [f for f in fx if f.predicted_orders is not None]
    assert theory_backed and all(abs(f.predicted_orders) < 1 for f in theory_backed[:2])
    assert fx[0].text.count("vs measured 0.29") == 1
    names = [f.name for f in fx]
    assert "critical_init" in names and "residual_norm" in names
    crit = next(f for f in fx if f.name == "critical_init")
    assert crit.changes == {"init": "critical:sigma_b2=0.05", "bias_init": "normal:std=0.2236"}
    assert crit.predicted_gain == pytest.approx(1.0, abs=0.1)


def test_no_fix_repeats_the_current_config():
    fx = F.vanishing_fixes({**BASE, "activation": "relu", "init": "he_normal"})
    assert all(f.changes != {"init": "he_normal"} for f in fx)
    assert "relu_he" not in [f.name for f in fx]


def test_sigmoid_gets_no_critical_init():
    assert "critical_init" not in [f.name for f in F.vanishing_fixes({**BASE, "activation": "sigmoid",
                                                                         "init": "xavier_normal"})]


def test_without_config_fixes_are_advice_only():
    for make in (F.vanishing_fixes, F.exploding_fixes, F.dead_unit_fixes, F.divergence_fixes, F.saturation_fixes):
        fx = make(None)
        assert fx and all(f.changes == {} for f in fx)


def test_dead_units_with_negative_bias_propose_zero_bias_then_lower_lr():
    fx = F.dead_unit_fixes({**BASE, "activation": "relu", "init": "he_normal", "bias_init": "constant:value=-1"})
    assert fx[0].changes == {"bias_init": "zeros"}
    assert any(f.changes == {"lr": pytest.approx(0.01)} for f in fx)


def test_fix_configs_apply_the_top_changes():
    cfg = RunConfig.make(activation="tanh", init="normal:std=0.05", depth=10, width=32)
    fx = F.vanishing_fixes({**cfg.model_dump(), "in_features": 64, "out_features": 10})
    d = Diagnosis([Finding("vanishing_gradients", "critical", [], {}, "c", "e", "r", "f", fx)], [])
    out = fix_configs(cfg, d, n=2)
    assert len(out) == 2
    for fix, c in out:
        assert all(getattr(c, k) == v for k, v in fix.changes.items())
        assert c.depth == 10 and c.seed == cfg.seed
