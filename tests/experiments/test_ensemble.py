"""The batched executor's stacked training equals single runs (``vanishing.run``) config by config."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

from vanishing.config import RunConfig
from vanishing.experiments.run import run
from vanishing.experiments.executors.batched import GROUP_FIELDS, group_key, groups, run_group, split_groups

BASE = dict(depth=4, width=12, steps=16, record_every=5, dataset="digits", batch_size=32)


def _close(a: np.ndarray, b: np.ndarray, rtol: float) -> None:
    assert a.shape == b.shape
    assert (np.isnan(a) == np.isnan(b)).all(), (a, b)
    m = np.isfinite(b)
    np.testing.assert_allclose(a[m], b[m], rtol=rtol, atol=1e-30)


def _same(batched, single, rtol: float = 2e-4) -> None:
    ta, tb = batched.trace, single.trace
    assert ta.steps.tolist() == tb.steps.tolist()
    assert ta.layers == tb.layers
    assert set(ta.data) == set(tb.data)
    for q in tb.data:
        # attribution terms are differences of logs: compare them absolutely
        if q.startswith("attribution"):
            a, b = ta.data[q], tb.data[q]
            assert (np.isnan(a) == np.isnan(b)).all()
            np.testing.assert_allclose(a[np.isfinite(b)], b[np.isfinite(b)], atol=1e-4)
        else:
            _close(ta.data[q], tb.data[q], rtol)
    assert set(ta.scalars) == set(tb.scalars)
    for q in tb.scalars:
        _close(ta.scalars[q], tb.scalars[q], rtol)
    oa, ob = batched.outcome, single.outcome
    assert (oa.steps_done, oa.diverged, oa.diverged_step) == (ob.steps_done, ob.diverged, ob.diverged_step)
    for f in ("final_loss", "final_train_accuracy", "final_test_accuracy"):
        x, y = getattr(oa, f), getattr(ob, f)
        assert (x is None) == (y is None)
        if y is not None and math.isfinite(y):
            assert x == pytest.approx(y, rel=rtol, abs=1e-6)
    assert ta.meta["probe"] == tb.meta["probe"]
    assert ta.meta["config"] == tb.meta["config"]
    assert ta.meta["theory"] == tb.meta["theory"]
    assert batched.dataset == single.dataset
    assert batched.verdict == single.verdict


@pytest.mark.parametrize("optimizer,extra", [
    ("sgd", {}),
    ("momentum", {"lr": 0.05}),
    ("adam", {"lr": 0.003}),
    ("sgd", {"norm": "layer"}),
    ("momentum", {"residual": True, "lr": 0.02}),
])
def test_group_equals_single_runs(optimizer: str, extra: dict) -> None:
    lr = extra.pop("lr", 0.1)
    members = [("sigmoid", "normal:std=0.01", 0, lr), ("tanh", "xavier_normal", 1, lr / 2),
               ("relu", "he_normal", 0, lr), ("relu", "orthogonal", 2, lr),
               ("gelu", "he_uniform", 3, lr * 2)]
    configs = [RunConfig.make({**BASE, **extra}, optimizer=optimizer, activation=a, init=i, seed=s, lr=l)
               for a, i, s, l in members]
    assert len(groups(configs)) == 1
    for b, c in zip(run_group(configs), configs):
        assert b.config == c.model_dump()
        _same(b, run(c))


def test_per_seed_data_sets_and_bias_init() -> None:
    # spirals are drawn per seed: members train on different data
    configs = [RunConfig.make(BASE, dataset="spirals", activation="elu", init="xavier_uniform",
                              bias_init="normal:std=0.1", seed=s) for s in (0, 1, 2)]
    for b, c in zip(run_group(configs), configs):
        _same(b, run(c))


def test_a_diverging_member_stops_like_a_single_run_and_leaves_the_others_alone() -> None:
    configs = [RunConfig.make(BASE, activation="relu", init="he_normal", lr=lr, steps=30, record_every=4)
               for lr in (0.05, 1e6, 0.1)]
    batched = run_group(configs)
    singles = [run(c) for c in configs]
    assert singles[1].outcome.diverged and not singles[0].outcome.diverged
    for b, s in zip(batched, singles):
        _same(b, s)


def test_progress_counts_member_steps() -> None:
    configs = [RunConfig.make(BASE, seed=s) for s in range(3)]
    seen: list[int] = []
    run_group(configs, on_step=seen.append)
    assert seen == [3] * BASE["steps"]


def test_batch_norm_groups_run_one_config_at_a_time() -> None:
    configs = [RunConfig.make(BASE, norm="batch", seed=s, steps=6) for s in range(2)]
    assert groups(configs) == [[0], [1]]
    seen: list[int] = []
    out = run_group(configs[:1], on_step=seen.append)
    assert sum(seen) == 6
    _same(out[0], run(configs[0]), rtol=1e-6)


def test_groups_split_on_shared_fields_and_size() -> None:
    a = RunConfig.make(BASE)
    configs = [a, a.replace(seed=1), a.replace(depth=5), a.replace(activation="relu", lr=0.3), a.replace(steps=9)]
    assert groups(configs) == [[0, 1, 3], [2], [4]]
    assert groups(configs, max_members=2) == [[0, 1], [2], [3], [4]]
    assert "depth" in GROUP_FIELDS and group_key(a) != group_key(a.replace(width=13))
    with pytest.raises(ValueError):
        run_group([a, a.replace(depth=5)])


def test_split_groups_balances_work_across_workers() -> None:
    a = RunConfig.make(BASE)
    configs = [a.replace(seed=s) for s in range(6)] + [a.replace(depth=8, seed=s) for s in range(2)]
    parts = split_groups(configs, 4)
    assert len(parts) >= 4
    assert sorted(i for p in parts for i in p) == list(range(8))
    for p in parts:  # every part is still one stackable group
        assert len({group_key(configs[i]) for i in p}) == 1
    assert split_groups(configs[:1], 3) == [[0]]


def test_evaluation_in_row_chunks_matches_single_runs(monkeypatch) -> None:
    from vanishing.experiments.executors import batched

    monkeypatch.setattr(sys.modules[batched.__module__], "_EVAL_FLOATS", 3 * 12 * 300)  # chunks of ~300 rows
    configs = [RunConfig.make(BASE, activation="tanh", init="xavier_normal", seed=s) for s in range(3)]
    for b, c in zip(run_group(configs), configs):
        _same(b, run(c))


def test_regression_members_match_single_runs() -> None:
    configs = [RunConfig.make(BASE, dataset="teacher", activation=a, init="xavier_normal", seed=s, lr=0.05)
               for a, s in (("tanh", 0), ("relu", 1))]
    for b, c in zip(run_group(configs), configs):
        assert b.outcome.final_test_accuracy is None
        _same(b, run(c))


def test_split_groups_gives_each_worker_one_share_largest_first() -> None:
    deep = [RunConfig.make(BASE, depth=20, seed=s) for s in range(24)]
    mid = [RunConfig.make(BASE, depth=10, seed=s) for s in range(24)]
    shallow = [RunConfig.make(BASE, depth=5, seed=s) for s in range(24)]
    configs = deep + mid + shallow
    parts = split_groups(configs, 2)
    work = [sum(configs[i].depth for i in p) for p in parts]
    assert work == sorted(work, reverse=True)
    # a pool of 2 taking parts largest first: each worker ends with about half of the work
    loads = [0, 0]
    for w in work:
        loads[loads.index(min(loads))] += w
    assert max(loads) <= sum(work) / 2 + 20


@pytest.mark.parametrize("optimizer,lr", [("sgd", 0.1), ("momentum", 0.05), ("sgd", 1e6), ("momentum", 1e5)])
def test_one_learning_rate_for_all_members_and_diverging_members(optimizer: str, lr: float) -> None:
    # at the huge rates the relu member diverges at step 2 and is frozen while the others go on
    configs = [RunConfig.make(BASE, optimizer=optimizer, lr=lr, activation=a, init=i, seed=s, steps=24)
               for a, i, s in (("sigmoid", "normal:std=0.01", 0), ("relu", "he_normal", 1), ("tanh", "xavier_normal", 2))]
    singles = [run(c) for c in configs]
    assert singles[1].outcome.diverged == (lr > 1)
    # at lr 1e5 the sigmoid member saturates: its mean φ' = σ(1 − σ) ≈ 1e-5 is ill-conditioned in float32
    # (1 − σ for σ ≈ 1 − 1e-5 keeps ~2 significant digits), so any change in summation order moves it by
    # a few per cent, hence the looser rtol
    for b, s in zip(run_group(configs), singles):
        _same(b, s, rtol=1e-3 if lr < 1 else 5e-2)


def test_interleaved_activations_come_back_in_the_order_given() -> None:
    configs = [RunConfig.make(BASE, activation=a, seed=s) for s in (0, 1) for a in ("tanh", "relu", "sigmoid")]
    out = run_group(configs)
    assert [r.config for r in out] == [c.model_dump() for c in configs]
    for b, c in zip(out, configs):
        _same(b, run(c))


def test_the_loss_with_a_member_axis_is_each_members_own_loss() -> None:
    """One loss for single runs and stacked members: member m's loss is the single-run loss of its slice
    (finite, huge and non-finite logits), and so is its accuracy."""
    import torch

    from vanishing.train.loop import accuracy, loss

    g = torch.Generator().manual_seed(0)
    out = torch.randn(3, 50, 10, generator=g) * torch.tensor([1.0, 30.0, 1e4]).view(3, 1, 1)
    out[0, 0] = float("inf")
    out[0, 1, 3] = float("nan")
    y = torch.randint(0, 10, (3, 50), generator=g)
    each = loss(out, y, "classification", members=True)
    for m in range(3):
        torch.testing.assert_close(each[m], loss(out[m], y[m], "classification"), equal_nan=True)
        assert accuracy(out, y)[m] == accuracy(out[m], y[m])
    t = torch.randn(3, 50, 4, generator=g)
    each = loss(out[..., :4], t, "regression", members=True)
    for m in range(3):
        torch.testing.assert_close(each[m], loss(out[m, :, :4], t[m], "regression"), equal_nan=True)


def test_nonfinite_gradient_counts_match_a_direct_count() -> None:
    """The recorded non-finite counts (taken only when a norm is not finite) against counting by hand."""
    import torch

    from vanishing.experiments.executors.batched import _Members

    configs = [RunConfig(**BASE, activation=a, seed=s) for a in ("tanh", "relu") for s in (0, 1)]
    ens = _Members(configs)
    for r in ens.runs:
        for p in r.net.weights + r.net.biases:
            p.grad = torch.randn_like(p)
    def counts():
        return torch.cat([r.grad_rows(ens.stages["grad"])[0]["nonfinite_grads"] for r in ens.runs])

    assert counts().eq(0).all()
    r = ens.runs[1]  # relu: members 2 and 3
    r.net.weights[2].grad[1, 0, :3] = float("nan")
    r.net.weights[2].grad[1, 5, 5] = float("inf")
    r.net.biases[2].grad[1, 0] = float("-inf")
    r.net.biases[0].grad[0, 1] = float("nan")
    got = counts()
    expected = torch.zeros_like(got)
    expected[3, 2], expected[2, 0] = 5, 1
    assert torch.equal(got, expected)


def test_a_new_quantity_is_recorded_by_the_probe_and_the_batched_executor_alike() -> None:
    """Written once: a quantity registered here (max |∂L/∂W| per layer, a ``grad`` quantity, and the
    largest |∂L/∂z| entry, a ``signal`` one) appears, equal, in a single run's trace and in a stacked
    member's, with no change to the probe or the executor."""
    import torch

    from vanishing.probe.quantities import QUANTITIES, Quantity, per_layer, register, unregister

    def max_abs_grad(r):
        g = r.weight_grads
        dims = (lambda t: tuple(range(1, t.dim()))) if g.members else (lambda t: tuple(range(t.dim())))
        vals = torch.stack([t.abs().amax(dims(t)) for t in g.tensors], -1)
        return per_layer(vals, g.layer, r.layers, "max")

    def max_abs_signal(g, members=False):
        return g.abs().flatten(1).amax(1) if members else g.abs().amax()

    register(Quantity("max_abs_grad", "grad", "max |∂L/∂W| of the layer's weights", max_abs_grad))
    register(Quantity("max_abs_signal", "signal", "max |∂L/∂z| over the batch", max_abs_signal,
                      combine=torch.maximum))
    try:
        configs = [RunConfig.make(BASE, activation=a, seed=s) for a, s in (("tanh", 0), ("relu", 1))]
        for b, c in zip(run_group(configs), configs):
            single = run(c)
            for q in ("max_abs_grad", "max_abs_signal"):
                assert q in b.trace.data and q in single.trace.data
                assert np.isfinite(single.trace.data[q]).all()
            _same(b, single)
    finally:
        unregister("max_abs_grad")
        unregister("max_abs_signal")
    assert "max_abs_grad" not in QUANTITIES


def test_split_groups_ends_on_a_fine_tail_so_a_late_worker_catches_up() -> None:
    """The reference sweep's shape on 2 workers, one starting late (a pool worker importing torch
    while the driver's slot trains): handed out largest first, the slots end within one tail piece."""
    configs = [RunConfig.make(BASE, depth=d, seed=s, activation=a)
               for d in (5, 10, 20) for a in ("tanh", "relu", "elu", "gelu", "sigmoid", "leaky_relu")
               for s in range(12)]
    parts = split_groups(configs, 2)
    work = [sum(configs[i].depth for i in p) for p in parts]
    total = sum(work)
    assert sorted(i for p in parts for i in p) == list(range(len(configs)))
    assert sum(w <= total / 16 for w in work) >= 2  # one small piece per worker, at the end
    assert work == sorted(work, reverse=True)
    late = total / 20
    slots = [0.0, late]
    for w in work:
        slots[slots.index(min(slots))] += w
    assert max(slots) - (total + late) / 2 <= total / 32 + 1e-9
