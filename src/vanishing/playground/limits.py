"""What one playground server accepts: the run config's own validation, then this server's limits."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping

from ..config import RunConfig
from ..data import DATASETS
from ..errors import ConfigError

__all__ = ["Limits", "LOCAL_HOST", "PLAYGROUND_DATASETS", "check_config"]

LOCAL_HOST = "127.0.0.1"
"""The address the playground listens on unless told otherwise: this machine only."""

PLAYGROUND_DATASETS: tuple[str, ...] = tuple(n for n in DATASETS.names() if n != "idx")
"""Data sets a page may ask for: every registered one but ``idx`` (it reads a path on the server's disk)."""


@dataclass(frozen=True)
class Limits:
    """Per-server limits; a page asking for more gets HTTP 422 naming the field and the limit."""

    max_depth: int = 100
    max_width: int = 512
    max_steps: int = 5000
    max_batch_size: int = 1024
    max_runs: int = 4
    """Runs training (or paused) at once, all pages together; one more gets HTTP 429."""
    updates_per_s: float = 10.0
    """Most chart updates a page receives per second."""
    orphan_grace_s: float = 5.0
    """A run whose page has been gone (no open update stream) this long is stopped."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ConfigError(f.name, value, "a number > 0")

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


_CAPPED = {"depth": "max_depth", "width": "max_width", "steps": "max_steps", "batch_size": "max_batch_size"}


def check_config(values: Mapping[str, Any], limits: Limits) -> RunConfig:
    """Validate ``values`` exactly as ``vanishing run`` does, then against ``limits``.

    Raises:
        ConfigError: naming the field, the value and what is allowed (the page shows it by the control).
    """
    if not isinstance(values, Mapping):
        raise ConfigError("config", values, "an object of run settings (key: value)")
    config = RunConfig.make(values)
    for field, limit_name in _CAPPED.items():
        limit = getattr(limits, limit_name)
        if getattr(config, field) > limit:
            raise ConfigError(field, getattr(config, field),
                              f"an integer >= 1 and <= {limit} (this playground's limit, "
                              f"--{limit_name.replace('_', '-')})")
    name = config.dataset.split(":", 1)[0]
    if name not in PLAYGROUND_DATASETS:
        raise ConfigError("dataset", config.dataset, "one of: " + ", ".join(PLAYGROUND_DATASETS))
    return config
