"""What a training loop observed beyond the probe's trace."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TrainOutcome"]


@dataclass
class TrainOutcome:
    """What the loop observed beyond the probe's trace."""

    steps_done: int
    diverged: bool
    diverged_step: int | None
    final_loss: float
    final_train_accuracy: float | None
    final_test_accuracy: float | None
    interrupted: bool = False
    final_test_loss: float | None = None  # None: not measured (records made before it was)
    clipped_steps: int = 0  # steps whose gradient norm was clipped (RunConfig.clip)
