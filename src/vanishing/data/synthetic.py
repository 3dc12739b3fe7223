"""Synthetic sets drawn from a seeded ``numpy.random.Generator``: ``spirals``, ``circles``, ``teacher``.

The run seed draws the sample; the distribution (and the teacher network) is fixed by the
parameters, so different seeds are different samples of the same task.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ConfigError
from ._prep import TEST_FRACTION, split_seed, standardize, stratified_split
from .dataset import Arrays
from ..spec import SEEDS
from .load import Range, dataset

MIN_PER_CLASS = 10  # so that the 20 % test split holds every class
# Upper bounds, so that a few characters of spec cannot ask for gigabytes: a million samples, and
# at most 10⁸ float64 numbers (800 MB) in a teacher's inputs or hidden activations
MAX_SAMPLES = 1_000_000
MAX_TEACHER_VALUES = 10**8
SAMPLES = Range(lo=20, hi=MAX_SAMPLES)
NOISE = Range(lo=0.0, hi=100.0)  # std relative to a signal of size ~1; beyond, standardising overflows


def _check_per_class(name: str, n: int, classes: int) -> None:
    if n < MIN_PER_CLASS * classes:
        raise ConfigError(f"dataset {name} n", n,
                          f"an integer >= {MIN_PER_CLASS * classes} ({MIN_PER_CLASS} per class)")


def _balanced_labels(n: int, classes: int) -> np.ndarray:
    return np.arange(n) % classes


def _classification(x: np.ndarray, y: np.ndarray, classes: int, rng: np.random.Generator) -> Arrays:
    x_tr, y_tr, x_te, y_te = stratified_split(x, y, split_seed(rng))
    x_tr, x_te = standardize(x_tr, x_te)
    return Arrays(x_tr, y_tr, x_te, y_te, n_classes=classes)


@dataset("spirals", n=SAMPLES, classes=Range(lo=2, hi=1000), noise=NOISE, turns=Range(lo=0.1, hi=1000.0))
def spirals(seed: int, n: int = 1000, classes: int = 2, noise: float = 0.1, turns: float = 1.0) -> Arrays:
    """Interleaved spiral arms in 2-D, one per class: radius t, angle 2π(turns·t + k/classes), t ~ U(0, 1).

    ``noise`` is the std of Gaussian noise added to each coordinate (the outer radius is 1).
    """
    _check_per_class("spirals", n, classes)
    rng = np.random.default_rng(seed)
    y = _balanced_labels(n, classes)
    t = rng.uniform(0.0, 1.0, n)
    angle = 2 * math.pi * (turns * t + y / classes)
    x = np.stack([t * np.cos(angle), t * np.sin(angle)], axis=1) + noise * rng.standard_normal((n, 2))
    return _classification(x, y, classes, rng)


@dataset("circles", n=SAMPLES, classes=Range(lo=2, hi=1000), noise=NOISE)
def circles(seed: int, n: int = 1000, classes: int = 2, noise: float = 0.05) -> Arrays:
    """Concentric circles in 2-D, class k on radius (k+1)/classes, uniform angle.

    ``noise`` is the std of Gaussian noise added to each coordinate.
    """
    _check_per_class("circles", n, classes)
    rng = np.random.default_rng(seed)
    y = _balanced_labels(n, classes)
    radius = (y + 1) / classes
    angle = rng.uniform(0.0, 2 * math.pi, n)
    x = radius[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1) + noise * rng.standard_normal((n, 2))
    return _classification(x, y, classes, rng)


def teacher_net(dim: int, out: int, depth: int, width: int, teacher_seed: int) -> list[np.ndarray]:
    """The teacher's weight matrices (fan_in, fan_out), LeCun normal: :math:`W \\sim \\mathcal{N}(0, 1/n_{in})`."""
    rng = np.random.default_rng(teacher_seed)
    sizes = [dim] + [width] * (depth - 1) + [out]
    return [rng.standard_normal((a, b)) / math.sqrt(a) for a, b in zip(sizes[:-1], sizes[1:])]


def teacher_forward(weights: list[np.ndarray], x: np.ndarray) -> np.ndarray:
    """tanh after every layer but the last (linear output)."""
    h = x
    for i, w in enumerate(weights):
        h = h @ w
        if i < len(weights) - 1:
            h = np.tanh(h)
    return h


@dataset("teacher", n=Range(lo=10, hi=MAX_SAMPLES), dim=Range(lo=1, hi=10_000), out=Range(lo=1, hi=1000),
         depth=Range(lo=1, hi=100), width=Range(lo=1, hi=10_000), noise=NOISE, teacher_seed=SEEDS)
def teacher(seed: int, n: int = 1000, dim: int = 10, out: int = 1, depth: int = 3, width: int = 32,
            noise: float = 0.1, teacher_seed: int = 0) -> Arrays:
    """Regression on a random tanh teacher MLP: x ~ N(0, I_dim), y = teacher(x) + noise.

    The teacher (``depth`` weight layers, hidden ``width``) is fixed by ``teacher_seed``, not by
    the run seed. Its outputs are scaled to zero mean and unit variance on the training set, so
    ``noise`` is relative to the signal and predicting 0 gives a test MSE of about 1 + noise².
    Inputs are left as drawn (already standard normal).
    """
    largest = n * max(dim, width, out)
    if largest > MAX_TEACHER_VALUES:
        raise ConfigError("dataset teacher n", n, f"an integer <= {MAX_TEACHER_VALUES // max(dim, width, out)} "
                          f"for dim={dim}, width={width}, out={out} (at most {MAX_TEACHER_VALUES:.0e} values)")
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim))
    clean = teacher_forward(teacher_net(dim, out, depth, width, teacher_seed), x)
    n_test = max(1, round(n * TEST_FRACTION))
    n_train = n - n_test
    mean, std = clean[:n_train].mean(axis=0), clean[:n_train].std(axis=0)
    std[std == 0] = 1.0
    y = (clean - mean) / std + noise * rng.standard_normal((n, out))
    return Arrays(x[:n_train], y[:n_train], x[n_train:], y[n_train:], n_classes=None)
