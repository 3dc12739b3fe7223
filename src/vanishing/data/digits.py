"""``digits``: scikit-learn's handwritten digits (8×8 images, 1797 samples), shipped with it."""

from __future__ import annotations

from ._prep import standardize, stratified_split
from .dataset import Arrays
from .load import dataset

# fixed, not the run seed: every run sees the same 1437 / 360 split
SPLIT_RANDOM_STATE = 0


@dataset("digits")
def digits(seed: int) -> Arrays:
    """Handwritten digits 0-9, 8×8 pixels (64 features); fixed stratified 80/20 split."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x_tr, y_tr, x_te, y_te = stratified_split(x, y, SPLIT_RANDOM_STATE)
    x_tr, x_te = standardize(x_tr, x_te)
    return Arrays(x_tr, y_tr, x_te, y_te, n_classes=10)
