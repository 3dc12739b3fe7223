"""Validated run configuration.

Validation happens once, at the boundary: every bad value raises a
:class:`~vanishing.errors.ConfigError` naming the field, the value and what is allowed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator

from .errors import ConfigError
from .activations import get_activation
from .nets.inits import get_init
from .nets.mlp import NORMS

__all__ = ["RunConfig", "OPTIMIZERS", "load_config_file"]

OPTIMIZERS = ("sgd", "momentum", "adam")


class RunConfig(BaseModel):
    """Every setting of one experiment; the same config and seed give the same numbers on CPU.

    Keys are the ``vanishing run`` flag names with underscores.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_assignment=True)

    depth: int = 10
    width: int = 64
    activation: str = "sigmoid"
    init: str = "xavier_normal"
    bias_init: str = "zeros"
    norm: str = "none"
    residual: bool = False
    dataset: str = "digits"
    optimizer: str = "sgd"
    lr: float = 0.1
    batch_size: int = 64
    steps: int = 500
    seed: int = 0
    record_every: int = 10
    device: str = "auto"

    @field_validator("depth", "width", "batch_size", "steps", "record_every")
    @classmethod
    def _at_least_one(cls, v: int) -> int:
        if v < 1:
            raise ValueError("an integer >= 1")
        return v

    @field_validator("lr")
    @classmethod
    def _positive_lr(cls, v: float) -> float:
        if not v > 0 or v != v or v == float("inf"):
            raise ValueError("a finite number > 0")
        return v

    @field_validator("activation")
    @classmethod
    def _activation(cls, v: str) -> str:
        return get_activation(v).spec

    @field_validator("init")
    @classmethod
    def _init(cls, v: str) -> str:
        get_init(v, field="init", check_on="meta")  # validating draws nothing (see get_init)
        return v

    @field_validator("bias_init")
    @classmethod
    def _bias_init(cls, v: str) -> str:
        get_init(v, field="bias_init", check_on="meta")
        return v

    @field_validator("dataset")
    @classmethod
    def _dataset(cls, v: str) -> str:
        from .data import check_dataset_spec

        return check_dataset_spec(v)

    @field_validator("norm", "optimizer")
    @classmethod
    def _choice(cls, v: str, info: ValidationInfo) -> str:
        allowed = {"norm": NORMS, "optimizer": OPTIMIZERS}[info.field_name]
        if v not in allowed:
            raise ValueError("one of: " + ", ".join(allowed))
        return v

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        import torch

        if v == "auto":
            return v
        try:
            torch.device(v)
        except (RuntimeError, ValueError):
            raise ValueError("auto, cpu, cuda or cuda:N") from None
        return v

    @classmethod
    def make(cls, values: Mapping[str, Any] | None = None, **overrides: Any) -> "RunConfig":
        """Build and validate, turning pydantic's errors into one-line :class:`ConfigError`."""
        data = {**(values or {}), **{k: v for k, v in overrides.items() if v is not None}}
        unknown = sorted(set(data) - set(cls.model_fields))
        if unknown:
            raise ConfigError("config key", unknown[0], list(cls.model_fields))
        try:
            return cls(**data)
        except ConfigError:
            raise
        except ValidationError as exc:
            raise _as_config_error(exc) from None

    def replace(self, **changes: Any) -> "RunConfig":
        """A copy with some fields changed (validated)."""
        return RunConfig.make(self.model_dump(), **changes)

    def flags(self) -> str:
        """The ``vanishing run`` flags that reproduce this config."""
        parts = []
        for key, value in self.model_dump().items():
            flag = "--" + key.replace("_", "-")
            if isinstance(value, bool):
                parts.append(flag if value else f"--no-{key.replace('_', '-')}")
            else:
                text = str(value)
                parts.append(f"{flag} {text!r}" if (":" in text or " " in text) else f"{flag} {text}")
        return " ".join(parts)


def _as_config_error(exc: ValidationError) -> ConfigError:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err.get("loc", ())) or "config"
    ctx_error = (err.get("ctx") or {}).get("error")
    if isinstance(ctx_error, ConfigError):
        return ctx_error
    msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    if err.get("type") in ("int_parsing", "int_type", "int_from_float"):
        msg = "an integer"
    elif err.get("type") in ("float_parsing", "float_type"):
        msg = "a number"
    elif err.get("type") in ("bool_parsing", "bool_type"):
        msg = "true or false"
    elif err.get("type") in ("string_type",):
        msg = "a string"
    return ConfigError(field, err.get("input"), msg)


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file (keys = run flag names with underscores)."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ConfigError("config", str(path), f"a readable YAML file ({exc.strerror or exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        where = f" at line {line + 1}" if line is not None else ""
        raise ConfigError("config", str(path), f"valid YAML (parse error{where})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("config", str(path), "a YAML mapping of run settings (key: value)")
    return {str(k).replace("-", "_"): v for k, v in data.items()}
