"""``mnist1d``: MNIST-1D (Greydanus 2020), made by the ``mnist1d`` package's own generator.

Never downloaded: :func:`mnist1d.data.make_dataset` builds the set locally (about 1 s
for the default 5000 samples) and the arrays are cached (see :mod:`vanishing.data.cache`).
"""

from __future__ import annotations

import random
from importlib.metadata import version
from typing import Any

import numpy as np

from ._prep import standardize
from .cache import cached_arrays
from .dataset import Arrays
from .load import Range, dataset

# the package's defaults, minus its download url (get_dataset_args()); train_split 0.8
DEFAULT_ARGS: dict[str, Any] = {
    "num_samples": 5000, "train_split": 0.8, "template_len": 12, "padding": [36, 60],
    "scale_coeff": 0.4, "max_translation": 48, "corr_noise_scale": 0.25, "iid_noise_scale": 2e-2,
    "shear_scale": 0.75, "shuffle_seq": False, "final_seq_length": 40, "seed": 42,
}


def _generate(args: dict[str, Any]) -> dict[str, np.ndarray]:
    """Run the package's generator, leaving the global RNGs it reseeds as they were."""
    from mnist1d.data import make_dataset
    from mnist1d.utils import ObjectView

    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        made = make_dataset(ObjectView(dict(args)))
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    return {"x": made["x"], "y": made["y"], "x_test": made["x_test"], "y_test": made["y_test"]}


@dataset("mnist1d", n=Range(lo=20, hi=100_000, multiple_of=10))  # 5000 take seconds to generate
def mnist1d(seed: int, n: int = 5000, shuffle_seq: bool = False) -> Arrays:
    """MNIST-1D: 10 classes of 1-D signals, 40 features; n samples, 80 % train (the package's split).

    ``shuffle_seq`` permutes the 40 positions (the same way for every sample), the variant
    that removes spatial structure. The set does not depend on the run seed (generator seed 42).
    """
    args = {**DEFAULT_ARGS, "num_samples": n, "shuffle_seq": shuffle_seq}
    key = {"args": args, "mnist1d": version("mnist1d"), "format": 1}
    arrays = cached_arrays("mnist1d", key, lambda: _generate(args))
    x_tr, x_te = standardize(arrays["x"], arrays["x_test"])
    return Arrays(x_tr, arrays["y"].astype(np.int64), x_te, arrays["y_test"].astype(np.int64), n_classes=10)
