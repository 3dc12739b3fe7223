r"""Sequence tasks for recurrent nets, all offline, each with its baseline built in.

A task is chosen with the spec grammar (``"adding:T=100"``) and made by :func:`load_task`:
inputs (N, T, F) float32, time index 0 = the first input step, and what the net must answer.

=================  ==================================================  ============================  ==========
task               input → target                                      baseline (test loss)          solved
=================  ==================================================  ============================  ==========
``adding:T``       (value U[0,1], marker) per step, one marker in      MSE 1/6 ≈ 0.167 of always     MSE < 0.01
                   each half → the sum of the two marked values        answering 1 (Hochreiter &
                   (Hochreiter & Schmidhuber 1997; Le et al. 2015)     Schmidhuber 1997)
``copy:T``         10 symbols from 8, T−1 blanks, a delimiter, 10      10·ln 8 / (T+20) per position CE < 0.05 ×
                   blanks (one-hot, 10 channels) → blanks, then the    (blanks, then a uniform       baseline
                   10 symbols in the last 10 positions (Arjovsky et    guess: memoryless)
                   al. 2016)
``mnist1d_seq``    MNIST-1D, one value per step (40 steps) → class     cross-entropy of the training —
``digits_seq``     8×8 digits, one row of 8 per step (8 steps) → class class frequencies
=================  ==================================================  ============================  ==========

Every result states its test loss as a fraction of the baseline (``score_vs_baseline``): 1 means
the net learned nothing a memoryless answer does not know. Adding and copy draw their samples
from the run seed; the test set comes from a separate stream of the same seed.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from ..errors import ConfigError
from ..registry import Registry
from ..spec import SEEDS, Range
from .dataset import Dataset
from .digits import digits
from .load import DatasetLoader, _resolve, dataset
from .mnist1d import mnist1d

__all__ = ["SequenceArrays", "SequenceData", "TASKS", "load_task", "check_task_spec", "task_length",
           "COPY_SYMBOLS", "COPY_RECALL"]

TASKS: Registry[DatasetLoader] = Registry("task")

COPY_SYMBOLS = 8
"""Symbols to remember in the copy task (1..8; 0 is the blank, 9 the delimiter)."""
COPY_RECALL = 10
"""Symbols shown, and recalled after the delimiter."""


class SequenceArrays(NamedTuple):
    """What a task loader returns: inputs (N, T, F); labels (N,) or (N, T) with ``n_classes``,
    regression targets (N, out) otherwise; the baseline loss, what it is, and the solved threshold."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int | None
    baseline: float
    baseline_text: str
    solved_below: float | None


@dataclass(frozen=True, eq=False)
class SequenceData(Dataset):
    """A loaded sequence task: float32 inputs (N, T, F); int64 labels (N,) — one answer at the end —
    or (N, T) — one per step (copy); float32 targets (N, out) for regression (adding).

    ``baseline`` is the test loss of the memoryless answer (``baseline_text`` says which);
    ``solved_below`` the test loss under which the task counts as solved (``None``: no such line).
    """

    baseline: float = math.nan
    baseline_text: str = ""
    solved_below: float | None = None

    def __post_init__(self) -> None:
        assert self.x_train.dim() == 3 and self.x_test.dim() == 3
        assert self.x_train.shape[1:] == self.x_test.shape[1:]
        assert len(self.x_train) == len(self.y_train) and len(self.x_test) == len(self.y_test)

    @property
    def in_features(self) -> int:
        return self.x_train.shape[-1]

    @property
    def length(self) -> int:
        """T, the number of time steps."""
        return self.x_train.shape[1]

    @property
    def per_step(self) -> bool:
        """True when every time step has a target (copy), False for one answer at the end."""
        return self.y_train.dim() == 2 and self.task == "classification"

    @property
    def majority_baseline(self) -> float | None:
        if self.n_classes is None:
            return None
        majority = torch.bincount(self.y_train.reshape(-1), minlength=self.n_classes).argmax()
        return float((self.y_test == majority).double().mean()) if len(self.y_test) else float("nan")

    def describe(self) -> str:
        """One line, e.g. ``adding:T=100: 10000 train / 1000 test, 100 steps × 2 features, regression``."""
        target = f"{self.n_classes} classes" if self.n_classes is not None else "regression"
        return (f"{self.spec}: {len(self.x_train)} train / {len(self.x_test)} test, "
                f"{self.length} steps × {self.in_features} features, {target}")

    def as_dict(self) -> dict:
        """The description stored with a result (the data set's own keys plus the task's)."""
        return {"spec": self.spec, "description": self.describe(), "task": self.task,
                "in_features": self.in_features, "out_features": self.out_features,
                "majority_baseline": self.majority_baseline, "length": self.length,
                "baseline": self.baseline, "baseline_text": self.baseline_text, "solved_below": self.solved_below,
                "input_q": self.input_q}

    @property
    def input_q(self) -> float:
        """Mean square of the training inputs over samples, steps and features: the q_x of the
        recurrent mean-field theory (:mod:`vanishing.theory.recurrent`)."""
        return float(self.x_train.double().pow(2).mean()) if self.x_train.numel() else float("nan")


def _rngs(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent train and test streams of one seed."""
    train, test = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(train), np.random.default_rng(test)


_LENGTH = Range(2, 2000)
_N = Range(10, 100_000)


def _adding(rng: np.random.Generator, n: int, T: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.zeros((n, T, 2), dtype=np.float32)
    x[:, :, 0] = rng.random((n, T), dtype=np.float32)
    half = T // 2
    first = rng.integers(0, half, n)
    second = rng.integers(half, T, n)
    rows = np.arange(n)
    x[rows, first, 1] = 1.0
    x[rows, second, 1] = 1.0
    y = (x[rows, first, 0].astype(np.float64) + x[rows, second, 0]).astype(np.float32)
    return x, y[:, None]


@dataset("adding", TASKS, T=_LENGTH, n=_N, n_test=_N)
def adding(seed: int, T: int, n: int = 10_000, n_test: int = 1000) -> SequenceArrays:
    """The adding problem: T steps of (value, marker) → the sum of the two marked values."""
    tr, te = _rngs(seed)
    x_tr, y_tr = _adding(tr, n, T)
    x_te, y_te = _adding(te, n_test, T)
    # the sum of two U[0,1] has mean 1 and variance 2/12: answering 1 scores MSE 1/6
    return SequenceArrays(x_tr, y_tr, x_te, y_te, None, 1 / 6, "MSE of always answering 1 (= 1/6)", 0.01)


def _copy(rng: np.random.Generator, n: int, T: int) -> tuple[np.ndarray, np.ndarray]:
    length = T + 2 * COPY_RECALL
    symbols = rng.integers(1, COPY_SYMBOLS + 1, (n, COPY_RECALL))
    seq = np.zeros((n, length), dtype=np.int64)
    seq[:, :COPY_RECALL] = symbols
    seq[:, COPY_RECALL + T - 1] = COPY_SYMBOLS + 1  # the delimiter, after T-1 blanks
    target = np.zeros((n, length), dtype=np.int64)
    target[:, -COPY_RECALL:] = symbols
    x = np.eye(COPY_SYMBOLS + 2, dtype=np.float32)[seq]  # (n, T+20, 10) one-hot
    return x, target


@dataset("copy", TASKS, T=_LENGTH, n=Range(10, 20_000), n_test=Range(10, 20_000))
def copy(seed: int, T: int, n: int = 4000, n_test: int = 500) -> SequenceArrays:
    """The copy task: 10 symbols, T−1 blanks, a delimiter, 10 blanks → the 10 symbols at the end."""
    tr, te = _rngs(seed)
    x_tr, y_tr = _copy(tr, n, T)
    x_te, y_te = _copy(te, n_test, T)
    # memoryless: blanks are certain; each recalled symbol is a uniform guess among 8 (ln 8 nats)
    baseline = COPY_RECALL * math.log(COPY_SYMBOLS) / (T + 2 * COPY_RECALL)
    return SequenceArrays(x_tr, y_tr, x_te, y_te, COPY_SYMBOLS + 2, baseline,
                          "cross-entropy per position of a memoryless answer (= 10·ln 8/(T+20))", 0.05 * baseline)


def _prior_cross_entropy(y_train: np.ndarray, y_test: np.ndarray, n_classes: int) -> float:
    """Test cross-entropy of predicting the training class frequencies (the best input-free answer)."""
    freq = np.bincount(y_train, minlength=n_classes) / len(y_train)
    with np.errstate(divide="ignore"):
        return float(-np.mean(np.log(freq[y_test])))


def _classification(x_tr: np.ndarray, y_tr: np.ndarray, x_te: np.ndarray, y_te: np.ndarray,
                    steps: int, n_classes: int) -> SequenceArrays:
    return SequenceArrays(x_tr.reshape(len(x_tr), steps, -1), y_tr, x_te.reshape(len(x_te), steps, -1), y_te,
                          n_classes, _prior_cross_entropy(y_tr, y_te, n_classes),
                          "cross-entropy of predicting the training class frequencies", None)


@dataset("mnist1d_seq", TASKS, n=Range(lo=20, hi=100_000, multiple_of=10))
def mnist1d_seq(seed: int, n: int = 5000) -> SequenceArrays:
    """MNIST-1D as a sequence: one value per step, 40 steps → one of 10 classes."""
    a = mnist1d(seed, n=n)
    return _classification(a.x_train, a.y_train, a.x_test, a.y_test, a.x_train.shape[1], 10)


@dataset("digits_seq", TASKS)
def digits_seq(seed: int) -> SequenceArrays:
    """8×8 handwritten digits as a sequence: one row of 8 pixels per step, 8 steps → one of 10 classes."""
    a = digits(seed)
    return _classification(a.x_train, a.y_train, a.x_test, a.y_test, 8, 10)


def check_task_spec(spec: str, field: str = "task") -> str:
    """Validate a task spec without making any data; return its canonical form.

    >>> check_task_spec("adding:T=100,n=10000")
    'adding:T=100'
    >>> check_task_spec("copy:T=200,n=4000")
    'copy:T=200'
    """
    return _resolve(spec, field, TASKS).canonical


def task_length(spec: str) -> int:
    """T, the number of time steps of a task's sequences, without making its data.

    >>> task_length("adding:T=30"), task_length("copy:T=30"), task_length("digits_seq")
    (30, 50, 8)
    """
    r = _resolve(spec, "task", TASKS)
    name, params = r.loader.name, {**{k: v for k, v in r.loader.params.items()}, **r.params}
    if name == "adding":
        return int(params["T"])
    if name == "copy":
        return int(params["T"]) + 2 * COPY_RECALL
    return {"mnist1d_seq": 40, "digits_seq": 8}[name]


def load_task(spec: str, seed: int = 0, field: str = "task") -> SequenceData:
    """Make (or load) a sequence task from its spec; never touches the network.

    >>> d = load_task("adding:T=20,n=100,n_test=10", seed=0)
    >>> tuple(d.x_train.shape), tuple(d.y_train.shape), round(d.baseline, 4)
    ((100, 20, 2), (100, 1), 0.1667)
    """
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool) or not SEEDS.contains(seed):
        raise ConfigError("seed", seed, f"an integer {SEEDS.describe()}")
    r = _resolve(spec, field, TASKS)
    a: SequenceArrays = r.loader.fn(int(seed), **r.params)
    classification = a.n_classes is not None

    def tensor(v: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(v)).to(dtype)

    y_dtype = torch.int64 if classification else torch.float32
    return SequenceData(
        name=r.loader.name, spec=r.canonical, task="classification" if classification else "regression",
        x_train=tensor(a.x_train, torch.float32), y_train=tensor(a.y_train, y_dtype),
        x_test=tensor(a.x_test, torch.float32), y_test=tensor(a.y_test, y_dtype), n_classes=a.n_classes,
        baseline=float(a.baseline), baseline_text=a.baseline_text, solved_below=a.solved_below)
