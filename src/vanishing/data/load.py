"""Data set registry and :func:`load_dataset`, the one entry point.

A data set is chosen with the shared spec grammar, ``"name"`` or ``"name:key=value,..."``.
Each loader is a function ``fn(seed, **params) -> Arrays``; its signature declares the
parameters (annotation = type, default = default, no default = required) and
:func:`dataset` attaches the allowed ranges, so a spec is checked in full before any
data is touched (:func:`check_dataset_spec`).
"""

from __future__ import annotations

import inspect
import numbers
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, NamedTuple

from ..errors import ConfigError
from ..registry import Registry
from ..spec import SEEDS, Range, Spec, format_spec, parse_spec
from .dataset import Arrays, Dataset

__all__ = ["DATASETS", "DatasetLoader", "Range", "dataset", "load_dataset", "check_dataset_spec"]


_KIND = {int: "an integer", float: "a number", bool: "true or false", str: "a string", Path: "a path"}


@dataclass(frozen=True)
class DatasetLoader:
    """A registered data set: ``fn(seed, **params) -> Arrays`` plus the ranges of its parameters."""

    name: str
    fn: Callable[..., Arrays]
    ranges: Mapping[str, Range] = field(default_factory=dict)

    @property
    def params(self) -> dict[str, Any]:
        """Parameter name → default (``inspect.Parameter.empty`` when required), in signature order."""
        sig = inspect.signature(self.fn)
        return {n: p.default for n, p in sig.parameters.items() if n != "seed"}

    @property
    def summary(self) -> str:
        return (inspect.getdoc(self.fn) or "").split("\n")[0]

    def types(self) -> dict[str, type]:
        hints = typing.get_type_hints(self.fn)
        out = {}
        for name in self.params:
            hint = hints[name]
            args = [a for a in typing.get_args(hint) if a is not type(None)]
            out[name] = args[0] if args else hint  # ``int | None`` → int
        return out


DATASETS: Registry[DatasetLoader] = Registry("dataset")


def dataset(name: str, registry: Registry[DatasetLoader] | None = None,
            **ranges: Range) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a loader function under ``name`` (in :data:`DATASETS` unless ``registry`` is given,
    e.g. the sequence tasks'); keyword arguments give parameter ranges."""

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        loader = DatasetLoader(name, fn, ranges)
        assert set(ranges) <= set(loader.params), f"ranges for unknown parameters of {name}"
        (DATASETS if registry is None else registry).add(name, loader)
        return fn

    return deco


class _Resolved(NamedTuple):
    loader: DatasetLoader
    params: dict[str, Any]
    canonical: str


def _coerce(field: str, value: Any, kind: type, raw: str, rng: Range | None) -> Any:
    allowed = _KIND[kind] + (f" {rng.describe()}" if rng else "")
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind is float:
        # a 400-digit integer is refused by its range, not by an OverflowError from float()
        ok = (isinstance(value, (int, float)) and not isinstance(value, bool)
              and -1e308 < value < 1e308)
        value = float(value) if ok else value
    elif kind is Path:
        value, ok = Path(raw).expanduser().absolute(), True
    else:
        value, ok = raw, True
    if not ok or (rng is not None and not rng.contains(value)):
        raise ConfigError(field, value, allowed)
    return value


def _resolve(spec: str, field: str, registry: Registry[DatasetLoader] | None = None) -> _Resolved:
    parsed = parse_spec(spec, field)
    raw = parse_spec(spec, field, typed=False).params  # a path wants the text as written ("007", not 7)
    loader = (DATASETS if registry is None else registry).get(parsed.name, field)
    defaults, types = loader.params, loader.types()
    for key in parsed.params:
        if key not in defaults:
            raise ConfigError(f"{field} {loader.name} parameter", key,
                              f"parameters allowed: {', '.join(defaults) or 'none'}")
    params: dict[str, Any] = {}
    canonical: dict[str, Any] = {}
    for key, default in defaults.items():
        if key not in parsed.params:
            if default is inspect.Parameter.empty:
                raise ConfigError(field, spec, f"the parameter {key!r} is required, e.g. "
                                  f"{loader.name}:{key}=...")
            continue
        value = _coerce(f"{field} {loader.name} {key}", parsed.params[key], types[key],
                        raw[key], loader.ranges.get(key))
        params[key] = value
        if value != default:
            canonical[key] = str(value).lower() if isinstance(value, bool) else value
    return _Resolved(loader, params, format_spec(Spec(loader.name, canonical)))


def check_dataset_spec(spec: str, field: str = "dataset") -> str:
    """Validate a data set spec without loading anything; return its canonical form.

    The canonical form lists only the parameters that differ from their defaults, in the
    loader's order, with paths made absolute.

    >>> check_dataset_spec("spirals:noise=0.3,n=1000")
    'spirals:noise=0.3'
    """
    return _resolve(spec, field).canonical


def load_dataset(spec: str = "digits", seed: int = 0, field: str = "dataset") -> Dataset:
    """Load (or generate) a data set from its spec; never touches the network.

    ``seed`` draws the sample of the synthetic sets (spirals, circles, teacher); digits,
    mnist1d and idx are the same for every seed.

    >>> ds = load_dataset("spirals:classes=3", seed=1)
    >>> ds.in_features, ds.out_features, ds.task
    (2, 3, 'classification')

    Raises:
        ConfigError: unknown name or parameter, or a bad parameter value.
        DataError: the data could not be read (idx files missing or malformed).
    """
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool) or not SEEDS.contains(seed):
        raise ConfigError("seed", seed, f"an integer {SEEDS.describe()}")
    seed = int(seed)
    resolved = _resolve(spec, field)
    arrays = resolved.loader.fn(seed, **resolved.params)
    return Dataset.from_arrays(resolved.loader.name, resolved.canonical, arrays)
