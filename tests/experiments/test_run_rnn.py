"""Recurrent runs end to end: time-axis rows vs autograd on the rebuilt net, the score against the
baseline, clipping counts, the config's dict and command, files and sweeps storing the new fields."""

import json

import numpy as np
import pytest
import torch

from vanishing import RunConfig, RunResult, run
from vanishing.config import MLP_FIELDS, RECURRENT_FIELDS
from vanishing.data.sequence import load_task
from vanishing.errors import ConfigError
from vanishing.nets.rnn import build_rnn
from vanishing.results import Trace

TINY = dict(task="adding:T=6,n=64,n_test=32", hidden=8, steps=6, record_every=3, batch_size=16,
            optimizer="adam", lr=0.01)


@pytest.mark.parametrize("model", ["rnn", "lstm"])
def test_step0_hidden_norms_equal_autograd(model, fp32_rtol):
    cfg = RunConfig.make(TINY, model=model)
    result = run(cfg)
    data = load_task(cfg.task, seed=cfg.seed)
    net = build_rnn(model, data.in_features, data.out_features, hidden=cfg.hidden, seed=cfg.seed)
    idx = torch.randperm(len(data.x_train), generator=torch.Generator().manual_seed(cfg.seed))[:cfg.batch_size]
    x, y = data.x_train[idx], data.y_train[idx]
    h = x.new_zeros(len(x), cfg.hidden)
    c, hs = h, []
    for t in range(data.length):
        if model == "lstm":
            h, c = net.cells[0](x[:, t], (h, c))
        else:
            h = net.cells[0](x[:, t], h)
        hs.append(h)
    grads = torch.autograd.grad(torch.nn.functional.mse_loss(net.readout(h), y), hs)
    ref = [torch.linalg.vector_norm(g, dtype=torch.float64).item() for g in grads]
    got = result.trace.recorded_time("hidden_grad_norm")[1][0]
    np.testing.assert_allclose(got, ref, rtol=fp32_rtol(len(x) * cfg.hidden, 2))
    assert result.trace.steps.tolist() == [0, 3, 5]
    assert result.trace.time["input_grad_norm_t"].shape == (3, 6)


def test_summary_scores_against_the_baseline():
    r = run(RunConfig.make(TINY, model="gru"))
    s = r.summary
    assert s["baseline"] == pytest.approx(1 / 6)
    assert s["score_vs_baseline"] == pytest.approx(s["final_test_loss"] / (1 / 6))
    assert s["solved"] is (s["final_test_loss"] < 0.01)
    assert s["final_train_accuracy"] is None and s["clipped_steps"] == 0
    assert s["xi_steps"] > 0 and 0 <= s["reach_steps"] <= 5
    assert r.dataset["length"] == 6 and r.dataset["solved_below"] == 0.01
    np.testing.assert_array_equal(r.trace.recorded("test_loss")[0], [0, 3, 5])


def test_clip_counts_steps_over_the_threshold():
    every = run(RunConfig.make(TINY, model="rnn", clip=1e-12))
    never = run(RunConfig.make(TINY, model="rnn", clip=1e12))
    assert every.summary["clipped_steps"] == 6 and never.summary["clipped_steps"] == 0
    # clipping after the probe: step 0's recorded gradients are those before clipping
    np.testing.assert_array_equal(every.trace.time["hidden_grad_norm"][0], never.trace.time["hidden_grad_norm"][0])
    np.testing.assert_array_equal(every.trace["grad_norm"][0], never.trace["grad_norm"][0])


def test_per_step_copy_task_and_classification_task():
    r = run(RunConfig.make(TINY, model="lstm", task="copy:T=3,n=32,n_test=16", steps=2, record_every=1))
    assert r.summary["baseline"] == pytest.approx(10 * np.log(8) / 23)
    assert r.trace.time["hidden_grad_norm"].shape == (2, 23) and r.summary["final_test_accuracy"] is not None
    r = run(RunConfig.make(TINY, model="gru", task="digits_seq", steps=2, record_every=1))
    assert r.trace.time["hidden_grad_norm"].shape == (2, 8) and r.summary["solved"] is None


def test_result_files_keep_the_time_axis(tmp_path):
    r = run(RunConfig.make(TINY, model="lstm", chrono=True, clip=1.0))
    back = RunResult.from_dict(json.loads(json.dumps(r.to_dict())))
    assert back.summary == pytest.approx(r.summary, nan_ok=True)
    assert set(back.trace.time) == set(r.trace.time) == {"hidden_grad_norm", "cell_grad_norm", "input_grad_norm_t"}
    for k, v in r.trace.time.items():
        np.testing.assert_array_equal(back.trace.time[k], v)
        np.testing.assert_array_equal(Trace.load(r.trace.save(tmp_path / "t")).time[k], v)
    assert RunConfig.make(back.config) == RunConfig.make(r.config)


def test_mlp_configs_read_as_before():
    c = RunConfig.make(depth=3)
    assert set(c.model_dump()) == {"depth", "width", "activation", "init", "bias_init", "norm", "residual",
                                   "dataset", "optimizer", "lr", "batch_size", "steps", "seed", "record_every",
                                   "device"}
    assert "--model" not in c.flags() and "--clip" not in c.flags()
    assert "--clip 0.5" in RunConfig.make(clip=0.5).flags()
    r = RunConfig.make(model="irnn", task="adding:T=50", recurrent_init="identity:gain=0.9")
    assert "--depth" not in r.flags() and "--task 'adding:T=50'" in r.flags()
    assert RunConfig.make(r.model_dump()) == r


@pytest.mark.parametrize("values,match", [
    ({"model": "lstm"}, r"invalid task None; a sequence task for model lstm"),
    ({"model": "transformer"}, r"invalid model 'transformer'; one of: mlp, rnn, irnn, lstm, gru"),
    ({"task": "adding:T=10"}, r"invalid task 'adding:T=10'; only with a recurrent model"),
    ({"model": "rnn", "task": "adding:T=10", "width": 8}, r"invalid width 8; only with --model mlp"),
    ({"model": "lstm", "task": "adding:T=10", "rnn_activation": "relu"}, r"rnn_activation 'relu'; only with model rnn"),
    ({"model": "gru", "task": "adding:T=10", "chrono": True}, r"invalid chrono True; only with model lstm"),
    ({"model": "rnn", "task": "adding:T=0"}, r"adding T 0"),
    ({"model": "rnn", "task": "adding:T=5", "hidden": 0}, r"invalid hidden 0"),
    ({"model": "rnn", "task": "adding:T=5", "clip": -1}, r"invalid clip -1"),
    ({"model": "rnn", "task": "adding:T=5", "recurrent_init": "critical"}, r"invalid recurrent_init 'critical'"),
    ({"model": "rnn", "task": "adding:T=5", "forget_bias": float("inf")}, r"invalid forget_bias inf"),
])
def test_bad_recurrent_settings_are_one_line_errors(values, match):
    with pytest.raises(ConfigError, match=match) as info:
        RunConfig.make(values)
    assert "\n" not in str(info.value)


def test_field_families_are_config_fields():
    assert set(MLP_FIELDS) | set(RECURRENT_FIELDS) <= set(RunConfig.model_fields)


def test_result_attributes_agree_with_the_summary():
    r = run(RunConfig.make(TINY, model="rnn", steps=2))
    s = r.summary
    assert (r.baseline, r.score_vs_baseline, r.solved) == (s["baseline"], s["score_vs_baseline"], s["solved"])
    assert r.outcome.clipped_steps == s["clipped_steps"] == 0


def test_an_mlp_result_read_back_keeps_its_final_test_loss():
    r = run(RunConfig.make(depth=2, width=4, steps=2, record_every=1, dataset="circles:n=40"))
    back = RunResult.from_dict(json.loads(json.dumps(r.to_dict())))
    assert back.outcome == r.outcome and r.outcome.final_test_loss is not None
    assert "baseline" not in r.summary  # not a sequence task
