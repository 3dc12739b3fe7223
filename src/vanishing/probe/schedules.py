"""When to record: plain callables ``step -> bool`` (as in cockpit's ``utils/schedules.py``).

Step ``k`` is the ``k``-th optimizer step counted from 0, so step 0 describes the
network at initialisation.

>>> [s for s in range(40) if log_then_every(16)(s)]
[0, 1, 2, 3, 4, 6, 8, 12, 16, 32]
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Callable, Protocol, Union

from ..errors import ConfigError

__all__ = ["Schedule", "every", "every_and_last", "log_then_every", "explicit", "resolve", "DEFAULT_EVERY"]

# the default schedule is log_then_every(DEFAULT_EVERY)
DEFAULT_EVERY = 50


class Schedule(Protocol):
    """Says whether a quantity is recorded at optimizer step ``step``."""

    def __call__(self, step: int) -> bool: ...


def _positive(n: object, field: str) -> int:
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ConfigError(field, n, "an integer >= 1")
    return n


@dataclass(frozen=True)
class every:
    """Every ``n``-th step: 0, n, 2n, ..."""

    n: int

    def __post_init__(self) -> None:
        _positive(self.n, "every")

    def __call__(self, step: int) -> bool:
        return step % self.n == 0


@dataclass(frozen=True)
class every_and_last:
    """Step 0, every ``n``-th step and the last step of a run of ``steps`` steps.

    The one schedule of a training run: ``vanishing run --record-every n`` records these steps,
    the batched executor records the same ones, and ``vanishing diagnose`` uses it too.

    >>> every_and_last(5, 12).steps()
    [0, 5, 10, 11]
    """

    n: int
    total: int

    def __post_init__(self) -> None:
        _positive(self.n, "record_every")
        _positive(self.total, "steps")

    def __call__(self, step: int) -> bool:
        return 0 <= step < self.total and (step % self.n == 0 or step == self.total - 1)

    def steps(self) -> list[int]:
        """Every recorded step, in order."""
        return sorted({*range(0, self.total, self.n), self.total - 1})


@dataclass(frozen=True)
class log_then_every:
    """Log-spaced early (0, 1, 2, 3, 4, 6, 8, 12, 16, 24, ... below ``n``), then every multiple of ``n``.

    Early steps are where gradients change fastest; powers of two and 1.5 × powers of two
    give about two records per octave.
    """

    n: int = DEFAULT_EVERY

    def __post_init__(self) -> None:
        _positive(self.n, "every")

    def __call__(self, step: int) -> bool:
        if step >= self.n:
            return step % self.n == 0
        if step <= 4:
            return step >= 0
        # step = 2^k or 3·2^(k-1)
        odd = step
        while odd % 2 == 0:
            odd //= 2
        return odd in (1, 3)


class explicit:
    """Exactly the listed steps."""

    def __init__(self, steps: Iterable[int]):
        steps = list(steps)
        for s in steps:
            if not isinstance(s, numbers.Integral) or isinstance(s, bool) or s < 0:
                raise ConfigError("every", steps, "a list of integer steps >= 0")
        self.steps = frozenset(int(s) for s in steps)

    def __call__(self, step: int) -> bool:
        return step in self.steps

    def __repr__(self) -> str:
        return f"explicit({sorted(self.steps)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, explicit) and other.steps == self.steps

    def __hash__(self) -> int:
        return hash(self.steps)


ScheduleLike = Union[None, int, Iterable[int], Callable[[int], bool]]


def resolve(spec: ScheduleLike, field: str = "every") -> Callable[[int], bool]:
    """``None`` → the default :class:`log_then_every`; an int → :class:`every`;
    a list of ints → :class:`explicit`; a callable is used as it is."""
    if spec is None:
        return log_then_every(DEFAULT_EVERY)
    if isinstance(spec, bool):
        raise ConfigError(field, spec, "None, an integer >= 1, a list of steps or a callable step -> bool")
    if isinstance(spec, int):
        return every(_positive(spec, field))
    if callable(spec):
        return spec
    if isinstance(spec, Iterable) and not isinstance(spec, (str, bytes)):
        return explicit(spec)
    raise ConfigError(field, spec, "None, an integer >= 1, a list of steps or a callable step -> bool")
