"""Validated run configuration.

Validation happens once, at the boundary: every bad value raises a
:class:`~vanishing.errors.ConfigError` naming the field, the value and what is allowed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator, model_validator

from .activations import get_activation
from ._io import read_text_bounded
from .errors import ConfigError
from .inits import CRITICAL, get_init
from .nets.mlp import NORMS
from .resources import MAX_DEPTH
from .spec import SEEDS, Spec, format_spec, parse_spec

__all__ = ["RunConfig", "OPTIMIZERS", "MODELS", "RECURRENT_MODELS", "RNN_ACTIVATIONS", "MLP_FIELDS",
           "RECURRENT_FIELDS", "MAX_CONFIG_BYTES", "load_config_file", "resolve_init"]

OPTIMIZERS = ("sgd", "momentum", "adam")
RECURRENT_MODELS = ("rnn", "irnn", "lstm", "gru")
MODELS = ("mlp", *RECURRENT_MODELS)
RNN_ACTIVATIONS = ("tanh", "relu")
MLP_FIELDS = ("depth", "width", "activation", "init", "bias_init", "norm", "residual", "dataset")
"""Settings of the MLP only: a recurrent config keeps them at their defaults."""
RECURRENT_FIELDS = ("task", "hidden", "rnn_layers", "rnn_activation", "recurrent_init", "input_init",
                    "forget_bias", "chrono")
"""Settings of the recurrent models only: an MLP config keeps them at their defaults, and leaves them out of
its dict (so MLP configs, their hashes and their commands read as they did before recurrent models)."""


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
    # recurrent nets (vanishing.nets.rnn), trained on a sequence task (vanishing.data.sequence)
    model: str = "mlp"
    task: str | None = None
    hidden: int = 64
    rnn_layers: int = 1
    rnn_activation: str | None = None
    recurrent_init: str | None = None
    input_init: str | None = None
    forget_bias: float = 1.0
    chrono: bool = False
    clip: float | None = None

    @field_validator("hidden", "rnn_layers")
    @classmethod
    def _positive(cls, v: int) -> int:
        if v < 1:
            raise ValueError("an integer >= 1")
        return v

    @field_validator("model")
    @classmethod
    def _model(cls, v: str) -> str:
        if v not in MODELS:
            raise ValueError("one of: " + ", ".join(MODELS))
        return v

    @field_validator("task")
    @classmethod
    def _task(cls, v: str | None) -> str | None:
        if v is None:
            return v
        from .data.sequence import check_task_spec

        check_task_spec(v)  # kept as written: the canonical form drops defaults (n=...)
        return v

    @field_validator("rnn_activation")
    @classmethod
    def _rnn_activation(cls, v: str | None) -> str | None:
        if v is not None and v not in RNN_ACTIVATIONS:
            raise ValueError("one of: " + ", ".join(RNN_ACTIVATIONS))
        return v

    @field_validator("recurrent_init", "input_init")
    @classmethod
    def _rnn_init(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is not None:
            from .nets.rnn import check_rnn_init

            check_rnn_init(v, info.field_name)
        return v

    @field_validator("forget_bias")
    @classmethod
    def _forget_bias(cls, v: float) -> float:
        if not -100 <= v <= 100:
            raise ValueError("a finite number >= -100 and <= 100")
        return v

    @field_validator("clip")
    @classmethod
    def _clip(cls, v: float | None) -> float | None:
        if v is not None and not (0 < v < float("inf")):
            raise ValueError("a finite number > 0 (the largest gradient norm kept), or none")
        return v

    @model_validator(mode="after")
    def _model_fields(self) -> "RunConfig":
        defaults = {k: RunConfig.model_fields[k].default for k in MLP_FIELDS + RECURRENT_FIELDS}
        if self.model == "mlp":
            for k in RECURRENT_FIELDS:
                if getattr(self, k) != defaults[k]:
                    raise ConfigError(k, getattr(self, k), "only with a recurrent model (--model "
                                      + "|".join(RECURRENT_MODELS) + ")")
            return self
        for k in MLP_FIELDS:
            if getattr(self, k) != defaults[k]:
                raise ConfigError(k, getattr(self, k), f"only with --model mlp (model {self.model} is "
                                  "set by hidden, rnn_layers, recurrent_init, ...)")
        if self.task is None:
            raise ConfigError("task", None, f"a sequence task for model {self.model}: adding:T=<steps>, "
                              "copy:T=<steps>, mnist1d_seq or digits_seq")
        if self.rnn_activation is not None and self.model not in ("rnn", "irnn"):
            raise ConfigError("rnn_activation", self.rnn_activation, "only with model rnn or irnn "
                              f"({self.model} has its own gates)")
        if self.chrono and self.model != "lstm":
            raise ConfigError("chrono", True, "only with model lstm (Tallec & Ollivier's init of its gates)")
        return self

    def model_dump(self, **kwargs: Any) -> dict[str, Any]:
        """The settings as a dict; an MLP's leaves out ``model``, :data:`RECURRENT_FIELDS` (all at their
        defaults) and ``clip`` when off."""
        d = super().model_dump(**kwargs)
        if self.model == "mlp":
            for k in RECURRENT_FIELDS + ("model",):
                d.pop(k, None)
            if self.clip is None:
                d.pop("clip", None)
        return d

    @property
    def recurrent(self) -> bool:
        return self.model != "mlp"

    @field_validator("depth", "width", "batch_size", "steps", "record_every")
    @classmethod
    def _at_least_one(cls, v: int) -> int:
        if v < 1:
            raise ValueError("an integer >= 1")
        return v

    @field_validator("depth")
    @classmethod
    def _not_too_deep(cls, v: int) -> int:
        if v > MAX_DEPTH:  # what memory allows is checked where the data is known: resources.check_run_fits
            raise ValueError(f"an integer >= 1 and <= {MAX_DEPTH} (deeper stacks crash torch)")
        return v

    @field_validator("seed")
    @classmethod
    def _seed(cls, v: int) -> int:
        if not SEEDS.contains(v):
            raise ValueError(f"an integer {SEEDS.describe()}")
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
    def _init(cls, v: str, info: ValidationInfo) -> str:
        # kept as written ("critical:sigma_b2=0.05" stays readable in stored configs); resolving it now
        # checks that this activation has a critical point. A bad activation is reported on its own.
        if "activation" in info.data:
            resolve_init(v, info.data["activation"])
        elif parse_spec(v, "init").name != CRITICAL:
            get_init(v, "init")
        return v

    @field_validator("bias_init")
    @classmethod
    def _bias_init(cls, v: str) -> str:
        get_init(v, "bias_init")  # validating draws nothing (see get_init)
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

    def network_init(self) -> str:
        """The weight init spec to build this config's network with (``critical`` resolved)."""
        return resolve_init(self.init, self.activation)

    def replace(self, **changes: Any) -> "RunConfig":
        """A copy with some fields changed (validated)."""
        return RunConfig.make(self.model_dump(), **changes)

    def flags(self) -> str:
        """The ``vanishing run`` flags that reproduce this config."""
        parts = []
        for key, value in self.model_dump().items():
            if value is None or (self.recurrent and key in MLP_FIELDS):  # None: the default; MLP_FIELDS unused
                continue
            flag = "--" + key.replace("_", "-")
            if isinstance(value, bool):
                parts.append(flag if value else f"--no-{key.replace('_', '-')}")
            else:
                text = str(value)
                parts.append(f"{flag} {text!r}" if (":" in text or " " in text) else f"{flag} {text}")
        return " ".join(parts)


def resolve_init(init: str, activation: str) -> str:
    """A weight init spec the networks can draw: ``critical[:sigma_b2=v]`` becomes
    ``variance_scaling:scale=<σ_w²>,mode=fan_in,distribution=normal``, i.e. :math:`\\mathcal N(0, \\sigma_w^2/n_{in})`
    with :math:`\\sigma_w^2` = :func:`~vanishing.theory.critical_sigma_w2` of ``activation`` (Poole et al.
    2016; Schoenholz et al. 2017); every other spec is validated and returned as it is.

    Use the bias variance for the biases too (``bias_init="normal:std=<sqrt(sigma_b2)>"``).

    >>> resolve_init("critical", "relu")
    'variance_scaling:scale=2.0,mode=fan_in,distribution=normal'
    """
    if parse_spec(init, "init").name != CRITICAL:
        get_init(init, "init")
        return init
    from .theory.scales import sigma_w2_of_init  # only critical needs the theory (and scipy) loaded

    # critical's σ_w² does not depend on the fans
    sigma_w2 = sigma_w2_of_init(init, 1, activation=get_activation(activation).spec)
    return format_spec(Spec("variance_scaling", {"scale": sigma_w2, "mode": "fan_in", "distribution": "normal"}))


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


MAX_CONFIG_BYTES = 1 << 20
"""The largest YAML file read as a config or sweep spec (1 MiB: a config is a few hundred bytes)."""


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file (keys = run flag names with underscores).

    Raises:
        ConfigError: (field ``config``, the path) unreadable, larger than :data:`MAX_CONFIG_BYTES`,
            not UTF-8, not YAML (nested too deeply included), or not a mapping.
    """
    text = read_text_bounded(path, MAX_CONFIG_BYTES, "config", "YAML file")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        where = f" at line {line + 1}" if line is not None else ""
        raise ConfigError("config", str(path), f"valid YAML (parse error{where})") from None
    except RecursionError:  # PyYAML parses nested collections recursively
        raise ConfigError("config", str(path), "valid YAML (parse error: nested too deeply)") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("config", str(path), "a YAML mapping of run settings (key: value)")
    return {str(k).replace("-", "_"): v for k, v in data.items()}
