"""Sequence tasks: their structure, and their baselines against direct computations."""

import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from vanishing.data import load_dataset
from vanishing.data.sequence import check_task_spec, load_task, task_length
from vanishing.errors import ConfigError


def test_adding_structure_and_target():
    d = load_task("adding:T=30,n=500,n_test=50", seed=3)
    x, y = d.x_train.numpy(), d.y_train.numpy()
    assert x.shape == (500, 30, 2) and y.shape == (500, 1) and d.task == "regression"
    assert ((x[:, :, 0] >= 0) & (x[:, :, 0] < 1)).all()
    markers = x[:, :, 1]
    assert (markers[:, :15].sum(1) == 1).all() and (markers[:, 15:].sum(1) == 1).all()  # one in each half
    np.testing.assert_allclose(y[:, 0], (x[:, :, 0] * markers).sum(1), rtol=1e-6)
    assert d.length == 30 and d.per_step is False and d.solved_below == 0.01


def test_adding_baseline_is_the_mse_of_answering_one():
    d = load_task("adding:T=10,n=10,n_test=100000", seed=0)
    mse = float(((d.y_test.double() - 1) ** 2).mean())
    # Var(U + U') = 2/12; the sample mean of 1e5 squared errors has sd ~ sqrt(Var)/316 < 0.0005
    assert d.baseline == pytest.approx(1 / 6) and mse == pytest.approx(1 / 6, abs=0.002)


def test_copy_structure_and_memoryless_baseline():
    T = 7
    d = load_task(f"copy:T={T},n=20,n_test=300", seed=1)
    x, y = d.x_test, d.y_test
    assert x.shape == (300, T + 20, 10) and y.shape == (300, T + 20) and d.per_step
    seq = x.argmax(-1)
    assert (x.sum(-1) == 1).all()  # one-hot
    assert ((seq[:, :10] >= 1) & (seq[:, :10] <= 8)).all()
    assert (seq[:, 10:10 + T - 1] == 0).all() and (seq[:, 10 + T - 1] == 9).all() and (seq[:, -10:] == 0).all()
    assert (y[:, :-10] == 0).all() and torch.equal(y[:, -10:], seq[:, :10])
    # the memoryless answer: a sure blank, then a uniform guess among the 8 symbols
    logits = torch.full((300, T + 20, 10), -1e9, dtype=torch.float64)
    logits[:, :-10, 0] = 0
    logits[:, -10:, 1:9] = 0
    ce = F.cross_entropy(logits.flatten(0, 1), y.flatten())
    assert float(ce) == pytest.approx(d.baseline, rel=1e-12)
    assert d.baseline == pytest.approx(10 * math.log(8) / (T + 20))


def test_digits_seq_is_digits_row_by_row():
    d, flat = load_task("digits_seq"), load_dataset("digits")
    assert tuple(d.x_train.shape[1:]) == (8, 8)
    assert torch.equal(d.x_train.reshape(len(d.x_train), 64), flat.x_train)
    counts = np.bincount(flat.y_train.numpy(), minlength=10) / len(flat.y_train)
    assert d.baseline == pytest.approx(-np.mean(np.log(counts[flat.y_test.numpy()])))


def test_same_seed_same_data_other_seed_other_data():
    a, b = load_task("adding:T=5,n=50,n_test=10", seed=0), load_task("adding:T=5,n=50,n_test=10", seed=0)
    c = load_task("adding:T=5,n=50,n_test=10", seed=1)
    assert torch.equal(a.x_train, b.x_train) and not torch.equal(a.x_train, c.x_train)
    assert not torch.equal(a.x_train[:10], a.x_test)  # the test set is its own stream


def test_specs_lengths_and_errors():
    assert check_task_spec("adding:T=100") == "adding:T=100"
    assert (task_length("adding:T=12"), task_length("copy:T=12"), task_length("mnist1d_seq")) == (12, 32, 40)
    for spec, match in (("adding", "'T' is required"), ("adding:T=1", "T 1"), ("copy:T=5000", "T 5000"),
                        ("sort:T=3", "one of: adding, copy"), ("adding:T=5,m=3", "parameters allowed")):
        with pytest.raises(ConfigError, match=match) as info:
            load_task(spec)
        assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="seed"):
        load_task("adding:T=5", seed=-1)
