"""One run end to end, checked against independent computations."""

import json
import math

import numpy as np
import pytest
import torch

from vanishing import RunConfig, RunResult, run
from vanishing.data import load_dataset
from vanishing.probe.schedules import every_and_last
from vanishing.nets import ACTIVATIONS, INITS, build_mlp, weight_layers

SMALL = dict(depth=4, width=8, steps=12, record_every=5, batch_size=16)


def test_recorded_steps():
    assert every_and_last(5, 12).steps() == [0, 5, 10, 11]
    assert every_and_last(10, 1).steps() == [0]
    assert [k for k in range(-2, 14) if every_and_last(5, 12)(k)] == [0, 5, 10, 11]


def test_step0_norms_equal_autograd():
    """grad_norm and signal_grad_norm at step 0 vs torch.autograd.grad on a rebuilt network."""
    cfg = RunConfig.make(SMALL, activation="tanh", init="xavier_normal", bias_init="normal:std=0.1",
                         optimizer="sgd")
    result = run(cfg)
    # rebuild the same network and first batch independently
    data = load_dataset(cfg.dataset, seed=cfg.seed)
    net = build_mlp(data.in_features, data.out_features, depth=cfg.depth, width=cfg.width,
                    activation=cfg.activation, init=cfg.init, bias_init=cfg.bias_init, seed=cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    idx = torch.randperm(len(data.x_train), generator=gen)[: cfg.batch_size]
    x, y = data.x_train[idx], data.y_train[idx]
    zs = []
    h = x
    for module in net:  # Linear, Tanh, ..., Linear
        h = module(h)
        if isinstance(module, torch.nn.Linear):
            zs.append(h)
    out = h
    loss = torch.nn.functional.cross_entropy(out, y)
    weights = [layer.weight for layer in weight_layers(net)]
    grads = torch.autograd.grad(loss, weights + zs)
    gw, gz = grads[: len(weights)], grads[len(weights):]
    np.testing.assert_allclose(result.trace.recorded("grad_norm")[1][0], [g.norm().item() for g in gw], rtol=1e-4)
    np.testing.assert_allclose(result.trace.recorded("signal_grad_norm")[1][0], [g.norm().item() for g in gz],
                               rtol=1e-4)
    s = result.summary
    assert s["vanishing_orders"] == pytest.approx(math.log10(gw[-1].norm().item() / gw[0].norm().item()), rel=1e-4)


def test_same_seed_same_numbers_and_different_seed_differs():
    a, b = run(RunConfig.make(SMALL)), run(RunConfig.make(SMALL))
    c = run(RunConfig.make(SMALL, seed=1))
    for name in ("grad_norm", "signal_grad_norm"):
        np.testing.assert_array_equal(a.trace[name], b.trace[name])
    np.testing.assert_array_equal(a.trace.scalars["loss"], b.trace.scalars["loss"])
    assert a.summary["final_loss"] == b.summary["final_loss"]
    assert not np.array_equal(a.trace["grad_norm"], c.trace["grad_norm"])


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_every_activation_trains(activation):
    r = run(RunConfig.make(depth=3, width=8, steps=2, record_every=1, activation=activation))
    assert r.trace["grad_norm"].shape == (2, 3)
    assert np.isfinite(r.summary["final_loss"])


@pytest.mark.parametrize("init", list(INITS) + ["critical:sigma_b2=0.05"])
def test_every_init_trains(init):
    r = run(RunConfig.make(depth=3, width=8, steps=2, record_every=1, activation="tanh", init=init,
                           dataset="spirals:n=100"))
    assert np.isfinite(r.summary["final_loss"])


def test_regression_dataset_and_norm_residual():
    r = run(RunConfig.make(depth=4, width=8, steps=5, dataset="teacher:n=100", norm="layer", residual=True,
                           optimizer="adam", lr=1e-3))
    assert r.summary["final_test_accuracy"] is None
    assert np.isfinite(r.summary["final_loss"])


def test_divergence_stops_cleanly_and_is_reported(tmp_path):
    # linear: diverges from every seed (a ReLU net this large mostly dies instead)
    r = run(RunConfig.make(depth=4, width=16, steps=200, init="normal:std=3", activation="linear",
                           lr=10.0, record_every=1))
    s = r.summary
    assert s["diverged"] and s["diverged_step"] is not None and s["steps_done"] < 200
    path = r.save_json(tmp_path / "r.json")  # still writes strict JSON (NaN → null)
    d = json.loads(path.read_text())
    assert d["summary"]["diverged"] is True


def test_json_has_the_documented_keys_and_round_trips(tmp_path):
    r = run(RunConfig.make(SMALL))
    d = json.loads(r.save_json(tmp_path / "r.json").read_text())
    assert set(d) == {"version", "config", "command", "dataset", "summary", "diagnosis", "trace"}
    t = d["trace"]  # every quantity once, in the trace
    for key in ("grad_norm", "signal_grad_norm", "update_ratio", "attribution_activation", "attribution_weights"):
        assert key in t["data"], key
    assert {"loss", "train_accuracy", "test_accuracy"} <= set(t["scalars"])
    assert d["version"] == 2 and t["steps"][0] == 0 and d["config"]["seed"] == 0
    assert len(t["data"]["grad_norm"]) == len(t["steps"]) and len(t["data"]["grad_norm"][0]) == len(t["layers"]) == 4
    for key in ("vanishing_orders", "final_loss", "final_test_accuracy", "diverged"):
        assert key in d["summary"]
    assert d["diagnosis"]["verdict"] == r.verdict
    back = RunResult.load_json(tmp_path / "r.json")
    np.testing.assert_array_equal(back.trace["grad_norm"], r.trace["grad_norm"])
    assert back.config == r.config


def test_summary_theory_agrees_with_measured_signal_orders():
    r = run(RunConfig.make(depth=8, width=128, steps=1, activation="tanh", init="normal:std=0.1",
                           batch_size=256))
    s = r.summary
    assert s["predicted_vanishing_orders"] == pytest.approx(s["signal_vanishing_orders"], abs=0.25)
    assert run(RunConfig.make(depth=3, width=8, steps=1, norm="batch")).summary["predicted_vanishing_orders"] is None
