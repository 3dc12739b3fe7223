"""Pure array helpers shared by the loaders: standardisation and the stratified split."""

from __future__ import annotations

import numpy as np

TEST_FRACTION = 0.2


def standardize(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scale each feature to zero mean, unit variance with the *training* statistics (float32).

    Features constant on the training set carry nothing to learn from; they are set to 0
    in both sets (rather than left unscaled, as scikit-learn's ``StandardScaler`` does).
    """
    mean = train.mean(axis=0, dtype=np.float64)
    std = train.std(axis=0, dtype=np.float64)
    constant = std <= 1e-8 * np.maximum(1.0, np.abs(mean))
    std[constant] = 1.0
    mean32, std32 = mean.astype(np.float32), std.astype(np.float32)

    def apply(x: np.ndarray) -> np.ndarray:
        out = (x.astype(np.float32, copy=False) - mean32) / std32  # float32 keeps MNIST at ~190 MB
        out[:, constant] = 0.0
        return out

    return apply(train), apply(test)


def stratified_split(x: np.ndarray, y: np.ndarray, random_state: int,
                     test_fraction: float = TEST_FRACTION) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x_train, y_train, x_test, y_test)`` with every class in the same proportion in both sets."""
    from sklearn.model_selection import train_test_split  # here, not at import: it costs ~1 s (scipy, pandas)

    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_fraction, stratify=y,
                                              random_state=random_state)
    return x_tr, y_tr, x_te, y_te


def split_seed(rng: np.random.Generator) -> int:
    """An int seed for scikit-learn (which wants < 2**32) drawn from a numpy Generator."""
    return int(rng.integers(2**32))
