"""Rules on hand-made traces: each fires on its pattern and stays quiet on a healthy one."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from vanishing.diagnose import RULES, Diagnosis, Finding, diagnose
from vanishing.diagnose.rules import Context, flow
from vanishing.probe.trace import LayerInfo, Trace

L, S = 6, 8
STEPS = np.arange(S) * 10


def make(grad=None, signal=None, loss=None, acc=None, meta=None, **data) -> Trace:
    layers = [LayerInfo(f"layer{i}", "Linear", (4, 4), 20) for i in range(L)]
    d = {"grad_norm": np.ones((S, L)) if grad is None else grad,
         "signal_grad_norm": np.ones((S, L)) if signal is None else signal,
         "update_ratio": np.full((S, L), 1e-3)}
    d.update(data)
    scalars = {"loss": np.linspace(2.3, 0.2, S) if loss is None else loss}
    if acc is not None:
        scalars["test_accuracy"] = np.full(S, acc)
    return Trace(STEPS, layers, d, scalars, meta or {})


def geometric(per_layer: float) -> np.ndarray:
    """(S, L) norms that grow by ``per_layer`` towards the output."""
    row = per_layer ** np.arange(L, dtype=float)
    return np.tile(row, (S, 1))


def kinds(d: Diagnosis) -> dict[str, str]:
    return {f.kind: f.severity for f in d.findings}


def test_healthy_trace_has_no_findings_and_numbers_in_summary():
    d = diagnose(make(acc=0.9), majority_baseline=0.1)
    assert d.verdict == "healthy" and d.findings == []
    assert "0.2" in d.healthy_summary and "90.0 %" in d.healthy_summary and "10.0 %" in d.healthy_summary


@pytest.mark.parametrize("per_layer,severity", [(10 ** 0.2, None), (10 ** 0.35, "warning"), (10 ** 0.6, "critical")])
def test_vanishing_thresholds(per_layer, severity):
    d = diagnose(make(grad=geometric(per_layer), signal=geometric(per_layer)))
    assert kinds(d).get("vanishing_gradients") == severity
    if severity:
        f = d.findings[0]
        assert f.kind == d.verdict == "vanishing_gradients"
        assert f.numbers["orders"] == pytest.approx(5 * math.log10(per_layer))
        assert "layer0" in f.layers and "layer5" not in f.layers


def test_vanishing_reason_splits_orders_into_activation_and_weights():
    att_a = np.full((S, L), -0.4)
    att_a[:, 0] = np.nan
    att_w = np.full((S, L), -0.2)
    d = diagnose(make(grad=geometric(10 ** 0.6), signal=geometric(10 ** 0.6),
                      attribution_activation=att_a, attribution_weights=att_w))
    f = d.findings[0]
    assert f.numbers["orders_from_activation"] == pytest.approx(2.0)
    assert f.numbers["orders_from_weights"] == pytest.approx(1.0)
    assert "Of the signal orders at step 0, 2.0 come from activation derivatives and 1.0 from the weights" in f.reason


def test_vanishing_compares_with_theory_and_names_critical_init():
    config = dict(activation="tanh", init="normal:std=0.05", bias_init="zeros", depth=L, width=32,
                  in_features=64, out_features=10, lr=0.1)
    d = diagnose(make(grad=geometric(10), signal=geometric(10)), config=config)
    f = d.findings[0]
    assert "Mean-field theory" in f.reason and "critical:sigma_b2=" in f.reason
    assert f.numbers["theory_gain"] == pytest.approx(math.sqrt(32 * 0.05 ** 2), rel=0.05)  # σ_w·φ'(0)
    top = f.fixes[0]
    assert top.changes and top.predicted_gain is not None and abs(top.predicted_orders) < 1
    assert "predicted per-layer gain" in top.text and "vs measured 0.10" in top.text


def test_exploding():
    d = diagnose(make(grad=geometric(10 ** -0.6), signal=geometric(10 ** -0.6)))
    assert d.verdict == "exploding_gradients" and kinds(d)["exploding_gradients"] == "critical"
    assert any(fx.name == "clip" for fx in d.findings[0].fixes)


def test_huge_gradient_norm_alone_is_exploding_warning():
    d = diagnose(make(grad=np.full((S, L), 5e3)))
    assert kinds(d)["exploding_gradients"] == "warning"


def test_divergence_from_nonfinite_grads_names_step_and_layers():
    nf = np.zeros((S, L))
    nf[3, 2:] = 7
    d = diagnose(make(nonfinite_grads=nf))
    assert d.verdict == "divergence"
    assert d.findings[0].numbers["step"] == 30
    assert d.findings[0].layers == ["layer2", "layer3", "layer4", "layer5"]


def test_divergence_from_infinite_loss_and_from_context():
    loss = np.linspace(2, 1, S)
    loss[5] = np.inf
    assert diagnose(make(loss=loss)).findings[0].numbers["step"] == 50
    ctx_findings = [f for r in RULES for f in r(make(), Context(diverged_step=12))]
    assert [f.kind for f in ctx_findings] == ["divergence"]


def test_saturation_per_layer():
    sat = np.zeros((S, L))
    sat[:, 1] = 0.8
    d = diagnose(make(saturation=sat))
    assert kinds(d) == {"saturation": "warning"} and d.findings[0].layers == ["layer1"]


@pytest.mark.parametrize("frac,n_layers,severity", [(0.3, 1, None), (0.6, 1, "warning"), (0.95, 1, "warning"),
                                                     (0.95, 2, "critical"), (0.6, 5, "critical")])
def test_dead_units(frac, n_layers, severity):
    dead = np.zeros((S, L))
    dead[-1, L - 1 - n_layers:L - 1] = frac
    dead[:, -1] = np.nan  # the read-out has no activation
    assert kinds(diagnose(make(dead_fraction=dead))).get("dead_units") == severity


def test_slow_early_layers():
    ur = np.tile(np.logspace(-6, -2, L), (S, 1))
    d = diagnose(make(update_ratio=ur))
    assert kinds(d) == {"slow_early_layers": "warning"}
    assert d.findings[0].numbers["early_update_ratio"] == pytest.approx(1e-6)


def test_slow_early_layers_quiet_when_all_updates_are_large():
    ur = np.tile(np.logspace(-3, -1, L), (S, 1))
    assert diagnose(make(update_ratio=ur)).healthy


def test_stalled_training_is_robust_to_a_noisy_plateau():
    rng = np.random.default_rng(0)
    flat = 2.3 + 0.05 * rng.standard_normal(S)
    assert kinds(diagnose(make(loss=flat))).get("stalled_training") == "warning"
    spike = np.linspace(2.3, 0.2, S)
    spike[-1] = 2.0  # one noisy point at the end does not hide the progress
    assert "stalled_training" not in kinds(diagnose(make(loss=spike)))


def test_poor_performance_baseline_from_argument_or_meta():
    assert diagnose(make(acc=0.12), majority_baseline=0.1).verdict == "poor_performance"
    assert diagnose(make(acc=0.12, meta={"majority_baseline": 0.1})).verdict == "poor_performance"
    assert diagnose(make(acc=0.12)).healthy  # no baseline known: no claim


def test_zero_gradients_do_not_crash():
    d = diagnose(make(grad=np.zeros((S, L)), signal=np.zeros((S, L))))
    assert isinstance(d, Diagnosis)
    fl = flow(make(grad=np.zeros((S, L)), signal=np.zeros((S, L))))
    assert math.isnan(fl["vanishing_orders"]) and math.isnan(fl["signal_vanishing_orders"]) and fl["worst"] is None
    assert d.verdict == "dead_network"
    assert "exactly 0 at every recorded step (0 to 70): the network is dead" in d.findings[0].effect


def test_divergence_names_what_became_non_finite_and_where():
    nf = np.zeros((S, L))
    nf[3:, :2] = 1
    loss = np.linspace(2.3, 0.2, S)
    loss[5:] = np.inf
    f = diagnose(make(loss=loss, nonfinite_grads=nf)).findings[0]
    assert f.kind == "divergence" and f.numbers["step"] == 30
    assert f.effect.startswith("The gradients of layers 1–2 became NaN/Inf at step 30 and the loss became "
                               "NaN/Inf at step 50")


def test_gradients_exactly_zero_from_a_step_on_or_in_some_layers_are_named():
    grad = np.ones((S, L))
    grad[5:] = 0.0
    (f,) = [f for f in diagnose(make(grad=grad)).findings if f.kind == "dead_network"]
    assert f.severity == "critical" and f.numbers["step"] == 50
    assert "exactly 0 from step 50 to the last recorded step 70: the network is dead" in f.effect
    grad = np.ones((S, L))
    grad[-1, :2] = 0.0
    d = diagnose(make(grad=grad))
    (f,) = [f for f in d.findings if f.kind == "zero_gradients"]
    assert f.layers == ["layer0", "layer1"] and "2 of 6 layers" in f.effect and "step 70" in f.effect
    assert "dead_network" not in kinds(d)


def test_severity_then_rule_order_decides_the_verdict():
    dead = np.zeros((S, L))
    dead[-1, :] = 1.0
    d = diagnose(make(grad=geometric(10), signal=geometric(10), dead_fraction=dead))
    assert kinds(d)["vanishing_gradients"] == kinds(d)["dead_units"] == "critical"
    assert d.verdict == "dead_units"


def test_to_dict_is_json_and_markdown_has_every_finding():
    d = diagnose(make(grad=geometric(10), signal=geometric(10), acc=0.1), majority_baseline=0.1)
    out = json.loads(json.dumps(d.to_dict(), allow_nan=False))
    assert out["verdict"] == "vanishing_gradients"
    for f in out["findings"]:
        assert set(f) >= {"kind", "severity", "layers", "numbers", "cause", "effect", "reason", "fix"}
    md = d.to_markdown()
    assert md.startswith("## Diagnosis: **vanishing_gradients**")
    assert all(f"### {f.kind}" in md for f in d.findings)


def test_a_new_rule_is_one_function_in_a_list():
    def always(trace, ctx):
        return [Finding("custom", "warning", [], {"x": 1}, "c", "e", "r", "f")]

    assert diagnose(make(), rules=[always]).verdict == "custom"


@pytest.mark.parametrize("trace", [
    Trace(np.zeros(0), [LayerInfo("a", "Linear", (2, 2), 6)]),
    Trace(np.arange(3), [LayerInfo("a", "Linear", (2, 2), 6)], {"grad_norm": np.ones((3, 1))}, {"loss": np.ones(3)}),
    Trace(np.arange(3), []),
], ids=["empty", "one_layer", "no_layers"])
def test_degenerate_traces_are_healthy_not_errors(trace):
    d = diagnose(trace)
    assert d.verdict == "healthy"
    json.dumps(d.to_dict(), allow_nan=False)
