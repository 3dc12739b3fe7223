"""Training: the plain PyTorch loop used by every run."""

from .loop import TrainOutcome, evaluate, make_optimizer, resolve_device, train

__all__ = ["TrainOutcome", "evaluate", "make_optimizer", "resolve_device", "train"]
