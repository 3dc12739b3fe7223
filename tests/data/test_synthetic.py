"""spirals, circles and teacher: geometry on the raw points, a torch teacher as reference."""

import math
from collections import Counter

import numpy as np
import pytest
import torch
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

from vanishing.data import load_dataset, synthetic


@pytest.fixture
def raw(monkeypatch):
    """Loaders without the standardisation, to check the geometry."""
    monkeypatch.setattr(synthetic, "standardize", lambda a, b: (a.astype(np.float32), b.astype(np.float32)))


def _all(ds):
    return torch.cat([ds.x_train, ds.x_test]).double().numpy(), torch.cat([ds.y_train, ds.y_test]).numpy()


@pytest.mark.parametrize("classes", [2, 3, 5])
def test_spiral_points_lie_on_their_arm(raw, classes):
    x, y = _all(load_dataset(f"spirals:n=300,classes={classes},noise=0,turns=1.5", seed=0))
    t = np.hypot(x[:, 0], x[:, 1])
    arm = (np.arctan2(x[:, 1], x[:, 0]) / (2 * math.pi) - 1.5 * t) * classes  # = label mod classes
    offset = (arm - y) % classes
    assert np.allclose(np.minimum(offset, classes - offset), 0, atol=1e-4)
    assert t.max() <= 1


@pytest.mark.parametrize("classes", [2, 4])
def test_circle_points_lie_on_their_radius(raw, classes):
    x, y = _all(load_dataset(f"circles:n=200,classes={classes},noise=0", seed=0))
    np.testing.assert_allclose(np.hypot(x[:, 0], x[:, 1]), (y + 1) / classes, atol=1e-6)


@pytest.mark.parametrize("name", ["spirals", "circles"])
def test_balanced_stratified_and_standardised(name):
    ds = load_dataset(f"{name}:n=300,classes=3", seed=4)
    assert Counter(ds.y_train.tolist()) == {0: 80, 1: 80, 2: 80}
    assert Counter(ds.y_test.tolist()) == {0: 20, 1: 20, 2: 20}
    assert ds.majority_baseline == pytest.approx(1 / 3)


def test_standardisation_of_a_synthetic_set_matches_sklearn(monkeypatch):
    seen = {}
    real = synthetic.standardize

    def spy(a, b):
        seen["train"], seen["test"] = a, b
        return real(a, b)

    monkeypatch.setattr(synthetic, "standardize", spy)
    ds = load_dataset("circles:n=200", seed=9)
    scaler = StandardScaler().fit(seen["train"])
    np.testing.assert_allclose(ds.x_train.numpy(), scaler.transform(seen["train"]), atol=1e-5)
    np.testing.assert_allclose(ds.x_test.numpy(), scaler.transform(seen["test"]), atol=1e-5)


@pytest.mark.parametrize("name", ["spirals", "circles"])
def test_noise_free_sets_are_learnable(name):
    ds = load_dataset(f"{name}:n=600,noise=0", seed=1)
    knn = KNeighborsClassifier(3).fit(ds.x_train.numpy(), ds.y_train.numpy())
    assert knn.score(ds.x_test.numpy(), ds.y_test.numpy()) > 0.95


def test_teacher_matches_a_torch_teacher():
    spec = "teacher:n=100,dim=4,out=2,depth=3,width=8,noise=0,teacher_seed=7"
    ds = load_dataset(spec, seed=2)
    weights = synthetic.teacher_net(4, 2, 3, 8, teacher_seed=7)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8, bias=False), torch.nn.Tanh(),
                              torch.nn.Linear(8, 8, bias=False), torch.nn.Tanh(),
                              torch.nn.Linear(8, 2, bias=False)).double()
    with torch.no_grad():
        for layer, w in zip(net[::2], weights):
            layer.weight.copy_(torch.from_numpy(w.T))
        y_tr, y_te = net(ds.x_train.double()), net(ds.x_test.double())
    mean, std = y_tr.mean(0), y_tr.std(0, unbiased=False)
    torch.testing.assert_close(ds.y_train.double(), (y_tr - mean) / std, atol=1e-5, rtol=0)
    torch.testing.assert_close(ds.y_test.double(), (y_te - mean) / std, atol=1e-5, rtol=0)


def test_teacher_is_fixed_by_teacher_seed_not_by_run_seed():
    a, b = load_dataset("teacher:n=200,noise=0", seed=0), load_dataset("teacher:n=200,noise=0", seed=1)
    assert not torch.equal(a.x_train, b.x_train)
    fa = synthetic.teacher_forward(synthetic.teacher_net(10, 1, 3, 32, 0), b.x_train.double().numpy())
    # b's targets are the same teacher up to b's own normalisation: perfectly correlated
    assert np.corrcoef(fa[:, 0], b.y_train[:, 0].numpy())[0, 1] == pytest.approx(1, abs=1e-6)
    c = load_dataset("teacher:n=200,noise=0,teacher_seed=1", seed=1)
    assert torch.equal(b.x_train, c.x_train) and not torch.allclose(b.y_train, c.y_train)


def test_teacher_noise_is_relative_to_the_signal():
    ds = load_dataset("teacher:n=4000,noise=0.5", seed=0)
    assert ds.y_train.var().item() == pytest.approx(1 + 0.5**2, rel=0.1)
