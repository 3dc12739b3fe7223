"""digits against scikit-learn's own split and scaler."""

from collections import Counter

import numpy as np
import torch
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from vanishing.data import load_dataset


@pytest.fixture(scope="module")
def ds():
    return load_dataset("digits", seed=123)


@pytest.fixture(scope="module")
def reference():
    x, y = load_digits(return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.2, stratify=y, random_state=0)
    return x, y, x_tr, x_te, y_tr, y_te


def test_sizes_and_labels(ds, reference):
    _, _, _, _, y_tr, y_te = reference
    assert ds.x_train.shape == (1437, 64) and ds.x_test.shape == (360, 64)
    np.testing.assert_array_equal(ds.y_train.numpy(), y_tr)
    np.testing.assert_array_equal(ds.y_test.numpy(), y_te)


def test_standardised_with_train_statistics(ds, reference):
    _, _, x_tr, x_te, _, _ = reference
    scaler = StandardScaler().fit(x_tr)
    varying = scaler.var_ > 0
    assert (~varying).any()  # digits has constant pixels: the zero-variance branch is exercised
    np.testing.assert_allclose(ds.x_train.numpy()[:, varying], scaler.transform(x_tr)[:, varying], atol=1e-5)
    np.testing.assert_allclose(ds.x_test.numpy()[:, varying], scaler.transform(x_te)[:, varying], atol=1e-5)
    assert (ds.x_train.numpy()[:, ~varying] == 0).all() and (ds.x_test.numpy()[:, ~varying] == 0).all()
    np.testing.assert_allclose(ds.x_train.numpy()[:, varying].mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(ds.x_train.numpy()[:, varying].std(0), 1, atol=1e-4)


def test_split_is_stratified(ds, reference):
    _, y, *_ = reference
    total, test = Counter(y.tolist()), Counter(ds.y_test.tolist())
    for label, count in total.items():
        assert abs(test[label] - 0.2 * count) <= 1


def test_majority_baseline_by_hand(ds):
    counts = Counter(ds.y_train.tolist())
    top = max(counts.values())
    majority = min(label for label, c in counts.items() if c == top)
    expected = sum(1 for label in ds.y_test.tolist() if label == majority) / len(ds.y_test)
    assert ds.majority_baseline == pytest.approx(expected)


def test_second_load_comes_from_the_cache_unchanged(monkeypatch):
    """After one load the split arrays come from the data cache: scikit-learn is not asked again."""
    import vanishing.data.digits as digits_mod

    first = load_dataset("digits", seed=0)

    def refuse():
        raise AssertionError("scikit-learn asked again")

    monkeypatch.setattr(digits_mod, "_from_sklearn", refuse)
    again = load_dataset("digits", seed=0)
    for name in ("x_train", "y_train", "x_test", "y_test"):
        assert torch.equal(getattr(first, name), getattr(again, name))


def test_fresh_process_loads_digits_without_scikit_learn(tmp_path):
    """A sweep worker's load: with the cache filled, scikit-learn is not imported at all."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "VANISHING_CACHE_DIR": str(tmp_path)}
    code = ("import sys; from vanishing.data import load_dataset; load_dataset('digits'); "
            "print('sklearn' in sys.modules)")
    runs = [subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
            for _ in range(2)]
    assert [r.stdout.strip() for r in runs] == ["True", "False"]
