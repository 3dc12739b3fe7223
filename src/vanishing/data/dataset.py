"""The :class:`Dataset` record every loader produces: tensors ready for training."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
import torch
from torch import Tensor

__all__ = ["Arrays", "Dataset", "Task"]

Task = Literal["classification", "regression"]


class Arrays(NamedTuple):
    """What a loader returns: numpy arrays, inputs already standardised.

    ``y`` holds integer class labels (N,) when ``n_classes`` is set, else regression
    targets (N, out).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int | None


@dataclass(frozen=True, eq=False)
class Dataset:
    """A loaded data set: float32 inputs (N, F); int64 labels (N,) or float32 targets (N, out).

    >>> from vanishing.data import load_dataset
    >>> load_dataset("digits").describe()
    'digits: 1437 train / 360 test, 64 features, 10 classes'
    """

    name: str
    spec: str
    task: Task
    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    n_classes: int | None

    @classmethod
    def from_arrays(cls, name: str, spec: str, arrays: Arrays) -> "Dataset":
        classification = arrays.n_classes is not None
        y_dtype = torch.int64 if classification else torch.float32

        def tensor(a: np.ndarray, dtype: torch.dtype) -> Tensor:
            return torch.from_numpy(np.ascontiguousarray(a)).to(dtype)

        return cls(
            name=name,
            spec=spec,
            task="classification" if classification else "regression",
            x_train=tensor(arrays.x_train, torch.float32),
            y_train=tensor(arrays.y_train, y_dtype),
            x_test=tensor(arrays.x_test, torch.float32),
            y_test=tensor(arrays.y_test, y_dtype),
            n_classes=arrays.n_classes,
        )

    def __post_init__(self) -> None:
        assert self.x_train.dim() == 2 and self.x_test.dim() == 2
        assert self.x_train.shape[1] == self.x_test.shape[1]
        assert len(self.x_train) == len(self.y_train) and len(self.x_test) == len(self.y_test)
        assert self.y_train.dim() == (1 if self.task == "classification" else 2)

    @property
    def in_features(self) -> int:
        return self.x_train.shape[1]

    @property
    def out_features(self) -> int:
        """Number of classes, or of regression outputs."""
        return self.n_classes if self.n_classes is not None else self.y_train.shape[1]

    @property
    def majority_baseline(self) -> float | None:
        """Test accuracy of always predicting the most frequent training class (ties: lowest label)."""
        if self.n_classes is None:
            return None
        majority = torch.bincount(self.y_train, minlength=self.n_classes).argmax()
        return float((self.y_test == majority).double().mean()) if len(self.y_test) else float("nan")

    def describe(self) -> str:
        """One line, e.g. ``digits: 1437 train / 360 test, 64 features, 10 classes``."""
        if self.n_classes is not None:
            target = f"{self.n_classes} classes"
        else:
            target = f"{self.out_features} output" + ("s" if self.out_features != 1 else "")
        return (f"{self.spec}: {len(self.x_train)} train / {len(self.x_test)} test, "
                f"{self.in_features} features, {target}")
