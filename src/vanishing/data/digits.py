"""``digits``: scikit-learn's handwritten digits (8×8 images, 1797 samples), shipped with it.

The split arrays are made by scikit-learn once and then kept in the data cache (see
:mod:`vanishing.data.cache`): later loads, e.g. in every worker process of a sweep, skip
importing scikit-learn (~1 s on a small machine).
"""

from __future__ import annotations

from importlib.metadata import version

import numpy as np

from ._prep import standardize, stratified_split
from .cache import cached_arrays
from .dataset import Arrays
from .load import dataset

# fixed, not the run seed: every run sees the same 1437 / 360 split
SPLIT_RANDOM_STATE = 0


def _from_sklearn() -> dict[str, np.ndarray]:
    """scikit-learn's arrays, split (before standardisation)."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x_tr, y_tr, x_te, y_te = stratified_split(x, y, SPLIT_RANDOM_STATE)
    return {"x_train": x_tr, "y_train": y_tr, "x_test": x_te, "y_test": y_te}


@dataset("digits")
def digits(seed: int) -> Arrays:
    """Handwritten digits 0-9, 8×8 pixels (64 features); fixed stratified 80/20 split."""
    key = {"scikit-learn": version("scikit-learn"), "split_random_state": SPLIT_RANDOM_STATE, "format": 1}
    raw = cached_arrays("digits", key, _from_sklearn)
    x_tr, x_te = standardize(raw["x_train"], raw["x_test"])
    return Arrays(x_tr, raw["y_train"], x_te, raw["y_test"], n_classes=10)
